"""Opt-out intake through the API: every machine-readable format becomes opt-outs that rights evaluation
honours; malformed input is refused with the parser's code and stores nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from licensing import rights
from licensing.models import LedgerEntry, OptOut, Work
from tests.licensing import c2pa_fixtures
from tests.licensing.catalog_helpers import ASSETS

pytestmark = pytest.mark.django_db
SITE = "https://www.nordlicht-musikverlag.example"


@pytest.fixture
def web_works(catalog_admin, operator_org):
    """Two licensed works with URLs on the publisher's site."""
    made = {}
    for key, url in [("NM-1", f"{SITE}/catalogue/nm-1"), ("NM-2", f"{SITE}/press/nm-2")]:
        row = {"work_id": key, "title": key, "url": url, "rights_holder": "Nordlicht Musikverlag",
               "license_ref": "NM-ALL", "license_uses": "ai_training; style_reference",
               "license_valid_from": "2020-01-01"}
        made[key] = catalog_admin.api.post("/api/v1/works/", {"collection": "nordlicht", "row": row},
                                           format="json").json()["id"]
    return made


def allowed(work_id, use="ai_training"):
    at = timezone.now() + timedelta(seconds=1)
    return rights.evaluate([work_id], use, "DE", at).verdicts[work_id].allowed


def intake(persona, **body):
    return persona.api.post("/api/v1/optouts/intake/", body, format="json")


def test_a_tdmrep_file_reserves_exactly_the_works_under_its_reserved_locations(catalog_admin, web_works):
    document = (ASSETS / "optouts" / "tdmrep.json").read_text()
    response = intake(catalog_admin, format="tdmrep", origin=SITE, document=document)
    assert response.status_code == 201, response.json()
    [optout] = response.json()
    assert optout["subject_value"] == f"url:{SITE}/catalogue/nm-1" and optout["reserved"] == ["data_mining"]
    assert optout["policy_url"].endswith("tdm-licensing.json")
    assert not allowed(web_works["NM-1"]) and allowed(web_works["NM-2"])


def test_tdmrep_headers_reserve_the_resource_they_came_with(catalog_admin, web_works):
    response = intake(catalog_admin, format="tdm-headers", url=f"{SITE}/press/nm-2",
                      headers={"tdm-reservation": "1"})
    assert response.status_code == 201
    assert not allowed(web_works["NM-2"])


def test_an_aipref_content_usage_value_reserves_training_but_not_style_use(catalog_admin, web_works):
    response = intake(catalog_admin, format="aipref", document="train-ai=n, search=y", subject_kind="work",
                      subject=str(web_works["NM-2"]))
    assert response.status_code == 201 and response.json()[0]["reserved"] == ["ai_training"]
    assert not allowed(web_works["NM-2"]) and allowed(web_works["NM-2"], "style_reference")


def test_a_robots_txt_with_content_usage_rules_reserves_by_path(catalog_admin, web_works):
    robots = (ASSETS / "optouts" / "robots.txt").read_text()
    response = intake(catalog_admin, format="robots", origin=SITE, document=robots)
    assert response.status_code == 201, response.json()
    assert not allowed(web_works["NM-1"])


def test_a_liccium_declaration_reserves_by_iscc(catalog_admin, web_works):
    declaration = (ASSETS / "optouts" / "liccium-full-optout.json").read_text()
    response = intake(catalog_admin, format="liccium", document=declaration)
    assert response.status_code == 201
    assert response.json()[0]["subject_kind"] == "iscc" and "all" in response.json()[0]["reserved"]


def test_a_cawg_assertion_in_an_uploaded_asset_reserves_its_iscc(catalog_admin, web_works):
    signed = c2pa_fixtures.sign_wav([c2pa_fixtures.training_mining("cawg", {"ai_generative_training":
                                                                           "notAllowed"})])
    response = catalog_admin.api.post("/api/v1/optouts/intake/", {
        "format": "c2pa", "asset": SimpleUploadedFile("cue.wav", signed, content_type="audio/wav")},
        format="multipart")
    assert response.status_code == 201, response.json()
    assert response.json()[0]["subject_value"].startswith("ISCC:") and response.json()[0]["source"] == "cawg"


@pytest.mark.parametrize("body,code", [
    ({"format": "tdmrep", "origin": SITE, "document": "{not json"}, "tdmrep_not_json"),
    ({"format": "aipref", "document": "train-ai=", "subject_kind": "work", "subject": "1"}, "aipref_syntax"),
    ({"format": "liccium", "document": '{"version": "1.0", "intent": "activate"}'}, "liccium_missing_field"),
    ({"format": "aipref", "document": "train-ai=n"}, "subject_required"),
])
def test_malformed_input_is_refused_with_the_parsers_code_and_stores_nothing(catalog_admin, web_works, body, code):
    entries = LedgerEntry.objects.count()
    response = intake(catalog_admin, **body)
    assert response.status_code == 400 and response.json()["error"]["code"] == code, response.json()
    assert OptOut.objects.count() == 0 and LedgerEntry.objects.count() == entries


def test_a_stripped_or_tampered_asset_is_refused(catalog_admin, web_works):
    signed = c2pa_fixtures.sign_wav([c2pa_fixtures.training_mining("cawg", {"ai_training": "notAllowed"})])
    for data, code in [(c2pa_fixtures.strip_manifest(signed), "c2pa_no_manifest"),
                       (c2pa_fixtures.flip_audio_byte(signed), "c2pa_invalid_manifest")]:
        response = catalog_admin.api.post("/api/v1/optouts/intake/", {
            "format": "c2pa", "asset": SimpleUploadedFile("cue.wav", data, content_type="audio/wav")},
            format="multipart")
        assert response.status_code == 400 and response.json()["error"]["code"] == code
    assert OptOut.objects.count() == 0 and Work.objects.count() == 2
