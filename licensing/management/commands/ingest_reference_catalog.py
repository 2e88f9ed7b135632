"""Ingest the music21 corpus as Clearcue's reference catalog, with rights read from the files themselves."""

from __future__ import annotations

import json
import time
from collections import Counter
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Count

from clearcue.exceptions import DomainError
from clearcue.tenancy import operator_organization
from licensing import actions, importer
from licensing.models import CatalogImport, License, Work

COLLECTION = "music21-corpus"


def catalog_rows(*, only: set[str] | None = None, limit: int | None = None, as_of_year: int) -> list[dict[str, Any]]:
    """One catalog row per corpus file: metadata from the survey, rights context of its directory.

    The rights themselves are not taken from the survey: ingestion reads them from each asset again (the
    same readers and classifier any catalog upload goes through), so the catalog proves the path.
    """
    from licensing import inband
    from licensing.reference_corpus import COLLECTIONS, Collection, _work, _work_paths, music21_corpus_root

    root = music21_corpus_root()
    rows = []
    for path in _work_paths(root):
        top = path.relative_to(root).parts[0]
        if only and top not in only:
            continue
        work = _work(path, root, inband.license_file_statements(path, root), as_of_year)
        context = COLLECTIONS.get(top, Collection())
        tags = [f"{kind}:{value}"[:150] for kind, values in work.style_tags.items() for value in values
                if value.strip()]
        row: dict[str, Any] = {
            "work_id": work.relative_path, "title": work.title[:500], "format": work.format,
            "media_type": "symbolic", "asset": work.relative_path, "style_tags": sorted(set(t.lower() for t in tags)),
            "creators": [{"name": c.name[:300], "role": c.role.replace(" ", "_")} for c in work.creators
                         if c.name.strip()],
        }
        if context.period:
            row["period"] = context.period
        if context.composer:
            row["default_composer"] = context.composer
        if context.source is not None:
            row["source_collection"] = context.source.name
            if context.source.published is not None:
                row["published"] = str(context.source.published)
        rows.append(row)
        if limit and len(rows) >= limit:
            break
    return rows


class Command(BaseCommand):
    help = "Ingest the music21 corpus (the reference catalog) through the catalog import path."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--only", default="", help="comma-separated top-level corpus directories")
        parser.add_argument("--limit", type=int, default=None, help="at most this many works")
        parser.add_argument("--as-of-year", type=int, default=None, help="year for life+70 (default: this year)")
        parser.add_argument("--queue", action="store_true",
                            help="leave the import to workers on the ingest queue and wait (default: process here)")

    def handle(self, *args: Any, **options: Any) -> None:
        from datetime import UTC, datetime

        from licensing.reference_corpus import music21_corpus_root

        try:
            operator = operator_organization()
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        year = options["as_of_year"] or datetime.now(UTC).year
        only = {part.strip() for part in options["only"].split(",") if part.strip()} or None
        started = time.perf_counter()
        rows = catalog_rows(only=only, limit=options["limit"], as_of_year=year)
        data = "\n".join(json.dumps(r, ensure_ascii=False) for r in rows).encode()
        try:
            catalog_import = actions.do_create_catalog_import(
                organization=operator, user=None, data=data, file_format="jsonl", collection_slug=COLLECTION,
                collection_name="music21 corpus (reference catalog)", assets_dir=str(music21_corpus_root()))
        except DomainError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from exc
        if not options["queue"] or settings.CELERY_TASK_ALWAYS_EAGER:
            # Process it here (a no-op if a worker or the on-commit hook already did: the claim makes it so).
            importer.run_import(catalog_import.pk)
        catalog_import = importer.wait_seconds(CatalogImport.objects.get(pk=catalog_import.pk))
        elapsed = time.perf_counter() - started
        self.stdout.write(
            f"import {catalog_import.pk}: {catalog_import.status} in {elapsed:.1f} s; rows {catalog_import.total_rows}"
            f" (created {catalog_import.rows_created}, updated {catalog_import.rows_updated}, unchanged "
            f"{catalog_import.rows_unchanged}, rejected {catalog_import.rows_rejected}); licenses created "
            f"{catalog_import.licenses_created}")
        works = Work.objects.filter(collection__slug=COLLECTION)
        statuses = Counter(dict(works.values_list("rights_status").annotate(n=Count("id")).values_list(
            "rights_status", "n")))
        self.stdout.write("rights stated by the files: " + ", ".join(f"{k} {v}" for k, v in sorted(statuses.items())))
        for license in License.objects.filter(source__origin="inband").annotate(n=Count("work_links")).order_by("-n"):
            self.stdout.write(f"  license {license.pk}: {license.name} ({license.basis}) from {license.licensor}, "
                              f"{license.n} works")
        if catalog_import.status != "completed":
            raise CommandError(f"import failed: {catalog_import.failure}")
