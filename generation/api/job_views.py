"""Jobs API (clients submit, list, read, cancel, download sealed outputs), entitlements and gate policies.

Jobs are scoped to the caller's organizations (operator auditors and staff read all). Writes go through
generation.actions; the pipeline runs in Celery tasks queued on commit.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import FileResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from clearcue.exceptions import DomainError
from clearcue.models import Organization, Role
from clearcue.tenancy import principal_for, scope_queryset
from generation import actions
from generation.api import job_serializers as s
from generation.facts import current_policy
from generation.models import Entitlement, GatePolicy, Job, JobState
from licensing.ledger import Actor


def _client_org(request: Request, slug: str) -> Organization:
    """The organization a client submits for: its one client membership, or the one named."""
    principal = principal_for(request)
    orgs = [m.organization for m in principal.memberships if m.role == Role.CLIENT]
    if slug:
        orgs = [o for o in orgs if o.slug == slug]
    if not orgs:
        raise DomainError("not_a_client", "Only clients of an organization may submit jobs"
                          + (f" for {slug!r}." if slug else "."), status=403)
    if len(orgs) > 1:
        raise DomainError("organization_required", "You are a client of several organizations; name one.",
                          details={"organizations": sorted(o.slug for o in orgs)})
    return orgs[0]


def _is_compliance(request: Request) -> bool:
    principal = principal_for(request)
    return principal.is_staff or any(m.role == Role.COMPLIANCE_AUDITOR and m.organization.is_operator
                                     for m in principal.memberships)


class JobViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet[Job]):
    """Generation jobs of the caller's organizations."""

    permission_classes = [permissions.IsAuthenticated]
    serializer_class = s.JobSerializer
    filterset_fields = ["state", "use", "territory"]

    def get_queryset(self) -> QuerySet[Job]:
        queryset = Job.objects.select_related("model", "organization").prefetch_related(
            "decisions__model", "outputs__credential").order_by("-id")
        return scope_queryset(queryset, principal_for(self.request))

    @extend_schema(request=s.JobCreateSerializer, responses={201: s.JobSerializer, 200: s.JobSerializer},
                   parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER, required=True)])
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Submit a job; 201 when created, 200 when this Idempotency-Key already made it, 409 on a different body."""
        body = s.JobCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        org = _client_org(request, data["organization"])
        job_request = actions.JobRequest(
            description=data["description"], model=data["model"], territory=data["territory"], use=data["use"],
            style_tags=tuple(data["style_tags"]), params=dict(data["params"]), formats=tuple(data["formats"]),
            seed=data["seed"], training_mining=dict(data["training_mining"]))
        job, created = actions.do_submit_job(job_request, organization=org, user=request.user,
                                             idempotency_key=request.headers.get("Idempotency-Key", ""),
                                             actor=Actor.of(request.user, org))
        job = self.get_queryset().get(pk=job.pk)
        return Response(s.JobSerializer(job, context={"request": request}).data,
                        status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    @extend_schema(request=None, responses={200: s.JobSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        """Cancel a job that has not ended (clients of its organization)."""
        job = self.get_object()
        if not principal_for(request).has_role(Role.CLIENT, job.organization_id):
            raise DomainError("permission_denied", "Only clients of the job's organization may cancel it.",
                              status=403)
        actions.do_cancel_job(job, actor=Actor.of(request.user, job.organization))
        return Response(s.JobSerializer(self.get_queryset().get(pk=job.pk), context={"request": request}).data)

    @extend_schema(responses={(200, "application/octet-stream"): OpenApiResponse(description="the sealed file")})
    @action(detail=True, methods=["get"], url_path=r"outputs/(?P<kind>[a-z]+)")
    def output(self, request: Request, pk: str | None = None, kind: str = "") -> FileResponse:
        """Download a sealed output (wav, midi, musicxml); nothing is downloadable before the job completes."""
        job = self.get_object()
        if job.state != JobState.COMPLETED:
            raise DomainError("not_sealed", f"The job is {job.state}; outputs are downloadable once sealed.",
                              details={"state": job.state}, status=409)
        output = get_object_or_404(job.outputs, kind=kind)
        ext = output.file.name.rsplit(".", 1)[-1]
        response = FileResponse(output.file.open("rb"), content_type=output.media_type, as_attachment=True,
                                filename=f"clearcue-job-{job.pk}.{ext}")
        response["Digest"] = f"sha-256={output.sha256}"
        return response


class EntitlementViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet[Entitlement]):
    """Client contracts. Clients read their own; operator compliance auditors and staff grant them."""

    permission_classes = [permissions.IsAuthenticated]
    serializer_class = s.EntitlementSerializer

    def get_queryset(self) -> QuerySet[Entitlement]:
        queryset = Entitlement.objects.select_related("organization").order_by("-id")
        return scope_queryset(queryset, principal_for(self.request))

    @extend_schema(request=s.EntitlementCreateSerializer, responses={201: s.EntitlementSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        if not _is_compliance(request):
            raise DomainError("permission_denied", "Only operator compliance auditors or staff grant entitlements.",
                              status=403)
        body = s.EntitlementCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        org = get_object_or_404(Organization, slug=data["organization"])
        ent = actions.do_grant_entitlement(
            organization=org, reference=data["reference"], territories=data["territories"],
            commercial_use=data["commercial_use"], indemnification_tier=data["indemnification_tier"],
            monthly_quota=data["monthly_quota"], model_slugs=data["model_slugs"], valid_from=data["valid_from"],
            valid_until=data["valid_until"], actor=Actor.of(request.user, org))
        return Response(s.EntitlementSerializer(ent).data, status=status.HTTP_201_CREATED)


class GatePolicyViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet[GatePolicy]):
    """Gate policy versions (the highest is in force; version 0 is the built-in default)."""

    permission_classes = [permissions.IsAuthenticated]
    serializer_class = s.GatePolicySerializer
    queryset = GatePolicy.objects.order_by("-version")
    lookup_field = "version"

    @extend_schema(responses={200: OpenApiResponse(description="the policy in force")})
    @action(detail=False, methods=["get"])
    def current(self, request: Request) -> Response:
        """The policy in force, as recorded with decisions."""
        return Response(current_policy().as_json())

    @extend_schema(request=s.GatePolicyCreateSerializer, responses={201: s.GatePolicySerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        if not _is_compliance(request):
            raise DomainError("permission_denied", "Only operator compliance auditors or staff set the gate policy.",
                              status=403)
        body = s.GatePolicyCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        principal = principal_for(request)
        org = principal.memberships[0].organization if principal.memberships else None
        policy = actions.do_set_gate_policy(**body.validated_data, actor=Actor.of(request.user, org))
        return Response(s.GatePolicySerializer(policy).data, status=status.HTTP_201_CREATED)
