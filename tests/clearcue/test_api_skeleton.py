"""API skeleton: schema and docs from local assets, JSON errors everywhere, health probes, throttling."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from rest_framework.throttling import UserRateThrottle

pytestmark = pytest.mark.django_db


def test_openapi_schema_describes_the_v1_api_and_api_key_auth(anon):
    response = anon.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert "/api/v1/api-keys/" in schema["paths"]
    assert "/api/v1/organizations/{id}/" in schema["paths"]
    assert schema["components"]["securitySchemes"]["ApiKeyAuth"]["scheme"] == "bearer"


@pytest.mark.parametrize("page", ["/api/docs/", "/api/redoc/"])
def test_docs_pages_load_their_assets_locally_not_from_a_cdn(page):
    client = Client()
    response = client.get(page)
    assert response.status_code == 200
    html = response.content.decode()
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sources, "the page references no assets"
    assert not [s for s in sources if s.startswith(("http://", "https://", "//"))], sources
    script = next(s for s in sources if s.endswith(".js"))
    asset = client.get(script)
    assert asset.status_code == 200
    assert b"".join(asset.streaming_content if asset.streaming else [asset.content])


def test_unknown_routes_answer_json_404(anon):
    for path in ("/api/v1/no-such-thing/", "/definitely/not/here"):
        response = anon.get(path)
        assert response.status_code == 404
        assert response["Content-Type"] == "application/json"
        assert response.json()["error"]["code"] == "not_found"


def test_healthz_reports_each_dependency(anon):
    response = anon.get("/healthz")
    assert response.status_code == 200, response.content
    checks = response.json()["checks"]
    assert set(checks) == {"database", "broker", "storage"}
    assert all(c["ok"] for c in checks.values())


def test_healthz_reports_a_broken_dependency_as_503(anon, settings, monkeypatch):
    from clearcue import health

    def broken() -> dict:
        raise ConnectionError("broker unreachable")

    monkeypatch.setitem(health.CHECKS, "broker", broken)
    response = anon.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["broker"] == {
        "ok": False, "error": "ConnectionError: broker unreachable", "ms": response.json()["checks"]["broker"]["ms"]
    }


def test_readyz_is_ready_when_migrations_are_applied(anon):
    response = anon.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"ready": True}


def test_request_ids_are_echoed(anon):
    response = anon.get("/healthz", HTTP_X_REQUEST_ID="req-123")
    assert response["X-Request-ID"] == "req-123"
    assert len(anon.get("/healthz", HTTP_X_REQUEST_ID="bad id with spaces")["X-Request-ID"]) == 32


def test_throttling_is_on_by_default_and_answers_429_in_the_error_shape(client_a, monkeypatch):
    monkeypatch.setattr(UserRateThrottle, "THROTTLE_RATES", {"user": "3/min", "anon": "3/min"})
    codes = [client_a.api.get("/api/v1/me/").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    body = client_a.api.get("/api/v1/me/").json()
    assert body["error"]["code"] == "throttled"
    assert body["error"]["details"]["retry_after_seconds"] > 0


def test_admin_is_enabled_with_tenancy_models(staff):
    client = Client()
    client.force_login(staff.user)
    for url in ("/admin/clearcue/organization/", "/admin/clearcue/apikey/", "/admin/clearcue/membership/"):
        assert client.get(url).status_code == 200, url


def test_admin_issues_a_key_and_shows_it_once(staff, client_a):
    client = Client()
    client.force_login(staff.user)
    response = client.post(
        "/admin/clearcue/membership/",
        {"action": "issue_api_key", "_selected_action": [client_a.membership.pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert re.search(r"cc_[a-z0-9]{12}_[A-Za-z0-9_-]{43}", response.content.decode())
