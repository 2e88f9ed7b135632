#!/usr/bin/env python
"""Catalog benchmark on PostgreSQL: ingestion beside raw COPY of the same rows, and rights evaluation.

    .venv/bin/python scripts/bench_catalog.py [--works 1000000] [--licenses 100000] [--optouts 100000]

Creates a scratch database (dropped at the end) on the server named by DATABASE_URL (default: the local
PostgreSQL), migrates it, then measures:
  1. ingestion of a synthetic CSV catalog through the real import path (parse + validate + apply in
     committed batches, a ledger entry per work and per license, then VACUUM ANALYZE of the catalog tables)
     in rows/s, with its pace at the start, middle and end; then raw COPY of exactly the rows
     that import wrote (works, creators, tags, identifiers, licenses, license links, parties, ledger entries and
     nodes), read back and copied into empty twin tables, in the same run: the database's own write limit;
     and once more into twins that also carry the tables' deferred foreign keys (the checks the import pays);
  2. registration of opt-outs through do_register_optouts (subjects: works, parties, creator names, ISCCs),
     then VACUUM ANALYZE (what autovacuum would do; it is off on this machine's server);
  3. evaluate() over every work for one use/territory/time (verdicts; then with the licenses and opt-outs
     behind every denied verdict), and over 1,000 and 10,000 works (p50/p95 of repeated calls).

    --keep leaves the scratch database; --evaluate-only NAME reruns step 3 on it.
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TABLES = ["licensing_party", "licensing_collection", "licensing_work", "licensing_workcreator",
          "licensing_worktag", "licensing_workidentifier", "licensing_license", "licensing_licensework",
          "licensing_ledgerentry", "licensing_ledgernode"]


def synthetic_catalog(works: int, licenses: int, seed: int = 7) -> bytes:
    """CSV: works spread over licenses (consecutive rows share a license_ref), parties, tags, identifiers."""
    rng = random.Random(seed)
    per_license = max(1, works // max(1, licenses))
    holders = max(1, works // 100)
    out = io.StringIO()
    out.write("work_id,title,creators,catalog_number,style_tags,rights_holder,license_ref,license_uses,"
              "license_territories,license_excluded_territories,license_valid_from,license_valid_until\n")
    uses_options = ["ai_training; style_reference; derivative_generation; commercial_output",
                    "ai_training; non_commercial_output", "style_reference; commercial_output"]
    for i in range(works):
        lic = i // per_license
        holder = lic % holders
        lrng = random.Random(lic * 7919 + seed)
        uses = uses_options[lrng.randrange(len(uses_options))]
        territories, excluded = ("WORLD", "CN") if lrng.random() < 0.8 else ("US; CA; GB", "")
        until = "2030-01-01" if lrng.random() < 0.9 else "2026-03-01"
        out.write(f"W{i:08d},Synthetic cue {i},composer:Composer {rng.randrange(holders * 2)},CAT-{i},"
                  f"period:p{i % 7}; mood:m{i % 13},Holder {holder},L{lic:07d},{uses},{territories},{excluded},"
                  f"2025-01-01,{until}\n")
    return out.getvalue().encode()


class _BatchLog(logging.Handler):
    """Collects the importer's per-batch timings (rows, seconds, of which parsing) to show how the import's
    pace changes as the catalog grows."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.batches: list[tuple[int, float, float]] = []

    def emit(self, record: logging.LogRecord) -> None:
        if hasattr(record, "batch_rows"):  # the importer's per-batch line carries its figures as attributes
            self.batches.append((record.batch_rows, record.batch_seconds, record.parse_seconds))

    def report(self, elapsed: float) -> None:
        if not self.batches:
            return
        tenth = max(1, len(self.batches) // 10)
        parts = []
        for name, chunk in (("first 10%", self.batches[:tenth]), ("middle 10%", self.batches[
                len(self.batches) // 2 - tenth // 2:][:tenth]), ("last 10%", self.batches[-tenth:])):
            rows, seconds, parse = (sum(x[i] for x in chunk) for i in range(3))
            parts.append(f"{name} {rows / seconds:,.0f} rows/s (parse {100 * parse / seconds:.0f}%)")
        batched = sum(x[1] for x in self.batches)
        line("  pace as the catalog grows", "; ".join(parts),
             f"batches {batched:.1f} s of {elapsed:.1f} s (the rest: upload check, VACUUM ANALYZE)")


def _scratch_database() -> tuple[str, str, str]:
    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    parts = urlsplit(base)
    name = f"clearcue_bench_{uuid.uuid4().hex[:8]}"
    return name, urlunsplit(parts._replace(path=f"/{name}")), urlunsplit(parts._replace(path="/postgres"))


def line(label: str, value: str, raw: str = "") -> None:
    print(f"  {label:<52} {value:>24}   {raw}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--works", type=int, default=1_000_000)
    parser.add_argument("--licenses", type=int, default=100_000)
    parser.add_argument("--optouts", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=5000, help="rows per committed import batch")
    parser.add_argument("--small", type=int, default=1000, help="work-set size of the small evaluation")
    parser.add_argument("--repeat", type=int, default=30, help="timed calls of the small evaluation")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database (prints its URL)")
    parser.add_argument("--evaluate-only", metavar="DATABASE",
                        help="only the evaluation figures, on a database an earlier --keep run left")
    args = parser.parse_args()

    import psycopg

    name, url, admin = _scratch_database()
    if args.evaluate_only:
        name, args.keep = args.evaluate_only, True
        url = urlunsplit(urlsplit(url)._replace(path=f"/{name}"))
    else:
        with psycopg.connect(admin.replace("postgres://", "postgresql://"), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clearcue.settings")
    os.environ.setdefault("CLEARCUE_LOG_LEVEL", "WARNING")
    os.environ.setdefault("CLEARCUE_DATA_DIR", tempfile.mkdtemp(prefix=name))
    try:
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        if args.evaluate_only:
            evaluation_figures(args, random.Random(11))
        else:
            run(args)
    finally:
        from django.db import connections

        connections.close_all()
        if args.keep:
            print(f"\nkept: DATABASE_URL={url}")
        else:
            with psycopg.connect(admin.replace("postgres://", "postgresql://"), autocommit=True) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def run(args: argparse.Namespace) -> None:
    from django.conf import settings
    from django.db import connection, transaction

    from clearcue.actions import do_create_organization
    from licensing import actions, importer
    from licensing.actions import do_register_optouts
    from licensing.ledger import Actor
    from licensing.models import Party, Work, WorkCreator
    from licensing.terms import Reservation, ReservedUse, Source, Subject, SubjectKind

    print(f"PostgreSQL {connection.pg_version // 10000}, python {sys.version.split()[0]}, {os.cpu_count()} cores; "
          f"{args.works:,} works, ~{args.licenses:,} licenses, {args.optouts:,} opt-outs", flush=True)
    operator = do_create_organization(name="Operator", slug="operator", is_operator=True, actor=None)

    # --- 1. ingestion vs raw COPY ------------------------------------------------------------------------------
    print("\n1. Ingestion", flush=True)
    t = time.perf_counter()
    data = synthetic_catalog(args.works, args.licenses)
    line("synthetic CSV generated", f"{len(data) / 1e6:,.0f} MB", f"{time.perf_counter() - t:.1f} s")
    settings.CLEARCUE_IMPORT_BATCH_SIZE = args.batch
    batches = _BatchLog()
    importer_log = logging.getLogger("licensing.importer")
    importer_log.addHandler(batches)
    importer_log.setLevel(logging.INFO)
    importer_log.propagate = False  # collected, not printed
    t = time.perf_counter()
    # Upload check + the import itself (run in-process: the embedded default executes the task on commit).
    catalog_import = actions.do_create_catalog_import(organization=operator, user=None, data=data,
                                                       file_format="csv", collection_slug="synthetic")
    status = importer.run_import(catalog_import.pk)
    elapsed = time.perf_counter() - t
    catalog_import.refresh_from_db()
    assert status == "completed" and catalog_import.rows_rejected == 0, (status, catalog_import.failure)
    ingest_rate = args.works / elapsed
    line("import (parse, validate, apply, ledger)", f"{ingest_rate:,.0f} rows/s",
         f"{elapsed:.1f} s; {catalog_import.licenses_created:,} licenses")
    batches.report(elapsed)

    with connection.cursor() as cur:
        counts = {}
        for table in TABLES:
            cur.execute(f"SELECT count(*) FROM {table}")
            counts[table] = cur.fetchone()[0]
            cur.execute(f"CREATE TABLE bench_{table} (LIKE {table} INCLUDING ALL)")
            cur.execute(f"CREATE TABLE benchfk_{table} (LIKE {table} INCLUDING ALL)")
        # The second twin set also carries the tables' foreign keys, as Django declares them (DEFERRABLE
        # INITIALLY DEFERRED, so PostgreSQL checks every inserted row at commit): the same integrity checks
        # the import pays, pointing at the twins where the referenced table is one of them.
        for table in TABLES:
            cur.execute("SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                        "WHERE conrelid = %s::regclass AND contype = 'f' ORDER BY conname", [table])
            for name, definition in cur.fetchall():
                for target in TABLES:
                    definition = definition.replace(f"REFERENCES {target}(", f"REFERENCES benchfk_{target}(")
                constraint = f"b_{name}"[:63]  # PostgreSQL identifiers stop at 63 bytes
                cur.execute(f'ALTER TABLE benchfk_{table} ADD CONSTRAINT "{constraint}" {definition}')
    buffers = {}
    for table in TABLES:
        buf = io.BytesIO()
        with connection.cursor() as cur, cur.copy(f"COPY {table} TO STDOUT (FORMAT binary)") as copy:
            for chunk in copy:
                buf.write(chunk)
        buffers[table] = buf.getvalue()
    t = time.perf_counter()
    for table in TABLES:
        with connection.cursor() as cur, cur.copy(f"COPY bench_{table} FROM STDIN (FORMAT binary)") as copy:
            copy.write(buffers[table])
    connection.commit() if not connection.get_autocommit() else None
    copy_elapsed = time.perf_counter() - t
    copy_rate = args.works / copy_elapsed
    total_rows = sum(counts.values())
    line("raw COPY of the same rows (all tables)", f"{copy_rate:,.0f} works/s",
         f"{copy_elapsed:.1f} s for {total_rows:,} rows in {len(TABLES)} tables")
    line("ingestion / raw COPY", f"{100 * ingest_rate / copy_rate:.0f}%", "goal >= 50%")
    t = time.perf_counter()
    with transaction.atomic():  # one commit, where the deferred foreign-key checks run, as in an import batch
        for table in TABLES:
            with connection.cursor() as cur, cur.copy(f"COPY benchfk_{table} FROM STDIN (FORMAT binary)") as copy:
                copy.write(buffers[table])
    fk_elapsed = time.perf_counter() - t
    fk_rate = args.works / fk_elapsed
    line("raw COPY, twins with the same foreign keys", f"{fk_rate:,.0f} works/s",
         f"{fk_elapsed:.1f} s (checked per row at commit)")
    line("ingestion / raw COPY with foreign keys", f"{100 * ingest_rate / fk_rate:.0f}%")
    # Drop the twins now: they are ~17M fresh rows that autovacuum would work through while the steps below
    # are timed.
    del buffers
    with connection.cursor() as cur:
        for table in reversed(TABLES):
            cur.execute(f"DROP TABLE benchfk_{table}, bench_{table}")

    # --- 2. opt-outs ----------------------------------------------------------------------------------------------
    print("\n2. Opt-outs", flush=True)
    rng = random.Random(11)
    work_ids = list(Work.objects.order_by("id").values_list("id", flat=True))
    party_ids = list(Party.objects.values_list("id", flat=True))
    names = list(WorkCreator.objects.values_list("name_normalized", flat=True).distinct()[:5000])
    reservations = []
    for i in range(args.optouts):
        kind = i % 100  # mostly single works; a few whole parties and creator names (they cover many works)
        if kind < 90:
            subject = Subject(SubjectKind.WORK, str(rng.choice(work_ids)))
        elif kind < 91:
            subject = Subject(SubjectKind.PARTY, str(rng.choice(party_ids)))
        elif kind < 92:
            subject = Subject(SubjectKind.CREATOR_NAME, rng.choice(names))
        else:
            subject = Subject(SubjectKind.ISCC, f"ISCC:GAA{uuid.UUID(int=rng.getrandbits(128)).hex[:13].upper()}")
        uses = frozenset({rng.choice([ReservedUse.AI_TRAINING, ReservedUse.AI_INFERENCE, ReservedUse.ALL])})
        reservations.append(Reservation(subject=subject, uses=uses, source=Source.DIRECT,
                                        evidence={"bench": i}, effective_from=datetime(2025, 6, 1, tzinfo=UTC)))
    t = time.perf_counter()
    for start in range(0, len(reservations), 10_000):
        do_register_optouts(reservations[start:start + 10_000], actor=Actor.system("bench"))
    elapsed = time.perf_counter() - t
    line("register opt-outs (10k per transaction)", f"{len(reservations) / elapsed:,.0f} opt-outs/s",
         f"{elapsed:.1f} s")
    # What autovacuum does after a bulk load (it is off on this machine's server): statistics, and the visibility
    # map that lets evaluation read licenses and opt-outs from covering indexes alone. The import already did this
    # for the catalog tables (licensing.importer.refresh_statistics, inside its timed run); the opt-out matches
    # are new since.
    t = time.perf_counter()
    with connection.cursor() as cur:
        cur.execute("VACUUM (ANALYZE)")
    line("VACUUM (ANALYZE), whole database", f"{time.perf_counter() - t:.1f} s")

    evaluation_figures(args, rng)


def evaluation_figures(args: argparse.Namespace, rng: random.Random) -> None:
    """3. evaluate() over every work, with and without reading the details of every denied work, and over
    small random samples (p50/p95)."""
    from licensing import rights
    from licensing.models import Work

    work_ids = list(Work.objects.order_by("id").values_list("id", flat=True))
    print("\n3. Rights evaluation (ai_training, DE, 2026-06-01)", flush=True)
    at = datetime(2026, 6, 1, tzinfo=UTC)
    timings, detailed = [], []
    for _ in range(3):
        t = time.perf_counter()
        evaluation = rights.evaluate(work_ids, "ai_training", "DE", at)
        allowed = len(evaluation.allowed_ids())
        timings.append(time.perf_counter() - t)
        denied = evaluation.denied()  # every denied work's licenses and opt-outs
        detailed.append(time.perf_counter() - t)
    line(f"evaluate over {len(work_ids):,} works", f"{min(timings):.2f} s (best of 3)",
         f"median {statistics.median(timings):.2f} s; allowed {allowed:,}; {evaluation.reason_counts()}; goal <= 1 s")
    line("  + licenses and opt-outs of every denied work", f"{min(detailed):.2f} s (best of 3)",
         f"{len(denied):,} denied verdicts with details")
    for size in sorted({args.small, 10 * args.small}):
        small = []
        for _ in range(args.repeat):
            sample = rng.sample(work_ids, min(size, len(work_ids)))
            t = time.perf_counter()
            rights.evaluate(sample, "ai_training", "DE", at).denied()
            small.append((time.perf_counter() - t) * 1000)
        small.sort()
        goal = "; goal <= 20 ms" if size == 1000 else ""
        line(f"evaluate over {size:,} works (with details)", f"p50 {statistics.median(small):.1f} ms",
             f"p95 {small[int(0.95 * (len(small) - 1))]:.1f} ms{goal}")

if __name__ == "__main__":
    main()
