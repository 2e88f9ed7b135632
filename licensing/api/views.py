"""Ledger API for auditors: checkpoints, proofs and entries. Proofs and checkpoints are public (hashes only)."""

from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import permissions, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from clearcue.exceptions import DomainError
from clearcue.models import Role
from clearcue.permissions import HasRole
from clearcue.tenancy import principal_for
from licensing import ledger, merkle
from licensing.actions import do_publish_checkpoint
from licensing.api import serializers as s
from licensing.models import Checkpoint, LedgerEntry


def _latest_checkpoint() -> Checkpoint:
    checkpoint = Checkpoint.objects.order_by("-tree_size").first()
    if checkpoint is None:
        raise DomainError("no_checkpoint", "No checkpoint has been published yet.", status=404)
    return checkpoint


class CheckpointNoteView(APIView):
    """The latest checkpoint as a C2SP signed note (text/plain), as transparency-log clients fetch it."""

    permission_classes = [permissions.AllowAny]

    @extend_schema(responses={(200, "text/plain"): OpenApiResponse(description="signed note")})
    def get(self, request: Request) -> HttpResponse:
        return HttpResponse(_latest_checkpoint().note, content_type="text/plain; charset=utf-8")


class CheckpointListView(APIView):
    """Published checkpoints (GET, public) and publishing one now (POST, staff and auditors)."""

    required_roles = (Role.COMPLIANCE_AUDITOR,)

    def get_permissions(self) -> list[permissions.BasePermission]:
        if self.request.method == "GET":
            return [permissions.AllowAny()]
        return [permissions.IsAuthenticated(), HasRole()]

    @extend_schema(responses=s.CheckpointSerializer(many=True))
    def get(self, request: Request) -> Response:
        rows = Checkpoint.objects.order_by("-tree_size")[:100]
        return Response(s.CheckpointSerializer(rows, many=True).data)

    @extend_schema(request=None, responses={201: s.CheckpointSerializer})
    def post(self, request: Request) -> Response:
        principal = principal_for(request)
        org = next((m.organization for m in principal.memberships), None)
        checkpoint = do_publish_checkpoint(actor=ledger.Actor.of(request.user, org))
        return Response(s.CheckpointSerializer(checkpoint).data, status=status.HTTP_201_CREATED)


class LatestCheckpointView(APIView):
    """The latest checkpoint as JSON."""

    permission_classes = [permissions.AllowAny]

    @extend_schema(responses=s.CheckpointSerializer)
    def get(self, request: Request) -> Response:
        return Response(s.CheckpointSerializer(_latest_checkpoint()).data)


class InclusionProofView(APIView):
    """RFC 9162 inclusion proof for an entry, by leaf_index or leaf_hash."""

    permission_classes = [permissions.AllowAny]

    @extend_schema(parameters=[s.InclusionQuerySerializer], responses=s.InclusionProofSerializer)
    def get(self, request: Request) -> Response:
        query = s.InclusionQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        if "leaf_hash" in params:
            found = LedgerEntry.objects.filter(leaf_hash=params["leaf_hash"]).values_list("leaf_index", flat=True)
            index = found.first()
            if index is None:
                raise DomainError("leaf_not_found", "No entry has this leaf hash.", status=404)
        else:
            index = params["leaf_index"]
        proof = ledger.prove_inclusion(index, params.get("tree_size"))
        # Never serve a proof we cannot verify ourselves.
        merkle.verify_inclusion(proof.leaf_hash, index, proof.tree_size, proof.inclusion_path, proof.root_hash)
        return Response({
            "leaf_index": index, "tree_size": proof.tree_size, "leaf_hash": ledger.b64(proof.leaf_hash),
            "root_hash": ledger.b64(proof.root_hash), "inclusion_path": [ledger.b64(h) for h in proof.inclusion_path],
        })


class ConsistencyProofView(APIView):
    """RFC 9162 consistency proof between two tree sizes."""

    permission_classes = [permissions.AllowAny]

    @extend_schema(parameters=[s.ConsistencyQuerySerializer], responses=s.ConsistencyProofSerializer)
    def get(self, request: Request) -> Response:
        query = s.ConsistencyQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        proof = ledger.prove_consistency(query.validated_data["first"], query.validated_data.get("second"))
        return Response({
            "first": proof.first, "second": proof.second,
            "first_root_hash": ledger.b64(proof.first_root_hash),
            "second_root_hash": ledger.b64(proof.second_root_hash),
            "consistency_path": [ledger.b64(h) for h in proof.consistency_path],
        })


class EntryRangeView(APIView):
    """Entries [start, end): their payloads name tenants, so staff and compliance auditors only.

    Auditors of a client organization see only entries their organization's members wrote.
    """

    permission_classes = [permissions.IsAuthenticated, HasRole]
    required_roles = (Role.COMPLIANCE_AUDITOR,)

    @extend_schema(parameters=[s.EntryRangeQuerySerializer], responses=s.LedgerEntrySerializer(many=True))
    def get(self, request: Request) -> Response:
        query = s.EntryRangeQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        rows = LedgerEntry.objects.filter(leaf_index__gte=query.validated_data["start"],
                                          leaf_index__lt=query.validated_data["end"])
        principal = principal_for(request)
        if not principal.reads_all_tenants:
            rows = rows.filter(actor_organization_id__in=principal.org_ids([Role.COMPLIANCE_AUDITOR]))
        return Response(s.LedgerEntrySerializer(rows.order_by("leaf_index"), many=True).data)
