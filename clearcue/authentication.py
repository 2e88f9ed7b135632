"""DRF authentication with Clearcue API keys: `Authorization: Bearer cc_<prefix>_<secret>`."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from clearcue import apikeys
from clearcue.actions import do_touch_api_key
from clearcue.models import ApiKey, User


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """Authenticates a request by API key; `request.auth` is the ApiKey (its membership sets the scope)."""

    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[User, ApiKey] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        scheme, _, token = header.partition(" ")
        if scheme.lower() != self.keyword.lower():
            return None
        token = token.strip()
        parts = apikeys.split(token)
        if parts is None:
            raise exceptions.AuthenticationFailed("Malformed API key: expected 'cc_<prefix>_<secret>'.")
        prefix, secret = parts
        api_key = (
            ApiKey.objects.select_related("membership__user", "membership__organization")
            .filter(prefix=prefix)
            .first()
        )
        # One message for unknown and wrong keys, so probing reveals nothing about which prefixes exist.
        if api_key is None or not apikeys.secret_matches(secret, api_key.secret_sha256):
            raise exceptions.AuthenticationFailed("Invalid API key.")
        if api_key.revoked_at is not None:
            raise exceptions.AuthenticationFailed("This API key has been revoked.")
        if api_key.expires_at is not None and api_key.expires_at <= timezone.now():
            raise exceptions.AuthenticationFailed("This API key has expired.")
        membership = api_key.membership
        if not membership.is_active or not membership.user.is_active:
            raise exceptions.AuthenticationFailed("The membership behind this API key is inactive.")
        do_touch_api_key(api_key=api_key, resolution_seconds=settings.API_KEY_LAST_USED_RESOLUTION_SECONDS)
        return membership.user, api_key

    def authenticate_header(self, request: Request) -> str:
        return f'{self.keyword} realm="clearcue"'


class ApiKeyScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    """Describes API-key auth in the OpenAPI schema."""

    target_class = "clearcue.authentication.ApiKeyAuthentication"
    name = "ApiKeyAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "bearerFormat": "cc_<prefix>_<secret>"}
