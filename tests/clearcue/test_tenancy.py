"""Object-level isolation: tenants never see each other; operator auditors read across tenants."""

from __future__ import annotations

import pytest

from clearcue.models import ApiKey, Role
from tests.factories import make_member, make_org

pytestmark = pytest.mark.django_db


def test_client_b_cannot_read_client_a_organization(client_a, client_b):
    response = client_b.api.get(f"/api/v1/organizations/{client_a.org.pk}/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_client_b_lists_only_its_own_organization(client_a, client_b):
    slugs = [o["slug"] for o in client_b.api.get("/api/v1/organizations/").json()["results"]]
    assert slugs == ["brightwave-agency"]


def test_client_b_cannot_see_or_revoke_client_a_keys(client_a, client_b):
    key_a = ApiKey.objects.get(membership=client_a.membership)
    assert client_b.api.get(f"/api/v1/api-keys/{key_a.pk}/").status_code == 404
    response = client_b.api.post(f"/api/v1/api-keys/{key_a.pk}/revoke/")
    assert response.status_code == 404
    assert ApiKey.objects.get(pk=key_a.pk).revoked_at is None
    listed = [k["id"] for k in client_b.api.get("/api/v1/api-keys/").json()["results"]]
    assert key_a.pk not in listed


def test_client_b_cannot_list_client_a_members(client_a, client_b):
    response = client_b.api.get("/api/v1/memberships/", {"organization": client_a.org.pk})
    assert response.status_code == 200
    assert response.json()["results"] == []


def test_operator_auditor_reads_every_organization(auditor, client_a, client_b):
    response = auditor.api.get("/api/v1/organizations/")
    slugs = {o["slug"] for o in response.json()["results"]}
    assert {"northlight-pictures", "brightwave-agency", "clearcue-operator"} <= slugs
    assert auditor.api.get(f"/api/v1/organizations/{client_a.org.pk}/").status_code == 200
    assert auditor.api.get("/api/v1/me/").json()["reads_all_tenants"] is True


def test_an_auditor_of_a_client_organization_reads_only_that_organization(client_a, client_b):
    from tests.conftest import _persona

    own_auditor = _persona(make_member("ivy.inhouse", client_a.org, Role.COMPLIANCE_AUDITOR))
    slugs = [o["slug"] for o in own_auditor.api.get("/api/v1/organizations/").json()["results"]]
    assert slugs == ["northlight-pictures"]
    assert own_auditor.api.get(f"/api/v1/organizations/{client_b.org.pk}/").status_code == 404


def test_auditors_never_see_other_peoples_api_keys(auditor, client_a):
    key_a = ApiKey.objects.get(membership=client_a.membership)
    assert auditor.api.get(f"/api/v1/api-keys/{key_a.pk}/").status_code == 404


def test_an_outsider_sees_nothing(outsider, client_a):
    assert outsider.api.get("/api/v1/organizations/").json()["results"] == []
    assert outsider.api.get(f"/api/v1/organizations/{client_a.org.pk}/").status_code == 404


def test_a_key_acts_only_for_its_membership_even_when_the_user_has_several(client_a, org_b):
    make_member(client_a.user.username, org_b, Role.CLIENT)
    slugs = [o["slug"] for o in client_a.api.get("/api/v1/organizations/").json()["results"]]
    assert slugs == ["northlight-pictures"]


def test_only_staff_create_organizations(client_a, staff):
    response = client_a.api.post("/api/v1/organizations/", {"name": "Evil", "slug": "evil"}, format="json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    response = staff.api.post("/api/v1/organizations/", {"name": "New Co", "slug": "new-co"}, format="json")
    assert response.status_code == 201, response.content
    response = staff.api.post("/api/v1/organizations/", {"name": "New Co", "slug": "new-co"}, format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "organization_exists"


def test_staff_adds_a_member_and_a_second_operator_is_refused(staff, operator_org):
    org = make_org("Harbor Music")
    response = staff.api.post(
        "/api/v1/memberships/", {"user": staff.user.pk, "organization": org.pk, "role": "rights_holder"},
        format="json",
    )
    assert response.status_code == 201, response.content
    response = staff.api.post(
        "/api/v1/organizations/", {"name": "Other operator", "slug": "op2", "is_operator": True}, format="json"
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "operator_exists"
