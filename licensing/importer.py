"""Catalog imports: accept an upload, then process it in committed batches that a crash cannot half-apply.

`licensing.actions.do_create_catalog_import` checks the file as a whole (encoding, header, format) and stores
it; nothing is stored for a file that cannot be read. `run_import` (the `licensing.ingest.run_import` task) claims the
import with a conditional update, then processes batches of rows: each batch's works, licenses, row errors,
ledger entries and the import's progress counters commit in one transaction, so a worker killed mid-batch
leaves the previous batch boundary as the resume point and a redelivered task continues from there. A
stale claim (worker gone) is re-queued by `requeue_stale_imports` (beat).
"""

from __future__ import annotations

import csv
import io
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from clearcue.exceptions import DomainError
from clearcue.tenancy import operator_organization
from licensing import catalog_format
from licensing.actions import do_append_ledger_entry, do_apply_catalog_rows
from licensing.assets import AssetError, AssetSource, open_source, prepare_asset
from licensing.catalog_format import CatalogFileError, CatalogRow, RowError
from licensing.ledger import Actor
from licensing.models import CatalogImport, EntryType, ImportRowError, ImportStatus
from licensing.prepared import PreparedRow

CLAIM_SECONDS = 300

logger = logging.getLogger(__name__)

# The catalog tables an import writes (the ledger's own tables are append-only and only ever read by index).
CATALOG_TABLES = ("licensing_party", "licensing_collection", "licensing_work", "licensing_workcreator",
                  "licensing_workidentifier", "licensing_worktag", "licensing_license", "licensing_licensework",
                  "licensing_optoutmatch")


def _claim(import_id: int) -> bool:
    """Take the import if it is queued, or running under an expired claim; False if someone else has it."""
    now = timezone.now()
    return bool(CatalogImport.objects.filter(pk=import_id).filter(
        Q(status=ImportStatus.QUEUED) | Q(status=ImportStatus.RUNNING, claimed_until__lt=now),
    ).update(status=ImportStatus.RUNNING, claimed_until=now + timedelta(seconds=CLAIM_SECONDS),
             started_at=now))


def _batches(data: bytes, file_format: str, start_after: int, size: int) -> Iterator[list[CatalogRow | list[RowError]]]:
    """Parsed rows after row `start_after`, in batches (cross-row checks see every earlier row)."""
    batch: list[CatalogRow | list[RowError]] = []
    for parsed in catalog_format.parse(data, file_format):
        number = parsed[0].row if isinstance(parsed, list) else parsed.row
        if number <= start_after:
            continue
        batch.append(parsed)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


@dataclass(frozen=True)
class Progress:
    """Where an import stands: rows done of total, throughput and time left."""

    rows_done: int
    total_rows: int
    percent: int
    rows_per_second: float | None
    eta_seconds: int | None


