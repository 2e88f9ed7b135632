"""Catalog imports through the API: validation first, valid rows commit, idempotent re-imports, resumable."""

from __future__ import annotations

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, transaction

from licensing import actions, importer
from licensing.models import CatalogImport, ImportRowError, LedgerEntry, License, LicenseWork, Work
from tests.licensing.catalog_helpers import ASSETS

pytestmark = pytest.mark.django_db


def upload(persona, name, data, collection="nordlys", **extra):
    body = {"file": SimpleUploadedFile(name, data), "collection": collection, **extra}
    return persona.api.post("/api/v1/catalog-imports/", body, format="multipart")


def run(persona, name, data, capture, collection="nordlys"):
    with capture(execute=True):
        response = upload(persona, name, data, collection)
    assert response.status_code == 202, response.json()
    return CatalogImport.objects.get(pk=response.json()["id"])


def test_a_catalog_admin_imports_a_csv_catalog_with_licenses_and_sees_it_completed(catalog_admin, operator_org,
                                                                                  django_capture_on_commit_callbacks):
    data = (ASSETS / "catalog" / "small.csv").read_bytes()
    catalog_import = run(catalog_admin, "small.csv", data, django_capture_on_commit_callbacks)
    assert (catalog_import.status, catalog_import.rows_done, catalog_import.rows_created) == ("completed", 4, 4)
    assert catalog_import.licenses_created == 2
    license = License.objects.get(key__endswith="/NL-2026-A")
    assert LicenseWork.objects.filter(license=license).count() == 2
    assert license.royalty_terms == {"model": "per_output", "amount": "0.50", "currency": "EUR"}
    assert Work.objects.get(source_key="NL-001").source_metadata["notes"] == "first cue"
    types = list(LedgerEntry.objects.values_list("entry_type", flat=True))
    assert types.count("work.registered") == 4 and types.count("license.granted") == 2
    assert types[-1] == "catalog.imported"
    body = catalog_admin.api.get(f"/api/v1/catalog-imports/{catalog_import.pk}/").json()
    assert body["progress"]["percent"] == 100 and body["status"] == "completed"


def test_re_importing_the_same_catalog_changes_nothing(catalog_admin, operator_org,
                                                       django_capture_on_commit_callbacks):
    data = (ASSETS / "catalog" / "small.csv").read_bytes()
    run(catalog_admin, "small.csv", data, django_capture_on_commit_callbacks)
    entries = LedgerEntry.objects.count()
    again = run(catalog_admin, "small.csv", data, django_capture_on_commit_callbacks)
    assert (again.rows_unchanged, again.rows_created, again.rows_updated) == (4, 0, 0)
    assert LedgerEntry.objects.count() == entries + 1  # only the import's own summary entry
    assert Work.objects.count() == 4 and License.objects.count() == 2


def test_a_changed_row_updates_its_work_and_records_the_update(catalog_admin, operator_org,
                                                               django_capture_on_commit_callbacks):
    data = (ASSETS / "catalog" / "small.csv").read_bytes()
    run(catalog_admin, "small.csv", data, django_capture_on_commit_callbacks)
    changed = run(catalog_admin, "small.csv", data.replace(b"Archive Reel", b"Archive Reel (remastered)"),
                  django_capture_on_commit_callbacks)
    assert (changed.rows_updated, changed.rows_unchanged) == (1, 3)
    work = Work.objects.get(source_key="NL-004")
    assert work.title == "Archive Reel (remastered)" and work.updated_ledger_index is not None
    assert LedgerEntry.objects.get(leaf_index=work.updated_ledger_index).entry_type == "work.updated"


