"""One JSON error shape for the whole API: {"error": {"code", "message", "details"}}.

Codes are stable identifiers clients can branch on; messages are sentences for people; details carry
the offending ids or fields.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from clearcue.exceptions import DomainError


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    """The error envelope."""
    return {"error": {"code": code, "message": message, "details": details}}


_DRF_CODES: dict[type[exceptions.APIException], str] = {
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "throttled",
    exceptions.ParseError: "parse_error",
    exceptions.ValidationError: "validation_error",
}


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF exception handler producing the error envelope for every API error."""
    if isinstance(exc, DomainError):
        return Response(error_body(exc.code, exc.message, exc.details), status=exc.status)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = exception_handler(exc, context)
    if response is None or not isinstance(exc, exceptions.APIException):
        return response  # unexpected errors propagate to Django's 500 handling
    code = next((c for cls, c in _DRF_CODES.items() if isinstance(exc, cls)), None) or str(
        exc.default_code
    )
    if isinstance(exc, exceptions.ValidationError):
        message = "The request is invalid; see details for each field."
        details: Any = exc.detail
    else:
        message = str(exc.detail)
        details = None
        if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
            details = {"retry_after_seconds": int(exc.wait)}
    response.data = error_body(code, message, details)
    return response


def json_not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    """handler404: unknown routes answer in the API's error shape."""
    return JsonResponse(
        error_body("not_found", f"No route matches {request.path!r}."), status=status.HTTP_404_NOT_FOUND
    )


def json_server_error(request: HttpRequest) -> JsonResponse:
    """handler500: an internal error, without leaking a traceback."""
    request_id = getattr(request, "request_id", None)
    return JsonResponse(
        error_body("internal_error", "An internal error occurred; it has been logged.",
                   {"request_id": request_id}),
        status=status.HTTP_500_INTERNAL_SERVER_ERROR,
    )