def progress(catalog_import: CatalogImport) -> Progress:
    """Progress figures shown by the API and the admin page."""
    done, total = catalog_import.rows_done, max(catalog_import.total_rows, 1)
    rate = eta = None
    if catalog_import.started_at and done:
        end = catalog_import.finished_at or timezone.now()
        elapsed = max((end - catalog_import.started_at).total_seconds(), 1e-3)
        rate = round(done / elapsed, 1)
        eta = 0 if catalog_import.status == ImportStatus.COMPLETED else int((total - done) / rate) if rate else None
    return Progress(done, catalog_import.total_rows, min(100, done * 100 // total), rate, eta)


def _prepare(batch: list[CatalogRow | list[RowError]], source: AssetSource | None,
             ) -> tuple[list[PreparedRow], list[RowError]]:
    prepared, errors = [], []
    for parsed in batch:
        if isinstance(parsed, list):
            errors.extend(parsed)
            continue
        if not parsed.asset:
            prepared.append(PreparedRow(parsed))
            continue
        if source is None:
            errors.append(RowError(parsed.row, "asset", "no_assets", "The row names an asset but the import has "
                                   "no assets ZIP or directory."))
            continue
        try:
            prepared.append(PreparedRow(parsed, prepare_asset(source, parsed)))
        except AssetError as exc:
            errors.append(RowError(parsed.row, "asset", exc.code, exc.message))
    return prepared, errors


def run_import(import_id: int, *, batch_size: int | None = None) -> str:
    """Process an import from where it stopped; returns its final (or current) status."""
    if not _claim(import_id):
        return CatalogImport.objects.get(pk=import_id).status
    catalog_import = CatalogImport.objects.select_related("organization", "created_by").get(pk=import_id)
    actor = Actor.of(catalog_import.created_by, catalog_import.organization)
    size = batch_size or settings.CLEARCUE_IMPORT_BATCH_SIZE
    try:
        operator = operator_organization()
        data = catalog_import.source.open("rb").read()
        zip_data = catalog_import.assets_zip.open("rb").read() if catalog_import.assets_zip else None
        source = open_source(zip_data=zip_data, directory=catalog_import.assets_dir)
        mark = time.perf_counter()
        for batch in _batches(data, catalog_import.file_format, catalog_import.next_row, size):
            parsed = time.perf_counter()
            prepared, errors = _prepare(batch, source)
            last_row = max(p[0].row if isinstance(p, list) else p.row for p in batch)
            with transaction.atomic():
                result = do_apply_catalog_rows(
                    prepared, collection_slug=catalog_import.collection_slug,
                    collection_name=catalog_import.collection_name, operator=operator, actor=actor,
                    source={"import_id": catalog_import.pk})
                errors.extend(result.rejected)
                ImportRowError.objects.bulk_create(
                    [ImportRowError(catalog_import=catalog_import, row=e.row, column=e.column[:100], code=e.code[:60],
                                    message=e.message[:1000]) for e in errors])
                rejected_rows = len({e.row for e in errors})
                CatalogImport.objects.filter(pk=import_id).update(
                    next_row=last_row, rows_done=F("rows_done") + len(batch),
                    rows_created=F("rows_created") + result.created, rows_updated=F("rows_updated") + result.updated,
                    rows_unchanged=F("rows_unchanged") + result.unchanged,
                    rows_rejected=F("rows_rejected") + rejected_rows,
                    licenses_created=F("licenses_created") + result.licenses_created,
                    claimed_until=timezone.now() + timedelta(seconds=CLAIM_SECONDS))
            now = time.perf_counter()
            logger.info("import %s: rows to %d committed, %d rows in %.3f s (parse %.3f s, apply %.3f s)",
                        import_id, last_row, len(batch), now - mark, parsed - mark, now - parsed,
                        extra={"batch_rows": len(batch), "batch_seconds": now - mark, "parse_seconds": parsed - mark})
            mark = now
            catalog_import.refresh_from_db()
        with transaction.atomic():
            catalog_import.refresh_from_db()
            do_append_ledger_entry(EntryType.CATALOG_IMPORTED, _summary(catalog_import), actor=actor,
                                   subject_type="catalog_import", subject_id=str(catalog_import.pk))
            CatalogImport.objects.filter(pk=import_id).update(status=ImportStatus.COMPLETED,
                                                              finished_at=timezone.now(), claimed_until=None)
        refresh_statistics(catalog_import.rows_created + catalog_import.rows_updated)
    except (DomainError, AssetError, CatalogFileError) as exc:
        CatalogImport.objects.filter(pk=import_id).update(status=ImportStatus.FAILED, finished_at=timezone.now(),
                                                          failure=f"{exc.code}: {exc.message}", claimed_until=None)
        return ImportStatus.FAILED
    return ImportStatus.COMPLETED


def refresh_statistics(rows_written: int) -> bool:
    """After a large import on PostgreSQL, VACUUM (ANALYZE) the catalog tables: the planner learns their new
    sizes now rather than whenever autovacuum gets there (if it runs at all: it is off on some servers), and
    the visibility map VACUUM sets is what lets rights evaluation read a work's licenses and opt-outs from
    covering indexes alone (index-only scans). Outside any transaction (VACUUM cannot run in one); best
    effort, as the import has committed. Returns whether it ran."""
    if (connection.vendor != "postgresql" or connection.in_atomic_block
            or rows_written < settings.CLEARCUE_IMPORT_VACUUM_ROWS):
        return False
    try:
        with connection.cursor() as cursor:
            cursor.execute(f"VACUUM (ANALYZE) {', '.join(CATALOG_TABLES)}")
    except DatabaseError:
        logger.warning("VACUUM after a catalog import failed", exc_info=True)
        return False
    return True


def _summary(catalog_import: CatalogImport) -> dict[str, Any]:
    return {
        "import_id": catalog_import.pk, "collection": catalog_import.collection_slug,
        "source_sha256": catalog_import.source_sha256, "format": catalog_import.file_format,
        "total_rows": catalog_import.total_rows, "created": catalog_import.rows_created,
        "updated": catalog_import.rows_updated, "unchanged": catalog_import.rows_unchanged,
        "rejected": catalog_import.rows_rejected, "licenses_created": catalog_import.licenses_created,
    }


def requeue_stale_imports() -> list[int]:
    """Re-queue imports whose worker died (running, claim expired); returns their ids."""
    from licensing.tasks import run_import as task

    stale = list(CatalogImport.objects.filter(status=ImportStatus.RUNNING, claimed_until__lt=timezone.now())
                 .values_list("pk", flat=True))
    for pk in stale:
        task.delay(pk)
    return stale


def error_report_csv(catalog_import: CatalogImport) -> str:
    """The rejected rows as CSV: row, column, code, message."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["row", "column", "code", "message"])
    for error in catalog_import.row_errors.order_by("row", "id").iterator():
        writer.writerow([error.row, error.column, error.code, error.message])
    return out.getvalue()


def wait_seconds(catalog_import: CatalogImport, timeout: float = 600.0) -> CatalogImport:
    """Poll until the import finishes (commands and tests with real workers); returns it refreshed."""
    deadline = time.monotonic() + timeout
    while True:
        catalog_import.refresh_from_db()
        if catalog_import.status in (ImportStatus.COMPLETED, ImportStatus.FAILED) or time.monotonic() > deadline:
            return catalog_import
        time.sleep(0.2)