def test_bad_rows_are_reported_with_row_column_and_code_while_valid_rows_commit(catalog_admin, operator_org,
                                                                               django_capture_on_commit_callbacks):
    data = (ASSETS / "catalog" / "bad_rows.csv").read_bytes()
    catalog_import = run(catalog_admin, "bad_rows.csv", data, django_capture_on_commit_callbacks, "ruiz")
    assert catalog_import.status == "completed"
    assert (catalog_import.rows_created, catalog_import.rows_rejected) == (2, 4)
    assert sorted(Work.objects.values_list("source_key", flat=True)) == ["BR-1", "BR-6"]
    response = catalog_admin.api.get(f"/api/v1/catalog-imports/{catalog_import.pk}/error-report/")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    report = list(csv.DictReader(io.StringIO(response.content.decode())))
    found = {(r["row"], r["column"], r["code"]) for r in report}
    assert {("2", "title", "required"), ("3", "iswc", "invalid_iswc"), ("4", "license_uses", "unknown_use"),
            ("4", "license_territories", "invalid_territory"), ("4", "license_valid_from", "invalid_date"),
            ("5", "work_id", "duplicate_work_id")} <= found
    listed = catalog_admin.api.get(f"/api/v1/catalog-imports/{catalog_import.pk}/").json()
    assert listed["error_report"].endswith(f"/catalog-imports/{catalog_import.pk}/error-report/")


def test_a_json_lines_catalog_keeps_unknown_fields_verbatim_and_reads_structured_values(
        catalog_admin, operator_org, django_capture_on_commit_callbacks):
    data = (ASSETS / "catalog" / "small.jsonl").read_bytes()
    catalog_import = run(catalog_admin, "small.jsonl", data, django_capture_on_commit_callbacks, "berg")
    assert catalog_import.rows_created == 2 and catalog_import.rows_rejected == 0
    work = Work.objects.get(source_key="J-1")
    assert work.source_metadata["label_code"] == "LC 01234"
    assert sorted(work.style_tags) == ["genre:noir", "mood:tense"]
    assert work.creators.get().party.ipi == "00052210040"
    license = License.objects.get(key__endswith="/BERG-1")
    assert license.excluded_territories == "|CN|" and license.royalty_terms["percent"] == "2.5"


def test_an_unreadable_file_is_refused_at_upload_and_nothing_is_stored(catalog_admin, operator_org):
    response = upload(catalog_admin, "bad.csv", b"name,year\nx,1\n")
    assert response.status_code == 400 and response.json()["error"]["code"] == "missing_header"
    response = upload(catalog_admin, "latin1.csv", "work_id,title\n1,Caf\xe9\n".encode("latin-1"))
    assert response.json()["error"]["code"] == "not_utf8"
    assert CatalogImport.objects.count() == 0


def test_clients_cannot_import_catalogs_and_only_staff_may_name_a_server_directory(client_a, catalog_admin,
                                                                                  operator_org):
    data = (ASSETS / "catalog" / "small.csv").read_bytes()
    assert upload(client_a, "small.csv", data).status_code == 403
    response = upload(catalog_admin, "small.csv", data, assets_dir="/etc")
    assert response.status_code == 403 and response.json()["error"]["code"] == "staff_only"


