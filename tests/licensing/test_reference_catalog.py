"""Assets and the reference catalog: ingestion reads each file's own rights and records what they grant."""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, datetime

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command

from licensing import rights
from licensing.management.commands.ingest_reference_catalog import COLLECTION
from licensing.models import CatalogImport, License, Work
from tests.licensing.catalog_helpers import ASSETS

pytestmark = pytest.mark.django_db
LATER = datetime(2030, 1, 1, tzinfo=UTC)


def verdict(work, use, territory="US"):
    return rights.evaluate([work.pk], use, territory, LATER).verdicts[work.pk]


@pytest.fixture
def reference(operator_org, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    call_command("ingest_reference_catalog", only="josquin,essenFolksong,leadSheet,lusitano",
                 as_of_year=2026, stdout=io.StringIO())
    return {w.source_key: w for w in Work.objects.filter(collection__slug=COLLECTION)}


def test_the_reference_catalog_ingests_every_file_with_hashes_and_iscc_codes(reference):
    assert len(reference) == 8 + 31 + 2 + 1
    work = reference["josquin/laDeplorationDeLaMorteDeJohannesOckeghem.abc"]
    assert len(work.asset_sha256) == 64 and work.iscc_code.startswith("ISCC:") and work.iscc_data.startswith("ISCC:")
    assert CatalogImport.objects.get().rows_rejected == 0


def test_gpl_encodings_of_public_domain_music_are_licensed_for_commercial_training(reference):
    work = reference["josquin/laDeplorationDeLaMorteDeJohannesOckeghem.abc"]
    assert work.rights_status == "open_license"
    license = License.objects.get(pk=verdict(work, "ai_training").license_ids[0])
    assert license.document_ref == "GPL-2.0-or-later" and license.licensor.name == "Laura E. Conrad"
    assert license.attribution_required and "copyleft" in license.conditions
    assert verdict(work, "commercial_output").allowed


def test_the_essen_permission_is_non_commercial(reference):
    work = next(w for k, w in reference.items() if k.startswith("essenFolksong/"))
    assert work.rights_status == "permission"
    assert verdict(work, "ai_training").allowed
    assert verdict(work, "commercial_output").reasons == ("use_not_granted",)


def test_encodings_whose_rights_are_reserved_get_no_license(reference):
    berlin = next(w for k, w in reference.items() if k.startswith("leadSheet/") and w.rights_status == "reserved")
    assert verdict(berlin, "ai_training").reasons == ("no_license", "rights_reserved")
    assert "All Rights Reserved" in str(berlin.inband["statements"])
    assert berlin.inband["finding"]["reasons"]


def test_cc0_encodings_are_public_domain(reference):
    work = next(w for k, w in reference.items() if k.startswith("lusitano/"))
    assert work.rights_status == "public_domain" and verdict(work, "commercial_output").allowed


def test_re_ingesting_the_reference_catalog_changes_nothing(reference):
    call_command("ingest_reference_catalog", only="josquin,essenFolksong,leadSheet,lusitano",
                 as_of_year=2026, stdout=io.StringIO())
    latest = CatalogImport.objects.order_by("-pk").first()
    assert latest.rows_unchanged == len(reference) and latest.rows_created == 0 and latest.licenses_created == 0


def test_an_uploaded_zip_of_assets_is_read_for_rights_and_missing_assets_are_row_errors(
        catalog_admin, operator_org, settings, tmp_path, django_capture_on_commit_callbacks):
    settings.MEDIA_ROOT = str(tmp_path)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(ASSETS / "inband" / "greensleeves.mid", "midi/greensleeves.mid")
        zf.write(ASSETS / "inband" / "latin1_reference.krn", "kern/latin1_reference.krn")
        zf.writestr("kern/LICENSE.txt", "All rights reserved by Test Editions. No license is granted.")
    csv = (b"work_id,title,asset\nG-1,Greensleeves,midi/greensleeves.mid\nK-1,Latin-1 score,kern/latin1_reference.krn"
           b"\nM-1,Missing,nowhere/missing.mid\n")
    with django_capture_on_commit_callbacks(execute=True):
        response = catalog_admin.api.post("/api/v1/catalog-imports/", {
            "file": SimpleUploadedFile("zip.csv", csv), "collection": "zipped",
            "assets": SimpleUploadedFile("assets.zip", archive.getvalue())}, format="multipart")
    assert response.status_code == 202
    catalog_import = CatalogImport.objects.get()
    assert (catalog_import.rows_created, catalog_import.rows_rejected) == (2, 1)
    assert catalog_import.row_errors.get().code == "asset_missing"
    midi = Work.objects.get(source_key="G-1")
    assert midi.inband["format"] == "midi" and midi.inband["statements"]
    kern = Work.objects.get(source_key="K-1")
    assert any(s["source"].startswith("license_file:kern/") for s in kern.inband["statements"])
    assert kern.rights_status == "open_license"  # the file's own statement is more specific than the directory's
