"""Audit reports as pages and PDFs (provenance.reports builds them; these views only check access and render).

- `GET /api/v1/jobs/<id>/audit-report`: the per-output report, HTML; `?format=pdf` prints it. The owning
  organization's members, operator auditors and staff; anyone else gets 404, so a job's existence is not
  revealed.
- `GET /api/v1/models/<id>/audit-report`: the per-model report (HTML or PDF), for members of any organization,
  like the model registry.
- `GET /api/v1/compliance/dashboard`: the compliance dashboard, HTML, for staff and operator compliance auditors.

`?format=pdf` is DRF's format override, so each view declares an HTML and a PDF renderer; errors are always the
API's JSON error envelope, whatever was asked for.
"""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import permissions, renderers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from clearcue.exceptions import DomainError
from clearcue.permissions import CatalogAccess
from clearcue.tenancy import principal_for, scope_queryset
from generation.models import GenerationModel, Job
from provenance import reports

FORMAT = OpenApiParameter("format", str, enum=["html", "pdf"], description="html (default) or pdf")


class PDFRenderer(renderers.BaseRenderer):
    """Passes PDF bytes through."""

    media_type = "application/pdf"
    format = "pdf"
    charset = None
    render_style = "binary"

    def render(self, data: Any, accepted_media_type: str | None = None,
               renderer_context: dict[str, Any] | None = None) -> Any:
        return data


class ReportView(APIView):
    """A report page: HTML by default, PDF with `?format=pdf` (or `Accept: application/pdf`)."""

    permission_classes = [permissions.IsAuthenticated]
    renderer_classes = [renderers.StaticHTMLRenderer, PDFRenderer]
    template = ""
    pdf = True

    def report(self, request: Request, context: dict[str, Any], filename: str) -> Response:
        """The rendered report in the negotiated format."""
        html = reports.render_html(self.template, context)
        if self.pdf and request.accepted_renderer.format == "pdf":
            response = Response(reports.render_pdf(html, base_url=request.build_absolute_uri("/")))
            response["Content-Disposition"] = f'inline; filename="{filename}.pdf"'
            return response
        return Response(html)

    def handle_exception(self, exc: Exception) -> Response:
        # Errors keep the API's JSON envelope, not an HTML page or PDF bytes.
        self.request.accepted_renderer = renderers.JSONRenderer()
        self.request.accepted_media_type = "application/json"
        return super().handle_exception(exc)


class JobAuditReportView(ReportView):
    """The audit report of one job's sealed output."""

    template = "provenance/audit_output.html"

    @extend_schema(parameters=[FORMAT], responses={
        (200, "text/html"): OpenApiResponse(OpenApiTypes.STR, description="the report"),
        (200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY, description="the report as PDF"),
        404: OpenApiResponse(description="no such job, or not visible to the caller")})
    def get(self, request: Request, pk: int) -> Response:
        """The job's audit report (job, gate decisions, license chain, attribution, rights, credentials, proofs)."""
        job = get_object_or_404(scope_queryset(Job.objects.all(), principal_for(request)), pk=pk)
        return self.report(request, reports.output_report(job), f"clearcue-audit-job-{job.pk}")


class ModelAuditReportView(ReportView):
    """The audit report of one model: its training manifest, licenses, opt-outs honoured, training graph."""

    permission_classes = [permissions.IsAuthenticated, CatalogAccess]
    template = "provenance/audit_model.html"

    @extend_schema(parameters=[FORMAT], responses={
        (200, "text/html"): OpenApiResponse(OpenApiTypes.STR, description="the report"),
        (200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY, description="the report as PDF")})
    def get(self, request: Request, pk: int) -> Response:
        """The model's audit report."""
        model = get_object_or_404(GenerationModel, pk=pk)
        return self.report(request, reports.model_report(model), f"clearcue-audit-model-{model.pk}")


class ComplianceDashboardView(ReportView):
    """Recent jobs, denials by reason code, recent impact reports and ledger health."""

    renderer_classes = [renderers.StaticHTMLRenderer]
    template = "provenance/dashboard.html"
    pdf = False

    @extend_schema(responses={(200, "text/html"): OpenApiResponse(OpenApiTypes.STR, description="the dashboard")})
    def get(self, request: Request) -> Response:
        """The dashboard (staff and operator compliance auditors only)."""
        if not principal_for(request).reads_all_tenants:
            raise DomainError("permission_denied", "The compliance dashboard is for platform staff and operator "
                              "compliance auditors.", status=403)
        return self.report(request, reports.dashboard(), "clearcue-compliance-dashboard")