def test_a_crash_mid_import_leaves_whole_batches_and_a_rerun_resumes_without_duplicates(
        catalog_admin, operator_org, monkeypatch):
    data = (ASSETS / "catalog" / "small.csv").read_bytes()
    catalog_import = actions.do_create_catalog_import(organization=operator_org, user=catalog_admin.user, data=data,
                                                       file_format="csv", collection_slug="nordlys")
    real = importer.do_apply_catalog_rows
    calls = {"n": 0}

    def crash_on_second_batch(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise ConnectionError("database went away")
        return real(*args, **kwargs)

    monkeypatch.setattr(importer, "do_apply_catalog_rows", crash_on_second_batch)
    with pytest.raises(ConnectionError):
        importer.run_import(catalog_import.pk, batch_size=2)
    catalog_import.refresh_from_db()
    assert (catalog_import.status, catalog_import.next_row, catalog_import.rows_done) == ("running", 2, 2)
    assert Work.objects.count() == 2
    # A redelivered task while the claim is live does nothing; after the claim expires it resumes.
    monkeypatch.setattr(importer, "do_apply_catalog_rows", real)
    assert importer.run_import(catalog_import.pk, batch_size=2) == "running"
    CatalogImport.objects.filter(pk=catalog_import.pk).update(claimed_until="2000-01-01T00:00:00Z")
    assert importer.requeue_stale_imports() == [catalog_import.pk]  # eager: the re-queued task ran
    catalog_import.refresh_from_db()
    assert catalog_import.status == "completed" and catalog_import.rows_created == 4
    assert Work.objects.count() == 4 and ImportRowError.objects.count() == 0


def test_a_json_lines_row_with_nan_or_infinity_is_rejected_as_invalid_json_and_the_other_rows_commit(
        catalog_admin, operator_org, django_capture_on_commit_callbacks):
    # Python's json reads NaN and Infinity; JSON does not, and a ledger payload could not carry them.
    data = (b'{"work_id": "N-1", "title": "Fine", "tempo": 96.5}\n'
            b'{"work_id": "N-2", "title": "Not a number", "tempo": NaN}\n'
            b'{"work_id": "N-3", "title": "Endless", "length": -Infinity}\n')
    catalog_import = run(catalog_admin, "nan.jsonl", data, django_capture_on_commit_callbacks, "nan")
    assert (catalog_import.status, catalog_import.rows_created, catalog_import.rows_rejected) == ("completed", 1, 2)
    errors = list(ImportRowError.objects.filter(catalog_import=catalog_import).order_by("row")
                  .values_list("row", "code", "message"))
    assert [(row, code) for row, code, _ in errors] == [(2, "invalid_json"), (3, "invalid_json")]
    assert "NaN" in errors[0][2] and "-Infinity" in errors[1][2]
    assert Work.objects.get(source_key="N-1").source_metadata["tempo"] == "96.5"


def test_works_written_by_the_bulk_path_read_back_as_the_orm_would_have_written_them(operator_org):
    from tests.licensing.catalog_helpers import load_catalog, small_catalog

    load_catalog(small_catalog(), operator=operator_org)
    work = Work.objects.get(source_key="NL-001")
    # Fields the import does not set take the model's defaults; JSON columns hold JSON, not strings.
    assert work.updated_ledger_index is None and work.asset_size is None and work.asset.name == ""
    assert work.inband == {} and isinstance(work.style_tags, list) and isinstance(work.source_metadata, dict)
    assert work.created_at == work.updated_at and work.ledger_index > 0
    assert Work.objects.filter(inband={}, source_metadata__notes="first cue").get() == work



def _last_vacuum(table):
    with connection.cursor() as cursor:
        cursor.execute("SELECT last_vacuum, last_analyze FROM pg_stat_user_tables WHERE relname = %s", [table])
        return cursor.fetchone()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="VACUUM is PostgreSQL's")
@pytest.mark.django_db(transaction=True)
def test_a_large_import_is_followed_by_vacuum_analyze_of_the_catalog_tables(catalog_admin, operator_org, settings):
    settings.CLEARCUE_IMPORT_VACUUM_ROWS = 4  # small.csv writes 4 works
    response = upload(catalog_admin, "small.csv", (ASSETS / "catalog" / "small.csv").read_bytes())
    assert response.status_code == 202, response.json()
    assert importer.run_import(response.json()["id"]) == "completed"  # run here unless it already ran in-process
    for table in importer.CATALOG_TABLES:
        last_vacuum, last_analyze = _last_vacuum(table)
        assert last_vacuum is not None and last_analyze is not None, table
    # Below the threshold, and inside a transaction (where VACUUM cannot run), nothing is done.
    assert importer.refresh_statistics(3) is False
    with transaction.atomic():
        assert importer.refresh_statistics(10) is False
