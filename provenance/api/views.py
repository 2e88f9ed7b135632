"""Verification and the C2PA Soft Binding Resolution API.

- `POST /api/v1/verify`: upload a file (multipart field `file`, or the raw bytes with an audio content type)
  and get the verification report (provenance.verify). Anyone may call it; the full answer is for the owning
  client, operator auditors and staff.
- The Soft Binding Resolution API (C2PA, OpenAPI 1.1.0) under `/api/v1/softbinding/`:
  `GET|POST matches/byBinding`, `POST matches/byContent`, `GET manifests/{manifestId}` (application/c2pa),
  `GET services/supportedAlgorithms`. Public, like the manifests embedded in the files it serves.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import parsers, permissions, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from clearcue.exceptions import DomainError
from clearcue.tenancy import principal_for
from generation.models import JobOutput
from provenance.models import Credential, WatermarkPayload

DEFAULT_MAX_RESULTS = 10
MAX_RESULTS_CAP = 100


class RawAudioParser(parsers.BaseParser):
    """A request body that is the asset itself (`audio/*`, `application/octet-stream`), read up to the limit."""

    media_type = "*/*"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> bytes:
        limit = settings.VERIFY_MAX_BYTES
        data = stream.read(limit + 1) if stream is not None else b""
        if len(data) > limit:
            raise DomainError("media_too_large", f"The file exceeds {limit} bytes.", status=413)
        return bytes(data)


def upload_bytes(request: Request) -> bytes:
    """The uploaded asset: multipart field `file`, or the raw body; 413 past the limit, 400 when empty."""
    limit = settings.VERIFY_MAX_BYTES
    content_length = request.META.get("CONTENT_LENGTH") or "0"
    if content_length.isdigit() and int(content_length) > limit + 64 * 1024:
        raise DomainError("media_too_large", f"The file exceeds {limit} bytes.", status=413)
    if request.content_type.startswith("multipart/form-data"):
        upload = request.FILES.get("file")
        if upload is None:
            raise DomainError("file_required", "Send the file in the multipart field `file`.")
        if upload.size is not None and upload.size > limit:
            raise DomainError("media_too_large", f"The file exceeds {limit} bytes.", status=413)
        data = upload.read(limit + 1)
    else:
        data = request.data if isinstance(request.data, bytes) else b""
    if len(data) > limit:
        raise DomainError("media_too_large", f"The file exceeds {limit} bytes.", status=413)
    if not data:
        raise DomainError("file_required", "The request carries no file.")
    return bytes(data)


class VerifyView(APIView):
    """Verify a file: C2PA state, watermark, the output and job it resolves to, ledger proofs, rights, coverage."""

    permission_classes = [permissions.AllowAny]
    parser_classes = [parsers.MultiPartParser, RawAudioParser]

    @extend_schema(
        request={"multipart/form-data": {"type": "object", "properties": {"file": {"type": "string",
                                                                                  "format": "binary"}}},
                 "audio/*": OpenApiTypes.BINARY},
        responses={200: OpenApiResponse(description="the verification report"),
                   413: OpenApiResponse(description="media_too_large / media_too_long"),
                   415: OpenApiResponse(description="unsupported_media_type"),
                   422: OpenApiResponse(description="undecodable_media")})
    def post(self, request: Request) -> Response:
        from provenance.verify import verify_upload

        return Response(verify_upload(upload_bytes(request), principal=principal_for(request)))


# --- Soft Binding Resolution API ----------------------------------------------------------------------------


def _max_results(request: Request) -> int:
    raw = request.query_params.get("maxResults")
    if raw is None:
        return DEFAULT_MAX_RESULTS
    if not raw.isdigit() or int(raw) < 1:
        raise DomainError("invalid_max_results", "maxResults must be an integer >= 1.")
    return min(int(raw), MAX_RESULTS_CAP)


def _supported_alg(alg: str | None, *, required: bool) -> str:
    from provenance.backends import watermarker

    ours = watermarker().alg
    if not alg:
        if required:
            raise DomainError("alg_required", "alg is required.")
        return ours
    if alg != ours:
        raise DomainError("unsupported_algorithm", f"This service resolves {ours} only.",
                          details={"supported": [ours]})
    return alg


def _matches_for_payload(alg: str, value: int, score: int, limit: int) -> list[dict[str, Any]]:
    credentials = Credential.objects.filter(watermark__alg=alg, watermark__value=value).order_by("id")[:limit]
    return [{"manifestId": c.manifest_id, "similarityScore": score} for c in credentials]


def _by_binding(alg: str | None, value: str | None, limit: int) -> Response:
    from provenance.watermark import WatermarkError, payload_from_binding

    alg = _supported_alg(alg, required=True)
    if not value:
        raise DomainError("value_required", "value is required.")
    try:
        payload = payload_from_binding(value)
    except WatermarkError as error:
        raise DomainError(error.code, error.message) from error
    return Response({"matches": _matches_for_payload(alg, payload, 100, limit)})


class SoftBindingQuerySerializer(serializers.Serializer[Any]):
    """c2pa.softBindingQuery."""

    alg = serializers.CharField()
    value = serializers.CharField()


MAX_RESULTS_PARAM = OpenApiParameter("maxResults", int, description="at most this many manifest ids (default 10)")


class MatchesByBindingView(APIView):
    """Manifest ids for a soft-binding value (our watermark's payload, base64 of 4 bytes)."""

    permission_classes = [permissions.AllowAny]

    @extend_schema(operation_id="queryByBinding", parameters=[
        OpenApiParameter("alg", str, required=True), OpenApiParameter("value", str, required=True),
        MAX_RESULTS_PARAM], responses={200: OpenApiResponse(description="c2pa.softBindingQueryResult")})
    def get(self, request: Request) -> Response:
        return _by_binding(request.query_params.get("alg"), request.query_params.get("value"), _max_results(request))

    @extend_schema(operation_id="queryByLargeBinding", request=SoftBindingQuerySerializer,
                   parameters=[MAX_RESULTS_PARAM],
                   responses={200: OpenApiResponse(description="c2pa.softBindingQueryResult")})
    def post(self, request: Request) -> Response:
        body = SoftBindingQuerySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return _by_binding(body.validated_data["alg"], body.validated_data["value"], _max_results(request))


def _hint(request: Request, alg: str) -> int | None:
    """The payload named by `hintAlg`/`hintValue` when the hint is for our algorithm (other hints are ignored)."""
    from provenance.watermark import WatermarkError, payload_from_binding

    hint_alg, hint_value = request.query_params.get("hintAlg"), request.query_params.get("hintValue")
    if hint_alg != alg or not hint_value:
        return None
    try:
        return payload_from_binding(hint_value)
    except WatermarkError as error:
        raise DomainError(error.code, "hintValue: " + error.message) from error


class MatchesByContentView(APIView):
    """Manifest ids for an uploaded asset: its exact bytes, or the watermark found in its audio."""

    permission_classes = [permissions.AllowAny]
    parser_classes = [parsers.MultiPartParser, RawAudioParser]

    @extend_schema(operation_id="uploadFile", request={"audio/*": OpenApiTypes.BINARY}, parameters=[
        OpenApiParameter("alg", str), MAX_RESULTS_PARAM, OpenApiParameter("hintAlg", str),
        OpenApiParameter("hintValue", str)],
        responses={200: OpenApiResponse(description="c2pa.softBindingQueryResult"),
                   413: OpenApiResponse(description="too large"), 415: OpenApiResponse(description="not audio")})
    def post(self, request: Request) -> Response:
        import hashlib

        from provenance import media
        from provenance.verify import detect_watermark

        limit = _max_results(request)
        alg = _supported_alg(request.query_params.get("alg"), required=False)
        data = upload_bytes(request)
        if media.sniff(data) is None:
            raise DomainError("unsupported_media_type", "The asset is not an audio format we read.", status=415)
        matches: list[dict[str, Any]] = []
        exact = JobOutput.objects.filter(sha256=hashlib.sha256(data).hexdigest()).first()
        if exact is not None and hasattr(exact, "credential"):
            matches.append({"manifestId": exact.credential.manifest_id, "similarityScore": 100})
        hint = _hint(request, alg)
        watermark, _ = detect_watermark(data)
        found: list[tuple[int, int]] = []  # (payload, score)
        if watermark["detected"] and WatermarkPayload.objects.filter(alg=alg, value=watermark["payload"]).exists():
            found.append((watermark["payload"], max(1, min(100, round(watermark["confidence"] * 100)))))
        if hint is not None and hint not in [p for p, _ in found]:
            # A hint the audio does not confirm is still a lead, ranked below what the audio itself carries.
            found.append((hint, 50))
        seen = {m["manifestId"] for m in matches}
        for payload, score in found:
            for match in _matches_for_payload(alg, payload, score, limit):
                if match["manifestId"] not in seen:
                    seen.add(match["manifestId"])
                    matches.append(match)
        return Response({"matches": matches[:limit]})


class ManifestView(APIView):
    """The C2PA manifest store signed into a sealed output (application/c2pa)."""

    permission_classes = [permissions.AllowAny]

    @extend_schema(operation_id="getManifestById", parameters=[OpenApiParameter("returnActiveManifest", bool)],
                   responses={(200, "application/c2pa"): OpenApiResponse(description="the manifest store"),
                              404: OpenApiResponse(description="manifest_not_found")})
    def get(self, request: Request, manifest_id: str) -> HttpResponse:
        if not manifest_id.startswith("urn:"):
            raise DomainError("invalid_manifest_id", "A manifest id is a URN such as urn:c2pa:<uuid>.")
        active = request.query_params.get("returnActiveManifest", "false").lower()
        if active not in ("true", "false"):
            raise DomainError("invalid_query", "returnActiveManifest must be true or false.")
        credential = Credential.objects.filter(manifest_id=manifest_id).first()
        if credential is None:
            raise DomainError("manifest_not_found", f"No manifest {manifest_id!r} here.", status=404)
        # Our stores hold one manifest, the active one: both answers are the same bytes.
        response = HttpResponse(bytes(credential.store), content_type="application/c2pa")
        response["Digest"] = f"sha-256={credential.store_sha256}"
        return response


class SupportedAlgorithmsView(APIView):
    """The soft-binding algorithms this service resolves."""

    permission_classes = [permissions.AllowAny]

    @extend_schema(operation_id="getSupportedBindings",
                   responses={200: OpenApiResponse(description="c2pa.softBindingAlgList")})
    def get(self, request: Request) -> Response:
        from provenance.backends import watermarker

        return Response({"watermarks": [{"alg": watermarker().alg}], "fingerprints": []})
