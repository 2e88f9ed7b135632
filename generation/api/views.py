"""Model registry API: registered models, their training manifests, membership proofs, training summaries.

Read-only for every member of any organization (clients choose models; auditors check them); models are
registered by `manage.py train_model` / `register_model`, which call the actions.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.shortcuts import render
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import permissions, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from clearcue.exceptions import DomainError
from clearcue.permissions import CatalogAccess
from generation import summary
from generation.api import serializers as s
from generation.manifest import ManifestRecord, prove_membership
from generation.models import GenerationModel, ManifestEntry, TrainingManifest


class GenerationModelViewSet(viewsets.ReadOnlyModelViewSet[GenerationModel]):
    """Registered generation models."""

    permission_classes = [permissions.IsAuthenticated, CatalogAccess]
    serializer_class = s.GenerationModelSerializer
    queryset = GenerationModel.objects.select_related("manifest").order_by("name", "version")

    @extend_schema(parameters=[OpenApiParameter("view", str, enum=["json", "html"])],
                   responses={200: OpenApiResponse(description="EU AI Act training-content summary")})
    @action(detail=True, methods=["get"], url_path="training-summary")
    def training_summary(self, request: Request, pk: str | None = None) -> Any:
        """The public summary of training content (EU AI Act template) as JSON, or `?view=html` as a page."""
        model = self.get_object()
        data = summary.training_content_summary(model)
        if request.query_params.get("view") == "html":
            return render(request._request, "generation/training_summary.html", {"model": model, "s": data})
        return Response(data)


class TrainingManifestViewSet(viewsets.ReadOnlyModelViewSet[TrainingManifest]):
    """Training manifests: header, records (paginated, in leaf order) and membership proofs."""

    permission_classes = [permissions.IsAuthenticated, CatalogAccess]
    serializer_class = s.TrainingManifestSerializer
    queryset = TrainingManifest.objects.order_by("id")

    @extend_schema(responses=s.ManifestEntrySerializer(many=True))
    @action(detail=True, methods=["get"])
    def records(self, request: Request, pk: str | None = None) -> Response:
        """The manifest's records in leaf order (recompute the root from all pages to check it)."""
        manifest = self.get_object()
        entries: QuerySet[ManifestEntry] = manifest.entries.order_by("position")
        page = self.paginate_queryset(entries)
        serializer = s.ManifestEntrySerializer(page if page is not None else entries, many=True)
        return self.get_paginated_response(serializer.data) if page is not None else Response(serializer.data)

    @extend_schema(parameters=[OpenApiParameter("work", str, required=True,
                                                description="work key: <collection slug>/<source key>")],
                   responses=s.MembershipProofSerializer)
    @action(detail=True, methods=["get"])
    def proof(self, request: Request, pk: str | None = None) -> Response:
        """Proof that a work is, or is not, in the manifest, checkable against its Merkle root."""
        manifest = self.get_object()
        work = request.query_params.get("work", "")
        if not work:
            raise DomainError("missing_work", "Pass ?work=<collection slug>/<source key>.")
        records = [ManifestRecord(*row) for row in manifest.entries.order_by("position")
                   .values_list("work_key", "asset_sha256", "license_key", "basis")]
        proof = prove_membership(work, records)
        return Response({**proof.to_json(), "merkle_root": manifest.merkle_root})
