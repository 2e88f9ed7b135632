"""Catalog API: who may read and write parties, works, licenses and opt-outs; evaluation over HTTP."""

from __future__ import annotations

import pytest

from licensing.models import License, OptOut, Party, Work
from tests.factories import make_member
from tests.licensing.catalog_helpers import load_catalog, small_catalog

pytestmark = pytest.mark.django_db


@pytest.fixture
def catalog(operator_org):
    load_catalog(small_catalog(), operator=operator_org)
    return {w.source_key: w for w in Work.objects.all()}


@pytest.fixture
def holder_persona(db, catalog):
    """A rights holder member acting for Nordlys Music AB."""
    from clearcue.actions import do_create_organization
    from tests.conftest import _persona

    org = do_create_organization(name="Nordlys Music", slug="nordlys-music", actor=None)
    Party.objects.filter(name="Nordlys Music AB").update(organization=org)
    return _persona(make_member("nina.holder", org, "rights_holder"))


def test_members_read_the_catalog_and_filter_works_by_tag_and_identifier(client_a, catalog):
    body = client_a.api.get("/api/v1/works/", {"tag": "mood:hopeful"}).json()
    assert [w["source_key"] for w in body["results"]] == ["NL-002"]
    body = client_a.api.get("/api/v1/works/", {"identifier": "iswc:T-034.524.680-1"}).json()
    assert [w["source_key"] for w in body["results"]] == ["NL-001"]
    assert body["results"][0]["creators"][0]["name"] == "Mara Lindqvist"


def test_outsiders_and_anonymous_callers_cannot_read_the_catalog(outsider, anon, catalog):
    assert outsider.api.get("/api/v1/works/").status_code == 403
    assert anon.get("/api/v1/works/").status_code in (401, 403)


def test_a_catalog_admin_registers_a_party_and_a_work_but_a_client_may_not(catalog_admin, client_a, operator_org):
    response = catalog_admin.api.post("/api/v1/parties/", {"name": "Iris Moon", "ipi": "00014107338"}, format="json")
    assert response.status_code == 201 and response.json()["key"] == "ipi:00014107338"
    again = catalog_admin.api.post("/api/v1/parties/", {"name": "Iris M.", "ipi": "00014107338"}, format="json")
    assert again.status_code == 409 and again.json()["error"]["code"] == "party_exists"
    row = {"work_id": "IM-1", "title": "Tide", "creators": "composer:Iris Moon", "style_tags": "mood:calm"}
    response = catalog_admin.api.post("/api/v1/works/", {"collection": "moon", "row": row}, format="json")
    assert response.status_code == 201 and response.json()["style_tags"] == ["mood:calm"]
    bad = catalog_admin.api.post("/api/v1/works/", {"collection": "moon", "row": {"work_id": "x"}}, format="json")
    assert bad.status_code == 400 and bad.json()["error"]["details"][0]["code"] == "required"
    assert client_a.api.post("/api/v1/works/", {"collection": "moon", "row": row}, format="json").status_code == 403


def test_licenses_are_granted_and_revoked_through_the_api_never_edited(catalog_admin, catalog, org_a, client_a,
                                                                       client_b):
    holder = Party.objects.get(name="Nordlys Music AB")
    body = {"reference": "NL-CLIENT-A", "licensor": holder.pk, "licensee": org_a.slug, "scope": "works",
            "works": [catalog["NL-004"].pk], "uses": ["style_reference", "commercial_output"],
            "territories": ["US", "CA"], "valid_from": "2026-01-01T00:00:00Z"}
    response = catalog_admin.api.post("/api/v1/licenses/", body, format="json")
    assert response.status_code == 201, response.json()
    license_id = response.json()["id"]
    assert response.json()["territories"] == ["CA", "US"] and response.json()["work_count"] == 1
    # The licensee sees it, another client does not.
    assert client_a.api.get(f"/api/v1/licenses/{license_id}/").status_code == 200
    assert client_b.api.get(f"/api/v1/licenses/{license_id}/").status_code == 404
    assert catalog_admin.api.patch(f"/api/v1/licenses/{license_id}/", {"name": "x"}, format="json").status_code == 405
    revoked = catalog_admin.api.post(f"/api/v1/licenses/{license_id}/revoke/", {"reason": "contract ended"},
                                     format="json")
    assert revoked.status_code == 200 and revoked.json()["revocation"]["reason"] == "contract ended"
    twice = catalog_admin.api.post(f"/api/v1/licenses/{license_id}/revoke/", {"reason": "again"}, format="json")
    assert twice.status_code == 409 and twice.json()["error"]["code"] == "already_revoked"
    assert License.objects.get(pk=license_id).name == "NL-CLIENT-A"


def test_a_rights_holder_opts_out_its_own_works_but_not_others(holder_persona, catalog, catalog_admin):
    mine = {"subject_kind": "work", "subject": str(catalog["NL-001"].pk), "reserved": ["ai_training"],
            "statement": "We reserve our catalogue from AI training."}
    response = holder_persona.api.post("/api/v1/optouts/", mine, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()[0]["evidence"]["request"]["statement"].startswith("We reserve")
    other = catalog_admin.api.post("/api/v1/works/", {"collection": "other", "row": {
        "work_id": "O-1", "title": "Not Theirs", "rights_holder": "Someone Else"}}, format="json").json()
    response = holder_persona.api.post("/api/v1/optouts/", {**mine, "subject": str(other["id"])}, format="json")
    assert response.status_code == 403 and response.json()["error"]["code"] == "not_your_subject"
    assert OptOut.objects.count() == 1


def test_an_opt_out_is_withdrawn_by_its_registrant_as_a_new_record(holder_persona, catalog, client_a):
    created = holder_persona.api.post("/api/v1/optouts/", {
        "subject_kind": "work", "subject": str(catalog["NL-002"].pk), "reserved": ["all"]}, format="json").json()[0]
    assert client_a.api.get(f"/api/v1/optouts/{created['id']}/").status_code == 404
    response = holder_persona.api.post(f"/api/v1/optouts/{created['id']}/withdraw/", {"reason": "deal"},
                                       format="json")
    assert response.status_code == 200 and response.json()["withdrawal"]["reason"] == "deal"


def test_the_evaluation_endpoint_answers_per_work_with_reasons_and_counts(auditor, catalog):
    ids = [w.pk for w in catalog.values()]
    response = auditor.api.post("/api/v1/rights/evaluate/", {
        "work_ids": ids, "use": "ai_training", "territory": "us", "at": "2026-06-01T00:00:00Z"}, format="json")
    body = response.json()
    assert response.status_code == 200 and body["allowed"] == 2
    assert body["reason_counts"] == {"no_license": 1, "territory_excluded": 1}
    bad = auditor.api.post("/api/v1/rights/evaluate/", {"work_ids": ids, "use": "ai_training", "territory": "QQ"},
                           format="json")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_territory"
