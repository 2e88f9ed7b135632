#!/usr/bin/env python
"""Benchmark the license chain: graph build + digest, and impact analysis over many outputs. Prints figures.

    .venv/bin/python scripts/bench_chain.py [--works 1000000] [--db-works 100000] [--outputs 100000] [--quick]

Part 1 (pure, provenance.graph): a synthetic training manifest of --works works (one license per 1,000 works,
a rights holder per 100) is hashed once by the streaming writer (the one-time cost per manifest, cached in
`TrainingGraph`); then an output graph of a job of that model, with a style reference listing 100 works, is built
and digested 50 times (the per-output cost the issue bounds at 1 s for a 1M-work model).

Part 2 (PostgreSQL, a scratch database named after this run and dropped at the end; DATABASE_URL's server, default
the local one): the same chain written straight into the tables (bulk inserts): --db-works works in one training
manifest cleared by 100 licenses, a model, --outputs sealed jobs of that model with one output each. It measures
reading the manifest's training graph from the database and digesting it (`chain.training_graph_record`), and
the impact analysis of one revoked license (`impact.of_license`) and of one work (`impact.of_works`).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def line(label: str, value: str) -> None:
    print(f"  {label:<60} {value:>20}", flush=True)


def part1(works: int) -> None:
    from provenance import graph as g

    print(f"Part 1: graph build + digest, {works:,}-work model (pure)")
    manifest = g.ManifestFact("bench@1", "ab" * 32, "clearcue.manifest-record.v1", "US", works, 7)
    licenses = {f"lic/{i:05d}": g.LicenseFact(f"lic/{i:05d}", "agreement", f"label-{i % 50:03d}",
                                              ("ai_training", "style_reference"), 100 + i)
                for i in range(max(1, works // 1000))}
    holders = max(1, works // 100)
    parties = {f"label-{i:03d}": g.PartyFact(f"label-{i:03d}", f"Label {i}", 10 + i) for i in range(50)}
    parties |= {f"holder-{i:07d}": g.PartyFact(f"holder-{i:07d}", f"Holder {i}", 10_000 + i) for i in range(holders)}
    lic_keys = sorted(licenses)

    def rows() -> Iterator[g.TrainingRow]:
        for i in range(works):
            yield g.TrainingRow(f"catalog/work-{i:08d}", hashlib.sha256(str(i).encode()).hexdigest(),
                                lic_keys[i % len(lic_keys)], "agreement", 1_000_000 + i,
                                holder=f"holder-{i % holders:07d}")
    started = time.perf_counter()
    summary = g.training_summary(manifest, rows, licenses, parties)
    line("training graph streamed + digested (once per manifest)", f"{time.perf_counter() - started:.2f} s")
    line("  nodes / links", f"{summary.works + summary.licenses + summary.parties + 1:,} / {summary.links:,}")
    style = g.StyleFact("tag", "composer:label 1", tuple(
        g.StyleWork(f"catalog/work-{i:08d}", 1_000_000 + i, lic_keys[i % len(lic_keys)], f"holder-{i % holders:07d}")
        for i in range(0, 100_000, 1_000)))
    used = {w.license for w in style.works}
    facts = g.OutputFacts(
        job="studio/bench-1", job_ledger_index=5_000_000, organization="studio", territory="US", use="commercial",
        created_at="2026-11-21T10:00:00.000000+00:00", model_slug="bench@1", model_checkpoint_sha256="cc" * 32,
        model_ledger_index=8, manifest=manifest, training=summary,
        decisions=(g.DecisionFact("pre", True, 0, (), 5_000_001), g.DecisionFact("post", True, 0, (), 5_000_002)),
        styles=(style,), licenses={k: licenses[k] for k in used},
        parties={p: parties[p] for p in {w.holder for w in style.works} | {licenses[k].licensor for k in used}},
        watermark={"alg": "com.clearcue.audio-watermark.keyed.1", "value": 42, "ledger_index": 5_000_003},
        formats=("wav", "midi", "musicxml"))
    times = []
    for _ in range(50):
        started = time.perf_counter()
        output = g.output_graph(facts)
        g.digest(output)
        g.manifest_assertion(output)
        times.append(time.perf_counter() - started)
    line("output graph build + digest + manifest assertion, median", f"{statistics.median(times) * 1000:.2f} ms")
    line("  p95 (50 runs)", f"{sorted(times)[47] * 1000:.2f} ms")


def part2(db_works: int, outputs: int) -> None:
    import psycopg

    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    parts = urlsplit(base)
    name = f"clearcue_bench_{uuid.uuid4().hex[:8]}"
    admin = urlunsplit(parts._replace(path="/postgres")).replace("postgres://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    os.environ["DATABASE_URL"] = urlunsplit(parts._replace(path=f"/{name}"))
    os.environ["DJANGO_SETTINGS_MODULE"] = "clearcue.settings"
    os.environ["CLEARCUE_DATA_DIR"] = tempfile.mkdtemp(prefix=f"{name}_")
    os.environ.setdefault("CLEARCUE_LOG_LEVEL", "WARNING")
    try:
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        _part2(db_works, outputs)
    finally:
        from django.db import connections

        connections.close_all()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _part2(db_works: int, outputs: int) -> None:
    from clearcue.models import Organization
    from generation.models import GenerationModel, Job, JobOutput, ManifestEntry, TrainingManifest
    from licensing.models import Collection, License, Party, Work
    from provenance import chain, impact

    print(f"Part 2: PostgreSQL, {db_works:,} training works, {outputs:,} outputs")
    now = datetime.now(UTC)
    started = time.perf_counter()
    operator = Organization.objects.create(name="Operator", slug="operator", is_operator=True)
    client = Organization.objects.create(name="Studio", slug="studio")
    labels = Party.objects.bulk_create([Party(key=f"label-{i}", name=f"Label {i}", name_normalized=f"label {i}",
                                              created_at=now, ledger_index=i) for i in range(100)])
    collection = Collection.objects.create(slug="bench", name="Bench", created_at=now, ledger_index=200)
    licenses = License.objects.bulk_create([
        License(key=f"label-{i}/deal", licensor=labels[i], licensee=operator, scope="collection",
                scope_collection=collection, uses_mask=3, valid_from=now, created_at=now, ledger_index=300 + i)
        for i in range(100)])
    batch = 20_000
    for start in range(0, db_works, batch):
        Work.objects.bulk_create([
            Work(collection=collection, source_key=f"w{i:08d}", title=f"Work {i}", rights_holder=labels[i % 100],
                 asset_sha256=hashlib.sha256(str(i).encode()).hexdigest(), content_digest="0" * 64, created_at=now,
                 updated_at=now, ledger_index=1_000 + i) for i in range(start, min(db_works, start + batch))])
    manifest = TrainingManifest.objects.create(
        name="bench", territory="US", evaluated_at=now, ledger_size=1, work_count=db_works, merkle_root="ab" * 32,
        leaf_format="clearcue.manifest-record.v1", created_at=now, ledger_index=10_000_000)
    works = list(Work.objects.order_by("source_key").values_list("pk", "source_key", "asset_sha256",
                                                                 "rights_holder_id"))
    for start in range(0, len(works), batch):
        ManifestEntry.objects.bulk_create([
            ManifestEntry(manifest=manifest, position=start + n, work_id=pk, work_key=f"bench/{key}",
                          asset_sha256=sha, license=licenses[holder % 100 if holder else 0],
                          license_key=licenses[holder % 100 if holder else 0].key, basis="agreement")
            for n, (pk, key, sha, holder) in enumerate(works[start:start + batch])])
    model = GenerationModel.objects.create(name="bench", version="1", engine="x", checkpoint="models/x.pt",
                                           checkpoint_sha256="cc" * 32, checkpoint_size=1, manifest=manifest,
                                           created_at=now, ledger_index=10_000_001)
    for start in range(0, outputs, batch):
        jobs = Job.objects.bulk_create([
            Job(organization=client, idempotency_key=f"k{i}", request_sha256="0" * 64, description="bench",
                model=model, territory="US", use="commercial", formats=["wav"], seed=i, state="completed",
                created_at=now, updated_at=now) for i in range(start, min(outputs, start + batch))])
        JobOutput.objects.bulk_create([
            JobOutput(job=job, kind="wav", file=f"outputs/{job.pk}.wav", media_type="audio/wav",
                      sha256=hashlib.sha256(str(job.pk).encode()).hexdigest(), size=1, created_at=now,
                      ledger_index=20_000_000 + job.pk) for job in jobs])
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    line("bulk setup", f"{time.perf_counter() - started:.1f} s")

    started = time.perf_counter()
    record = chain.training_graph_record(manifest)
    line(f"training graph read from the DB + digested ({db_works:,} works, once)",
         f"{time.perf_counter() - started:.2f} s")
    line("  links", f"{record.links:,}")
    target = licenses[7]
    times = []
    for _ in range(5):
        result = impact.of_license(target)
        times.append(result.seconds)
    line(f"impact of one revoked license ({result.works:,} works), median of 5", f"{statistics.median(times):.3f} s")
    line("  models / jobs / outputs found", f"{len(result.models)} / {result.jobs:,} / {result.outputs:,}")
    times = []
    for _ in range(5):
        result = impact.of_works([works[123][0]])
        times.append(result.seconds)
    line("impact of one work, median of 5", f"{statistics.median(times):.3f} s")
    line("  models / jobs / outputs found", f"{len(result.models)} / {result.jobs:,} / {result.outputs:,}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--works", type=int, default=1_000_000)
    parser.add_argument("--db-works", type=int, default=100_000)
    parser.add_argument("--outputs", type=int, default=100_000)
    parser.add_argument("--quick", action="store_true", help="100k pure, 10k works and outputs on the database")
    parser.add_argument("--skip-db", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.works, args.db_works, args.outputs = 100_000, 10_000, 10_000
    part1(args.works)
    if not args.skip_db:
        part2(args.db_works, args.outputs)


if __name__ == "__main__":
    main()
