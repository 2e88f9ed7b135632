"""License-chain graphs, attributions, impact analysis and royalty statements.

- `GET /api/v1/jobs/{id}/license-graph`: the output graph as sealed (canonical node-link JSON, its digest in
  `X-Content-SHA256`), for the job's organization, operator auditors and staff (others: 404);
  `?include=training` inlines the training graph too when it is small enough (`MAX_INLINE_WORKS`);
  `?view=svg` answers the same graph drawn as a picture (`image/svg+xml`, `provenance.drawing`) instead of JSON.
- `GET /api/v1/training-manifests/{id}/license-graph`: the training graph's canonical bytes, streamed; their
  SHA-256 is the digest every output graph of the manifest's models (and their C2PA manifests) carries.
- `GET /api/v1/jobs/{id}/attribution`: the influence distribution (full list, digest, per rights holder).
- `GET /api/v1/impact?license=|work=|party=`: impact analysis on demand; `GET /api/v1/impact-reports`: the
  reports written automatically for revocations and opt-outs (operator auditors and staff).
- `GET /api/v1/royalty-statements?start=&end=[&revenue_per_output=&currency=][&view=csv]`: staff and operator
  auditors see every holder; rights holders see their own parties' lines.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, time
from decimal import Decimal, InvalidOperation

import networkx as nx
from django.http import HttpResponse, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import permissions
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from clearcue.exceptions import DomainError
from clearcue.models import Role
from clearcue.tenancy import principal_for
from generation.models import Job, TrainingManifest
from licensing.models import License, Party, Work
from provenance import chain, impact, royalties
from provenance import graph as g
from provenance.models import Attribution, ImpactReport, LicenseGraph
from provenance.verify import may_see

MAX_INLINE_WORKS = 20_000


def _job(request: Request, pk: str) -> Job:
    job = Job.objects.select_related("organization", "model__manifest").filter(pk=int(pk) if pk.isdigit() else -1
                                                                                ).first()
    if job is None or not may_see(principal_for(request), job):
        raise DomainError("not_found", "No such job.", status=404)
    return job


def _require_compliance(request: Request) -> None:
    if not principal_for(request).reads_all_tenants:
        raise DomainError("permission_denied", "Only operator compliance auditors and staff may do this.", status=403)


class JobGraphView(APIView):
    """The license-chain graph of a sealed job."""

    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(parameters=[OpenApiParameter("include", str, enum=["training"]),
                               OpenApiParameter("view", str, enum=["json", "svg"],
                                                description="json (default): node-link JSON; svg: the graph drawn "
                                                "as a picture (the one the audit report embeds)")],
                   responses={(200, "application/json"): OpenApiResponse(OpenApiTypes.OBJECT,
                                                                         description="node-link JSON"),
                              (200, "image/svg+xml"): OpenApiResponse(OpenApiTypes.STR,
                                                                      description="the graph as an SVG picture")})
    def get(self, request: Request, pk: str) -> HttpResponse:
        view = request.query_params.get("view") or "json"
        if view not in ("json", "svg"):
            raise DomainError("invalid_view", "`view` is json (the default) or svg.", details={"view": view})
        job = _job(request, pk)
        record = LicenseGraph.objects.filter(job=job).select_related("training").first()
        if record is None:
            raise DomainError("graph_not_recorded", "The job has no license-chain graph (it was not sealed).",
                              status=404)
        graph = g.from_node_link(record.document)
        if request.query_params.get("include") == "training":
            if record.training.works > MAX_INLINE_WORKS:
                raise DomainError("graph_too_large", "The training graph is too large to inline; fetch it from its "
                                  "training manifest's license-graph endpoint.",
                                  details={"works": record.training.works, "limit": MAX_INLINE_WORKS})
            graph = g.combined(graph, chain.training_graph(job.model.manifest))
        if view == "svg":
            return _picture(graph, record, title=f"License chain of job {job.pk}")
        body = g.canonical(graph)
        response = HttpResponse(body, content_type="application/json")
        response["X-Content-SHA256"] = hashlib.sha256(body).hexdigest()
        response["X-Graph-Digest"] = record.digest
        response["X-Training-Graph-Digest"] = record.training.digest
        return response


def _picture(graph: nx.DiGraph, record: LicenseGraph, *, title: str) -> HttpResponse:
    """The graph drawn as a standalone SVG, with the recorded digests (the picture is derived, not sealed)."""
    from provenance import drawing
    from provenance.reports import GRAPH_COLUMN_ROWS

    body = drawing.svg(graph, max_per_column=GRAPH_COLUMN_ROWS, title=title).encode()
    response = HttpResponse(body, content_type="image/svg+xml; charset=utf-8")
    # Opened on its own, an SVG is a document of this origin: it may not run scripts or fetch anything.
    response["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    response["X-Content-SHA256"] = hashlib.sha256(body).hexdigest()
    response["X-Graph-Digest"] = record.digest
    response["X-Training-Graph-Digest"] = record.training.digest
    return response


class TrainingGraphView(APIView):
    """A training manifest's license-chain graph (streamed canonical bytes)."""

    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(responses={200: OpenApiResponse(OpenApiTypes.OBJECT, description="node-link JSON, streamed")})
    def get(self, request: Request, pk: str) -> StreamingHttpResponse:
        manifest = TrainingManifest.objects.filter(pk=int(pk) if pk.isdigit() else -1).first()
        if manifest is None:
            raise DomainError("not_found", "No such training manifest.", status=404)
        record = chain.training_graph_record(manifest)
        response = StreamingHttpResponse(chain.training_graph_chunks(manifest), content_type="application/json")
        response["X-Content-SHA256"] = record.digest  # what the streamed bytes hash to
        return response


