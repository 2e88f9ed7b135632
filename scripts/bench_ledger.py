#!/usr/bin/env python
"""Ledger benchmark on PostgreSQL: prints figures, each beside the raw limit measured in the same run.

    .venv/bin/python scripts/bench_ledger.py [--appends 100000] [--sizes 1000000,10000000]

Creates a scratch database (dropped at the end) on the server named by DATABASE_URL (default: the local
PostgreSQL), migrates it, then measures:
  1. batched appends through do_append_ledger_entries (the writers' path) vs. hashing alone and vs. a
     plain bulk INSERT of the same rows; and the cost of single-entry appends (one per transaction);
  2. inclusion and consistency proofs (the API's read path) at each synthetic size;
  3. full verification (verify_ledger) vs. reading + hashing the same rows with nothing else.
Synthetic logs are written with COPY (entries + every complete subtree), as a real log of that size would be.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
import uuid
from hashlib import sha256
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _scratch_database() -> tuple[str, str]:
    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    parts = urlsplit(base)
    name = f"clearcue_bench_{uuid.uuid4().hex[:8]}"
    admin = urlunsplit(parts._replace(path="/postgres"))
    return name, urlunsplit(parts._replace(path=f"/{name}")), admin  # type: ignore[return-value]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--appends", type=int, default=100_000, help="entries appended through the action")
    parser.add_argument("--batch", type=int, default=1000, help="entries per transaction for batched appends")
    parser.add_argument("--singles", type=int, default=1000, help="single-entry appends (one transaction each)")
    parser.add_argument("--sizes", default="1000000,10000000", help="synthetic log sizes for proofs/verification")
    parser.add_argument("--proofs", type=int, default=2000, help="proofs timed per size and kind")
    parser.add_argument("--verify-max", type=int, default=1_000_000, help="run full verification up to this size")
    args = parser.parse_args()

    import psycopg

    name, url, admin = _scratch_database()
    with psycopg.connect(admin.replace("postgres://", "postgresql://"), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clearcue.settings")
    os.environ.setdefault("CLEARCUE_LOG_LEVEL", "WARNING")
    try:
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        run(args)
    finally:
        from django.db import connections

        connections.close_all()
        with psycopg.connect(admin.replace("postgres://", "postgresql://"), autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def payload(i: int) -> bytes:
    """A realistic ~230-byte canonical entry payload."""
    return (
        '{"actor":{"name":"system:bench","organization_id":null,"user_id":null},"data":{"license_id":'
        f'{i},"territories":["WORLD"],"uses":["ai_training","style_reference"],"work_id":{i * 7}}},'
        f'"request_id":"bench","subject":{{"id":"{i}","type":"licensing.license"}},'
        '"time":"2026-11-21T12:00:00.000000Z","type":"license.granted","v":1}'
    ).encode()


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) of values."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def line(label: str, value: str, raw: str = "") -> None:
    print(f"  {label:<52} {value:>22}   {raw}")


def run(args: argparse.Namespace) -> None:
    from django.db import connection, transaction

    from licensing import ledger, merkle
    from licensing.actions import do_append_ledger_entries
    from licensing.ledger import Actor, EntryDraft

    print(f"PostgreSQL {connection.pg_version // 10000}, python {sys.version.split()[0]}, "
          f"{os.cpu_count()} cores")

    # --- 1. appends ------------------------------------------------------------------------------------
    print("\n1. Appends")
    n = args.appends
    payloads = [payload(i) for i in range(n)]
    t = time.perf_counter()
    for p in payloads:
        sha256(b"\x00" + p).digest()
    hash_rate = n / (time.perf_counter() - t)

    with connection.cursor() as cur:
        cur.execute("CREATE TABLE bench_raw (LIKE licensing_ledgerentry INCLUDING ALL)")
    t = time.perf_counter()
    for start in range(0, n, args.batch):
        rows = [(i, "license.granted", "system:bench", "bench", "licensing.license", str(i), payloads[i],
                 sha256(b"\x00" + payloads[i]).digest()) for i in range(start, min(n, start + args.batch))]
        with transaction.atomic(), connection.cursor() as cur:
            cur.executemany(
                "INSERT INTO bench_raw (leaf_index, entry_type, created_at, actor_name, request_id, subject_type,"
                " subject_id, payload, leaf_hash) VALUES (%s, %s, now(), %s, %s, %s, %s, %s, %s)", rows)
    raw_insert_rate = n / (time.perf_counter() - t)

    actor = Actor.system("bench")
    drafts = [EntryDraft("license.granted", {"license_id": i, "work_id": i * 7, "uses": ["ai_training"],
                                             "territories": ["WORLD"]}, "licensing.license", str(i))
              for i in range(n)]
    t = time.perf_counter()
    for start in range(0, n, args.batch):
        with transaction.atomic():
            do_append_ledger_entries(drafts[start:start + args.batch], actor=actor)
    append_rate = n / (time.perf_counter() - t)
    line(f"batched append ({args.batch}/transaction)", f"{append_rate:,.0f} entries/s",
         f"raw: SHA-256 alone {hash_rate:,.0f}/s; plain INSERT of same rows {raw_insert_rate:,.0f}/s")

    single_ms = []
    for i in range(args.singles):
        t = time.perf_counter()
        with transaction.atomic():
            do_append_ledger_entries([drafts[i]], actor=actor)
        single_ms.append((time.perf_counter() - t) * 1000)
    raw_single = []
    for i in range(args.singles):
        t = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute("INSERT INTO bench_raw (leaf_index, entry_type, created_at, actor_name, request_id, "
                        "subject_type, subject_id, payload, leaf_hash) VALUES (%s, 'x', now(), '', '', '', '', %s, %s)",
                        [n + i, payloads[i], os.urandom(32)])
        raw_single.append((time.perf_counter() - t) * 1000)
    line("single-entry append (own transaction) p50 / p99",
         f"{statistics.median(single_ms):.2f} / {pct(single_ms, 99):.2f} ms",
         f"raw: one-row INSERT transaction p50 {statistics.median(raw_single):.2f} ms")
    report = ledger.verify_ledger(verifier_keys=[])
    assert report.ok, report

    # --- 2/3. synthetic sizes: proofs and verification --------------------------------------------------
    with connection.cursor() as cur:
        cur.execute("DROP TABLE bench_raw")
        for table in ("licensing_ledgerentry", "licensing_ledgernode"):
            cur.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
            cur.execute(f"TRUNCATE {table}")
            cur.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")
    size = 0
    peaks: dict[merkle.NodeId, bytes] = {}
    for target in [int(s) for s in args.sizes.split(",") if s]:
        print(f"\n2. Synthetic log of {target:,} entries")
        t = time.perf_counter()
        size, peaks = grow_synthetic(size, target, peaks)
        print(f"  (written with COPY in {time.perf_counter() - t:.0f} s)")
        rng = random.Random(target)
        inc_ms, con_ms = [], []
        for _ in range(args.proofs):
            index = rng.randrange(size)
            t = time.perf_counter()
            ledger.inclusion_proof(index, size)
            inc_ms.append((time.perf_counter() - t) * 1000)
            first = rng.randrange(1, size)
            t = time.perf_counter()
            ledger.consistency_proof(first, size)
            con_ms.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        for _ in range(args.proofs):
            with connection.cursor() as cur:
                cur.execute("SELECT 1")
        roundtrip = (time.perf_counter() - t) * 1000 / args.proofs
        line("inclusion proof p50 / p99", f"{statistics.median(inc_ms):.2f} / {pct(inc_ms, 99):.2f} ms",
             f"raw: one DB round trip {roundtrip:.3f} ms")
        line("consistency proof p50 / p99", f"{statistics.median(con_ms):.2f} / {pct(con_ms, 99):.2f} ms",
             "(2 indexed queries each)")
        if size <= args.verify_max:
            print("\n3. Full verification")
            t = time.perf_counter()
            rows = 0
            for _index, p, _h in ledger._iter_entries(20_000):
                sha256(b"\x00" + p).digest()
                rows += 1
            raw_rate = rows / (time.perf_counter() - t)
            t = time.perf_counter()
            report = ledger.verify_ledger(verifier_keys=[])
            seconds = time.perf_counter() - t
            assert report.ok, report
            line(f"verify_ledger at {size:,}", f"{size / seconds:,.0f} entries/s",
                 f"raw: read + hash the same rows {raw_rate:,.0f}/s; {report.nodes:,} subtree hashes checked")


def grow_synthetic(size: int, target: int, peaks: dict) -> tuple[int, dict]:
    """Append synthetic entries [size, target) with COPY, with every complete subtree; return new size, peaks."""
    from django.db import connection, transaction

    from licensing import merkle
    from licensing.models import LedgerHead, node_key_of

    chunk = 250_000
    with transaction.atomic():
        raw = connection.connection
        while size < target:
            end = min(target, size + chunk)
            payloads = [payload(i) for i in range(size, end)]
            hashes = [sha256(b"\x00" + p).digest() for p in payloads]
            edge = dict(peaks)
            created = merkle.nodes_to_store_on_batch_append(size, hashes, lambda ids, edge=edge: edge)
            with raw.cursor() as cur:
                with cur.copy("COPY licensing_ledgerentry (leaf_index, entry_type, created_at, actor_name, "
                              "request_id, subject_type, subject_id, payload, leaf_hash) FROM STDIN") as copy:
                    for offset, (p, h) in enumerate(zip(payloads, hashes, strict=True)):
                        i = size + offset
                        copy.write_row((i, "license.granted", "2026-11-21T12:00:00Z", "system:bench", "bench",
                                        "licensing.license", str(i), p, h))
                with cur.copy("COPY licensing_ledgernode (key, hash) FROM STDIN") as copy:
                    for node, digest in created:
                        if node[0] > 0:
                            copy.write_row((node_key_of(node), digest))
            everything = dict(peaks)
            everything.update(created)
            size = end
            peaks = {node: everything[node] for node in merkle.root_node_ids(size)}
        LedgerHead.objects.filter(pk=1).update(size=size, root_hash=merkle.root_from_nodes(size, peaks))
    with connection.cursor() as cur:
        cur.execute("ANALYZE licensing_ledgerentry")
        cur.execute("ANALYZE licensing_ledgernode")
    return size, peaks


if __name__ == "__main__":
    main()
