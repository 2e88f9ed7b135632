"""API keys: shown once, stored hashed, recognisable, revocable, with last-used time."""

from __future__ import annotations

import hashlib

import pytest
from django.utils import timezone

from clearcue import actions
from clearcue.models import ApiKey, Role
from tests.factories import make_member

pytestmark = pytest.mark.django_db


def test_a_key_authenticates_and_me_shows_its_one_membership(client_a):
    response = client_a.api.get("/api/v1/me/")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["username"] == "cleo.client"
    assert [m["organization_slug"] for m in body["memberships"]] == ["northlight-pictures"]
    assert body["api_key"]["display_prefix"].startswith("cc_")
    assert body["reads_all_tenants"] is False


def test_a_key_is_shown_once_and_only_its_digest_is_stored(org_a):
    membership = make_member("kim", org_a, Role.CLIENT)
    client = _session_client(membership.user)
    response = client.post("/api/v1/api-keys/", {"name": "ci"}, format="json")
    assert response.status_code == 201, response.content
    plaintext = response.json()["key"]
    assert plaintext.startswith("cc_")
    row = ApiKey.objects.get(pk=response.json()["id"])
    secret = plaintext[len("cc_") + 12 + 1 :]
    assert row.secret_sha256 == hashlib.sha256(secret.encode()).hexdigest()
    assert plaintext not in str(ApiKey.objects.filter(pk=row.pk).values().first())
    listed = client.get(f"/api/v1/api-keys/{row.pk}/").json()
    assert "key" not in listed
    assert listed["display_prefix"] == f"cc_{row.prefix}_"


def test_missing_key_is_401_in_the_error_shape(anon, org_a):
    response = anon.get("/api/v1/organizations/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "header",
    [
        "Bearer cc_notakey",
        "Bearer cc_aaaaaaaaaaaa_" + "x" * 43,
        "Bearer ",
    ],
)
def test_malformed_or_unknown_key_is_401(anon, client_a, header):
    anon.credentials(HTTP_AUTHORIZATION=header)
    response = anon.get("/api/v1/me/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"


def test_right_prefix_with_wrong_secret_is_401(anon, client_a):
    prefix = client_a.key[: len("cc_") + 12]
    anon.credentials(HTTP_AUTHORIZATION=f"Bearer {prefix}_{'A' * 43}")
    response = anon.get("/api/v1/me/")
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "Invalid API key."


def test_a_revoked_key_stops_working(client_a):
    key_id = client_a.api.get("/api/v1/me/").json()["api_key"]["id"]
    response = client_a.api.post(f"/api/v1/api-keys/{key_id}/revoke/")
    assert response.status_code == 200
    assert response.json()["revoked_at"] is not None
    response = client_a.api.get("/api/v1/me/")
    assert response.status_code == 401
    assert "revoked" in response.json()["error"]["message"]


def test_an_expired_key_stops_working(client_a):
    ApiKey.objects.filter(membership=client_a.membership).update(expires_at=timezone.now())
    response = client_a.api.get("/api/v1/me/")
    assert response.status_code == 401
    assert "expired" in response.json()["error"]["message"]


def test_a_key_of_a_deactivated_membership_stops_working(client_a):
    type(client_a.membership).objects.filter(pk=client_a.membership.pk).update(is_active=False)
    assert client_a.api.get("/api/v1/me/").status_code == 401


def test_last_used_is_recorded_at_most_once_per_resolution(client_a, settings):
    settings.API_KEY_LAST_USED_RESOLUTION_SECONDS = 3600
    key = ApiKey.objects.get(membership=client_a.membership)
    assert key.last_used_at is None
    client_a.api.get("/api/v1/me/")
    first = ApiKey.objects.get(pk=key.pk).last_used_at
    assert first is not None
    client_a.api.get("/api/v1/me/")
    assert ApiKey.objects.get(pk=key.pk).last_used_at == first


def test_revoking_twice_keeps_the_first_revocation_time(client_a):
    key = ApiKey.objects.get(membership=client_a.membership)
    first = actions.do_revoke_api_key(api_key=key, actor=client_a.user).revoked_at
    second = actions.do_revoke_api_key(api_key=key, actor=client_a.user).revoked_at
    assert first == second


def test_an_api_key_can_issue_a_sibling_key_for_its_own_membership_only(client_a, org_b):
    response = client_a.api.post("/api/v1/api-keys/", {"name": "second"}, format="json")
    assert response.status_code == 201
    assert response.json()["membership"] == client_a.membership.pk
    other = make_member("zed", org_b, Role.CLIENT)
    response = client_a.api.post("/api/v1/api-keys/", {"name": "x", "membership": other.pk}, format="json")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_a_bad_create_request_is_a_validation_error_with_field_details(client_a):
    response = client_a.api.post("/api/v1/api-keys/", {"name": ""}, format="json")
    assert response.status_code == 400
    body = response.json()["error"]
    assert body["code"] == "validation_error"
    assert "name" in body["details"]


def _session_client(user):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_login(user)
    return client