class JobAttributionView(APIView):
    """The influence distribution of a sealed job's output."""

    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request, pk: str) -> Response:
        job = _job(request, pk)
        record = Attribution.objects.filter(job=job).first()
        if record is None:
            raise DomainError("attribution_not_recorded", "The job has no attribution (it was not sealed).",
                              status=404)
        by_key = chain.credited_by_key(record)
        holders = [{k: h[k] for k in ("party", "name", "ppm")} for h in chain.holder_shares(record)]
        return Response({
            "job_id": job.pk, "method": record.method, "params": record.params, "digest": record.digest,
            "ledger_index": record.ledger_index, "unit": "ppm",
            "contributions": [{**c, "license": by_key[c["work"]].license.key, "holder": by_key[c["work"]].holder.key}
                              for c in record.document["contributions"]],
            "holders": holders,
        })


class ImpactView(APIView):
    """Impact analysis on demand: every model, job and output depending on a license, a work or a party."""

    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(parameters=[OpenApiParameter("license", int), OpenApiParameter("work", int),
                               OpenApiParameter("party", int)], responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request) -> Response:
        _require_compliance(request)
        params = request.query_params
        given = [k for k in ("license", "work", "party") if params.get(k)]
        if len(given) != 1 or not params[given[0]].isdigit():
            raise DomainError("impact_subject_required", "Name exactly one of license, work or party (an id).")
        pk = int(params[given[0]])
        if given[0] == "license":
            lic = License.objects.filter(pk=pk).first()
            if lic is None:
                raise DomainError("not_found", "No such license.", status=404)
            result = impact.of_license(lic)
        elif given[0] == "party":
            party = Party.objects.filter(pk=pk).first()
            if party is None:
                raise DomainError("not_found", "No such party.", status=404)
            result = impact.of_party(party)
        else:
            if not Work.objects.filter(pk=pk).exists():
                raise DomainError("not_found", "No such work.", status=404)
            result = impact.of_works([pk], subject={"kind": "work", "id": pk})
        return Response({**result.summary(), "seconds": round(result.seconds, 4)})


class ImpactReportsView(APIView):
    """Impact reports written for revocations and opt-outs, newest first."""

    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request) -> Response:
        _require_compliance(request)
        reports = ImpactReport.objects.order_by("-id")[:100]
        return Response({"results": [
            {"id": r.pk, "trigger_type": r.trigger_type, "trigger_index": r.trigger_index, "subject": r.subject,
             "works": r.works, "models": r.models_count, "jobs": r.jobs, "outputs": r.outputs,
             "summary": r.summary, "created_at": r.created_at.isoformat(), "ledger_index": r.ledger_index}
            for r in reports]})


def _date(value: str | None, name: str) -> datetime:
    if not value:
        raise DomainError("invalid_period", f"Give `{name}` as an ISO 8601 date or date-time.")
    try:
        moment = (datetime.combine(datetime.fromisoformat(value).date(), time(0), tzinfo=UTC) if len(value) == 10
                  else datetime.fromisoformat(value.replace("Z", "+00:00")))
    except ValueError:
        raise DomainError("invalid_period", f"`{name}` is not an ISO 8601 date or date-time.") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class RoyaltyStatementView(APIView):
    """A royalty statement for a period (JSON, or CSV with `view=csv`)."""

    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(parameters=[OpenApiParameter("start", str, required=True), OpenApiParameter("end", str,
                                                                                              required=True),
                               OpenApiParameter("revenue_per_output", str), OpenApiParameter("currency", str),
                               OpenApiParameter("view", str, enum=["json", "csv"])],
                   responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request) -> HttpResponse:
        principal = principal_for(request)
        params = request.query_params
        party_ids = None
        if not principal.reads_all_tenants:
            orgs = principal.org_ids([Role.RIGHTS_HOLDER])
            if not orgs:
                raise DomainError("permission_denied", "Royalty statements are for rights holders, operator "
                                  "auditors and staff.", status=403)
            party_ids = set(Party.objects.filter(organization_id__in=orgs).values_list("pk", flat=True))
        revenue = None
        if params.get("revenue_per_output"):
            try:
                revenue = Decimal(params["revenue_per_output"])
            except InvalidOperation:
                raise DomainError("invalid_revenue", "revenue_per_output must be a decimal amount.") from None
            if revenue < 0:
                raise DomainError("invalid_revenue", "revenue_per_output must not be negative.")
        result = royalties.statement(_date(params.get("start"), "start"), _date(params.get("end"), "end"),
                                     revenue_per_output=revenue, revenue_currency=params.get("currency", "").upper(),
                                     party_ids=party_ids)
        if params.get("view") == "csv":
            response = HttpResponse(result.to_csv(), content_type="text/csv; charset=utf-8")
            response["Content-Disposition"] = (f'attachment; filename="royalties-{result.start.date()}-'
                                               f'{result.end.date()}.csv"')
            return response
        return Response(result.to_json())
