#!/usr/bin/env python
"""Gate benchmark on PostgreSQL: decision latency vs training-set size, incremental re-clearance, and a job load.

    .venv/bin/python scripts/bench_gate.py [--sizes 1000,10000,100000,1000000] [--licenses 100000]
                                           [--optouts 100000] [--jobs 200] [--workers 2] [--quick]

Creates a scratch database (dropped at the end) on the server named by DATABASE_URL (default: the local
PostgreSQL), migrates it, ingests three reference-corpus collections and trains a tiny model (as the job tests
do), then writes a synthetic catalog straight into the tables with COPY (the importer would take hours at this
size): parties, collections, works with their creator credits, collection licenses for the public-domain
collections and per-work licenses for the rest (up to --licenses), opt-outs (--optouts: training reservations on a
few hundred works no manifest holds, style/inference reservations on works and parties everywhere), and one
training manifest and model per --sizes entry (nested random subsets of the cleared works). Then it measures:
  1. the full pre-composition decision for a job, `gate.decide(facts.gate_facts(job, policy=current_policy()))`,
     which reads the clearance state: p50/p99 after warm-up, beside the naive full re-check of the training set
     (`clearance.naive_training_facts`) and the one-time full computation (`ensure_clearance`), per size;
  2. incremental re-clearance: one license of the largest manifest revoked (`do_revoke_license`), then
     `clearance.catch_up()`; one opt-out registered (`do_register_optouts`), then `catch_up()`;
  3. --jobs concurrent submissions (plus ~10% resubmissions of used idempotency keys) through `do_submit_job`
     from --threads threads, run by --workers real Celery workers (queues generate,seal, concurrency 1 each,
     Redis broker under a key prefix of this run only): jobs lost or duplicated, states, duplicated gate
     decisions and outputs, throughput, per-step and end-to-end latency.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import math
import os
import queue
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SCENE = "A quiet dawn over the harbour, hopeful and tender, building to a reveal at 0:08."
TERRITORY = "US"
COLLECTIONS = "josquin,leadSheet,lusitano"  # as tests/generation/studio.py: a model trained in seconds
TRAIN = ["--steps", "30", "--d-model", "32", "--layers", "1", "--batch-size", "4", "--block-size", "64"]
TERMINAL = {"completed", "denied", "failed", "cancelled"}
FULL = {"sizes": "1000,10000,100000,1000000", "licenses": 100_000, "optouts": 100_000, "jobs": 200}
QUICK = {"sizes": "1000,10000", "licenses": 10_000, "optouts": 10_000, "jobs": 40}
PD_COLLECTIONS = 8
LABEL_COLLECTIONS = 4
NEWER_COLLECTIONS = 2
PAST = datetime(2024, 1, 1, tzinfo=UTC)


def _scratch_database() -> tuple[str, str, str]:
    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    parts = urlsplit(base)
    name = f"clearcue_bench_{uuid.uuid4().hex[:8]}"
    return name, urlunsplit(parts._replace(path=f"/{name}")), urlunsplit(parts._replace(path="/postgres"))


def line(label: str, value: str, raw: str = "") -> None:
    print(f"  {label:<52} {value:>24}   {raw}", flush=True)


def progress(message: str, started: float) -> None:
    print(f"    .. {message} ({time.perf_counter() - started:.1f} s)", flush=True)


def pct(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..1)."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", help=f"training-set sizes (default {FULL['sizes']}; --quick {QUICK['sizes']})")
    parser.add_argument("--licenses", type=int, help="licenses in the catalog (default 100000; --quick 10000)")
    parser.add_argument("--optouts", type=int, help="opt-outs in the catalog (default 100000; --quick 10000)")
    parser.add_argument("--jobs", type=int, help="distinct jobs submitted in part 3 (default 200; --quick 40)")
    parser.add_argument("--quick", action="store_true", help="a small run: sizes 1000,10000, 10k licenses/opt-outs, "
                        "40 jobs")
    parser.add_argument("--decisions", type=int, default=200, help="timed gate decisions per size (after warm-up)")
    parser.add_argument("--warmup", type=int, default=10, help="untimed gate decisions per size first")
    parser.add_argument("--naive-repeat", type=int, default=3,
                        help="naive full re-checks at 100k works and more (10 below; 1 at 1M unless --naive-repeat-1m)")
    parser.add_argument("--naive-repeat-1m", type=int, default=1,
                        help="naive full re-checks at 1M works and more (each takes minutes)")
    parser.add_argument("--workers", type=int, default=2, help="Celery worker processes (concurrency 1 each)")
    parser.add_argument("--threads", type=int, default=12, help="submitting threads")
    parser.add_argument("--resubmit", type=float, default=0.10, help="share of submissions that reuse a used key")
    parser.add_argument("--retries", type=int, default=5,
                        help="times a submitting thread retries an unexpected error (same key and body)")
    parser.add_argument("--formats", default="midi", help="output formats of each job (wav,midi,musicxml)")
    parser.add_argument("--duration", type=int, default=10, help="cue duration in seconds of each job")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds to wait for the jobs to end")
    parser.add_argument("--stall", type=float, default=120.0,
                        help="stop waiting when no job changed state for this many seconds")
    parser.add_argument("--skip-jobs", action="store_true", help="skip part 3 (no workers)")
    parser.add_argument("--broker", default=os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0"),
                        help="Redis broker URL for part 3 (keys are prefixed with this run's name)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database and data dir (prints them)")
    args = parser.parse_args()
    defaults = QUICK if args.quick else FULL
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.size_list = sorted({int(s) for s in str(args.sizes).split(",") if s.strip()})
    args.format_list = sorted({f.strip() for f in args.formats.split(",") if f.strip()})

    import psycopg

    # A terminated run still drops its database, stops its workers and removes its broker keys (finally blocks).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    name, url, admin = _scratch_database()
    with psycopg.connect(admin.replace("postgres://", "postgresql://"), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    data_dir = tempfile.mkdtemp(prefix=f"{name}_")
    # Set before Django starts: the settings read them once; the workers get the same values.
    os.environ["DATABASE_URL"] = url
    os.environ["DJANGO_SETTINGS_MODULE"] = "clearcue.settings"
    os.environ.setdefault("CLEARCUE_LOG_LEVEL", "WARNING")
    os.environ["CLEARCUE_DATA_DIR"] = data_dir
    os.environ["CELERY_BROKER_URL"] = args.broker
    os.environ.pop("CELERY_RESULT_BACKEND", None)
    os.environ["CLEARCUE_BROKER_KEY_PREFIX"] = f"{name}:"
    try:
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        run(args)
    finally:
        from django.db import connections

        connections.close_all()
        _clean_broker(args.broker, f"{name}:")
        if args.keep:
            print(f"\nkept: DATABASE_URL={url} CLEARCUE_DATA_DIR={data_dir}")
        else:
            with psycopg.connect(admin.replace("postgres://", "postgresql://"), autocommit=True) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            shutil.rmtree(data_dir, ignore_errors=True)


def _clean_broker(broker: str, prefix: str) -> None:
    """Delete this run's broker keys (queues, bindings, unacked): only keys under its own prefix."""
    try:
        import redis

        client = redis.Redis.from_url(broker)
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()
    except Exception as exc:  # cleanup is best effort; the figures are already printed
        print(f"(could not clean broker keys {prefix}*: {exc})")


# --- Synthetic catalog ----------------------------------------------------------------------------------------


@dataclass
class Manifest:
    """A synthetic training set, its model and the job decided on."""

    size: int
    manifest_id: int = 0
    model_id: int = 0
    slug: str = ""
    only_here: list[int] = field(default_factory=list)  # synthetic work numbers in no smaller manifest


@dataclass
class Synthetic:
    """What the loader wrote, for the later parts to pick from."""

    works: int
    work_base: int
    manifests: list[Manifest]
    primary_license: dict[int, int]  # synthetic work number -> id of the license that clears it
    license_works: dict[int, list[int]]  # per-work license id -> synthetic work numbers
    licensed_trainable: set[int]
    counts: dict[str, int]


def _ledger_size() -> int:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT size FROM licensing_ledgerhead WHERE id = 1")
        row = cur.fetchone()
    return int(row[0]) if row else 0


def _next_id(table: str) -> int:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(f"SELECT COALESCE(MAX(id), 0) + 1 FROM {table}")
        return int(cur.fetchone()[0])


def _value(value: Any) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _copy(table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """COPY rows (values free of tabs, newlines and backslashes) into a table; the id sequence follows."""
    from django.db import connection

    count = 0
    quoted = ", ".join(f'"{c}"' for c in columns)  # "constraint" is a keyword
    with connection.cursor() as cur, cur.copy(f"COPY {table} ({quoted}) FROM STDIN") as copy:
        buffer = io.StringIO()
        for row in rows:
            buffer.write("\t".join(_value(v) for v in row))
            buffer.write("\n")
            count += 1
            if count % 50_000 == 0:
                copy.write(buffer.getvalue())
                buffer = io.StringIO()
        copy.write(buffer.getvalue())
    if "id" in columns:
        with connection.cursor() as cur:
            cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))")
    return count


_FIRST = ("Aino", "Bram", "Cecile", "Dario", "Elin", "Farid", "Greta", "Hugo", "Ilse", "Jonas", "Kaija", "Luca",
          "Maren", "Nils", "Oona", "Pavel", "Quirin", "Rhea", "Soren", "Tove", "Ugo", "Vera", "Wim", "Ysolde")
_SYLLABLES = ("ka", "lo", "ven", "mar", "ti", "sel", "dor", "an", "ru", "bek", "nor", "li", "vas", "tem", "gar",
              "hul", "pre", "zin", "mo", "cas")


def _party_name(n: int, rng: random.Random) -> tuple[str, str]:
    surname = "".join(rng.choice(_SYLLABLES) for _ in range(3)).capitalize()
    if n % 10 < 7:
        return f"{rng.choice(_FIRST)} {surname}", "person"
    return f"{surname} {rng.choice(('Music', 'Editions', 'Publishing', 'Records'))}", "organization"


def load_synthetic(sizes: Sequence[int], licenses: int, optouts: int, operator_id: int, tiny: Any) -> Synthetic:
    """Write the synthetic catalog, opt-outs, manifests and models with COPY; every row below the ledger head."""
    from django.db import connection
    from django.utils import timezone

    from licensing.terms import ALL_USES_MASK, RESERVED_BITS, USE_BITS, ReservedUse, Use, normalize_name

    started = time.perf_counter()
    rng = random.Random(7)
    head = _ledger_size()  # synthetic rows get ledger indexes below it: known before the clearance cursor
    now = timezone.now()
    n_max = max(sizes)
    extra = max(1000, n_max // 20)  # cleared or not, in no manifest: newer works, expired or narrow licenses
    total = n_max + extra

    def ledger(n: int) -> int:
        return n % head

    # Parties: the public domain, holders/composers of the cleared works, holders of the newer works.
    holders_n = max(50, n_max // 100)
    holdout_n = max(10, extra // 100)
    party_base = _next_id("licensing_party")
    pd_party = party_base
    parties = [(pd_party, "bench:public-domain", "Public domain (synthetic)", "public domain synthetic", "public")]
    names: dict[int, str] = {}
    for n in range(holders_n + holdout_n):
        name, kind = _party_name(n, rng)
        pid = party_base + 1 + n
        names[pid] = normalize_name(name)
        parties.append((pid, f"bench:party:{n}", name, names[pid], kind))
    holders = [party_base + 1 + n for n in range(holders_n)]
    holdout = [party_base + 1 + holders_n + n for n in range(holdout_n)]
    _copy("licensing_party", ["id", "key", "name", "name_normalized", "kind", "ipi", "isni", "identifiers",
                              "created_at", "ledger_index"],
          ((pid, key, name, norm, kind, "", "", "{}", now, ledger(pid)) for pid, key, name, norm, kind in parties))

    coll_base = _next_id("licensing_collection")
    pd_colls = [coll_base + n for n in range(PD_COLLECTIONS)]
    label_colls = [coll_base + PD_COLLECTIONS + n for n in range(LABEL_COLLECTIONS)]
    newer_colls = [coll_base + PD_COLLECTIONS + LABEL_COLLECTIONS + n for n in range(NEWER_COLLECTIONS)]
    slugs = {cid: f"bench-pd-{n}" for n, cid in enumerate(pd_colls)}
    slugs.update({cid: f"bench-label-{n}" for n, cid in enumerate(label_colls)})
    slugs.update({cid: f"bench-newer-{n}" for n, cid in enumerate(newer_colls)})
    owners = {**{c: None for c in pd_colls}, **{c: holders[n] for n, c in enumerate(label_colls)},
              **{c: holdout[n % holdout_n] for n, c in enumerate(newer_colls)}}
    _copy("licensing_collection", ["id", "slug", "name", "created_at", "ledger_index", "owner_id"],
          ((cid, slug, slug.replace("-", " ").title(), now, ledger(cid), owners[cid]) for cid, slug in slugs.items()))

    # Works: 4 in 5 cleared works are public domain (collection licenses), 1 in 5 per-work licensed.
    work_base = _next_id("licensing_work")
    collection_of: list[int] = [0] * total
    holder_of: list[int | None] = [None] * total
    composer_of: list[int] = [0] * total
    sha_of: list[str] = [""] * total
    licensed_trainable: list[int] = []
    licensed_extra: list[int] = []

    def work_rows() -> Iterable[tuple[Any, ...]]:
        for i in range(total):
            sha = hashlib.sha256(f"bench:work:{i}".encode()).hexdigest()
            sha_of[i] = sha
            if i < n_max:
                composer = holders[(i * 7919) % holders_n]
                if i % 5 == 0:
                    coll, holder, status = label_colls[(i // 5) % LABEL_COLLECTIONS], composer, ""
                    licensed_trainable.append(i)
                else:
                    coll, holder, status = pd_colls[(i // 5) % PD_COLLECTIONS], None, "public_domain"
            else:
                j = i - n_max
                composer = holdout[j % holdout_n]
                coll, holder = newer_colls[j % NEWER_COLLECTIONS], composer
                status = "" if j % 10 < 8 else "reserved"  # 2 in 10 newer works have no license at all
                if j % 10 < 8:
                    licensed_extra.append(i)
            collection_of[i], holder_of[i], composer_of[i] = coll, holder, composer
            yield (work_base + i, f"S{i:08d}", f"Synthetic cue {i}", "symbolic", "midi", "", sha, "", "", "", "[]",
                   "{}", "{}", status, sha, now, now, ledger(i), coll, holder)

    _copy("licensing_work", ["id", "source_key", "title", "media_type", "format", "asset", "asset_sha256",
                             "iscc_data", "iscc_instance", "iscc_code", "style_tags", "source_metadata", "inband",
                             "rights_status", "content_digest", "created_at", "updated_at", "ledger_index",
                             "collection_id", "rights_holder_id"], work_rows())
    progress(f"{total:,} works", started)
    _copy("licensing_workcreator", ["role", "name_normalized", "party_id", "work_id"],
          (("composer", names[composer_of[i]], composer_of[i], work_base + i) for i in range(total)))
    progress(f"{total:,} creator credits", started)

    # Licenses: one per public-domain collection, the rest per work (contiguous blocks of a holder's works; when
    # there are more licenses than licensed works, the surplus are narrow second licenses that never grant
    # training, so revoking a work's first license does block it).
    lic_base = _next_id("licensing_license")
    license_rows: list[tuple[Any, ...]] = []
    link_rows: list[tuple[int, int, int]] = []
    coll_license: dict[int, int] = {}
    for cid in pd_colls:
        lid = lic_base + len(license_rows)
        coll_license[cid] = lid
        license_rows.append((lid, f"bench:lic:{lid}", f"Public domain {slugs[cid]}", "public_domain", "collection",
                             ALL_USES_MASK, "|WORLD|", "", PAST, None, "", cid, pd_party))
    per_work = max(2, licenses - len(pd_colls))
    n_t, n_e = len(licensed_trainable), len(licensed_extra)
    l_t = max(1, min(per_work - 1, round(per_work * n_t / max(1, n_t + n_e))))
    l_e = max(1, per_work - l_t)
    primary: dict[int, int] = {}
    license_works: dict[int, list[int]] = {}
    narrow = USE_BITS[Use.STYLE_REFERENCE] | USE_BITS[Use.NON_COMMERCIAL_OUTPUT]
    no_training = ALL_USES_MASK & ~USE_BITS[Use.AI_TRAINING]
    for works, count, trainable in ((licensed_trainable, l_t, True), (licensed_extra, l_e, False)):
        n = len(works)
        if not n:
            continue
        first_primary = lic_base + len(license_rows)
        primaries = min(count, n)
        for k, i in enumerate(works):
            lid = first_primary + (k * primaries // n)
            primary[i] = lid
            license_works.setdefault(lid, []).append(i)
        for p in range(primaries):
            lid = first_primary + p
            holder = holder_of[license_works[lid][0]]
            uses, territories, excluded, valid_from, valid_until = ALL_USES_MASK, "|WORLD|", "", PAST, None
            if trainable:
                excluded = "|CN|" if p % 3 == 0 else ""
                valid_until = datetime(2035, 1, 1, tzinfo=UTC) if p % 2 else None
            else:
                kind = p % 10
                if kind == 0:
                    valid_until = datetime(2025, 6, 1, tzinfo=UTC)  # expired
                elif kind == 1:
                    territories = "|DE|FR|GB|"
                elif kind == 2:
                    uses = no_training
                elif kind == 3:
                    valid_from = datetime(2030, 1, 1, tzinfo=UTC)  # not yet valid
            license_rows.append((lid, f"bench:lic:{lid}", f"Agreement {lid}", "agreement", "works", uses,
                                 territories, excluded, valid_from, valid_until, f"MSA-{lid}", None, holder))
            link_rows.extend((ledger(lid), lid, work_base + i) for i in license_works[lid])
        for s in range(count - primaries):
            lid = lic_base + len(license_rows)
            i = works[s % n]
            license_rows.append((lid, f"bench:lic:{lid}", f"Side letter {lid}", "permission", "works", narrow,
                                 "|GB|", "", PAST, None, f"SL-{lid}", None, holder_of[i]))
            link_rows.append((ledger(lid), lid, work_base + i))
    _copy("licensing_license", ["id", "key", "name", "basis", "scope", "uses_mask", "territories",
                                "excluded_territories", "valid_from", "valid_until", "attribution_required",
                                "attribution_text", "royalty_terms", "document_ref", "conditions", "source",
                                "created_at", "ledger_index", "licensee_id", "scope_collection_id", "licensor_id"],
          ((lid, key, name, basis, scope, uses, terr, excl, vf, vu, False, "", "{}", doc, "[]", '{"bench": true}',
            now, ledger(lid), operator_id, scope_coll, licensor)
           for lid, key, name, basis, scope, uses, terr, excl, vf, vu, doc, scope_coll, licensor in license_rows))
    _copy("licensing_licensework", ["ledger_index", "license_id", "work_id"], link_rows)
    progress(f"{len(license_rows):,} licenses, {len(link_rows):,} license links", started)

    # Opt-outs: training reservations on a few hundred newer works (in no manifest) and on some of their holders;
    # the rest reserve style/inference use (they do not block training or output) on works and parties anywhere.
    inference = RESERVED_BITS[ReservedUse.AI_INFERENCE]
    training_masks = [RESERVED_BITS[u] for u in (ReservedUse.AI_TRAINING, ReservedUse.DATA_MINING,
                                                 ReservedUse.GENERATIVE_TRAINING, ReservedUse.ALL)]
    sources = ("direct", "tdmrep", "aipref", "cawg", "liccium")
    optout_rows: list[tuple[str, int | None, int | None, int]] = []
    for n, i in enumerate(rng.sample(range(n_max, total), min(300, extra, optouts))):
        optout_rows.append(("work", work_base + i, None, training_masks[n % len(training_masks)]))
    for n, pid in enumerate(holdout[:min(20, max(0, optouts - len(optout_rows)))]):
        optout_rows.append(("party", None, pid, training_masks[n % len(training_masks)]))
    while len(optout_rows) < optouts:
        if rng.random() < 0.9:
            optout_rows.append(("work", work_base + rng.randrange(total), None, inference))
        else:
            optout_rows.append(("party", None, rng.choice(holders), inference))
    effective = datetime(2025, 6, 1, tzinfo=UTC)
    _copy("licensing_optout", ["subject_kind", "subject_value", "reserved_mask", "source", "policy_url", "constraint",
                               "evidence", "effective_from", "created_at", "ledger_index", "subject_party_id",
                               "subject_work_id"],
          ((kind, "", mask, sources[n % len(sources)], "", "", f'{{"bench": {n}}}', effective, now, ledger(n),
            party, work) for n, (kind, work, party, mask) in enumerate(optout_rows)))
    progress(f"{len(optout_rows):,} opt-outs", started)

    # Manifests: nested random subsets of the cleared works (position = a fixed permutation of the work number).
    step = next(p for p in range(999_983, 1, -1) if math.gcd(p, n_max) == 1)
    licenses_by_id = {row[0]: row for row in license_rows}
    manifests = []
    previous = 0
    for size in sizes:
        manifest = Manifest(size)
        slug_version = f"size-{size}"
        with connection.cursor() as cur:
            root = hashlib.sha256(f"bench:manifest:{size}".encode()).hexdigest()
            cur.execute(
                "INSERT INTO generation_trainingmanifest (name, use, territory, evaluated_at, ledger_size, selection,"
                " work_count, merkle_root, leaf_format, created_at, ledger_index) VALUES (%s, 'ai_training', %s, %s,"
                " %s, '{\"bench\": \"synthetic\"}', %s, %s, %s, %s, %s) RETURNING id",
                [f"bench-gate@{slug_version}", TERRITORY, now, head, size, root, tiny.manifest.leaf_format, now,
                 head - 1])
            manifest.manifest_id = int(cur.fetchone()[0])

        def entries(size: int = size, manifest_id: int = manifest.manifest_id) -> Iterable[tuple[Any, ...]]:
            for i in range(n_max):
                position = (i * step) % n_max
                if position >= size:
                    continue
                lid = primary.get(i) or coll_license[collection_of[i]]
                lic = licenses_by_id[lid]
                yield (position, f"{slugs[collection_of[i]]}/S{i:08d}", sha_of[i], lic[1], lic[3], lid,
                       work_base + i, manifest_id)

        _copy("generation_manifestentry", ["position", "work_key", "asset_sha256", "license_key", "basis",
                                           "license_id", "work_id", "manifest_id"], entries())
        manifest.only_here = [i for i in range(n_max) if previous <= (i * step) % n_max < size][:5000]
        previous = size
        with connection.cursor() as cur:
            cur.execute(
                "INSERT INTO generation_generationmodel (name, version, engine, config, checkpoint, checkpoint_sha256,"
                " checkpoint_size, style_tags, model_card, created_at, ledger_index, manifest_id) VALUES ('bench-gate',"
                " %s, %s, %s::jsonb, %s, %s, %s, %s::jsonb, '{}', %s, %s, %s) RETURNING id",
                [slug_version, tiny.engine, _json(tiny.config), tiny.checkpoint.name, tiny.checkpoint_sha256,
                 tiny.checkpoint_size, _json(tiny.style_tags), now, head - 1, manifest.manifest_id])
            manifest.model_id = int(cur.fetchone()[0])
        manifest.slug = f"bench-gate@{slug_version}"
        manifests.append(manifest)
        progress(f"manifest and model of {size:,} works", started)
    with connection.cursor() as cur:
        cur.execute("ANALYZE")
    progress("ANALYZE", started)
    counts = {"parties": len(parties), "works": total, "licenses": len(license_rows), "links": len(link_rows),
              "optouts": len(optout_rows), "training_optouts": sum(1 for r in optout_rows if r[3] != inference)}
    return Synthetic(total, work_base, manifests, primary, license_works, set(licensed_trainable), counts)


def _json(value: Any) -> str:
    import json

    return json.dumps(value)


# --- The run -------------------------------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> None:
    from django.core.management import call_command
    from django.db import connection

    from clearcue.actions import do_create_organization
    from generation import actions, registry
    from generation.models import GenerationModel
    from licensing.ledger import Actor

    print(f"PostgreSQL {connection.pg_version // 10000}, python {sys.version.split()[0]}, {os.cpu_count()} cores; "
          f"sizes {', '.join(f'{s:,}' for s in args.size_list)}; {args.licenses:,} licenses, {args.optouts:,} "
          f"opt-outs; {args.jobs} jobs on {args.workers} workers", flush=True)
    actor = Actor.system("bench")
    started = time.perf_counter()
    print("\n0. Setup", flush=True)
    operator = do_create_organization(name="Operator", slug="operator", is_operator=True, actor=None)
    call_command("ingest_reference_catalog", only=COLLECTIONS, as_of_year=2026, stdout=io.StringIO())
    progress("reference collections ingested", started)
    call_command("train_model", "--model-version", "bench", "--seed", "3", *TRAIN, stdout=io.StringIO())
    tiny = GenerationModel.objects.select_related("manifest").get(name=registry.DEFAULT_NAME, version="bench")
    progress(f"tiny model {tiny.slug} trained on {tiny.manifest.work_count} works", started)
    client = do_create_organization(name="Gate client", slug="gate-client", actor=None)
    load = do_create_organization(name="Load client", slug="load-client", actor=None)
    for org, ref in ((client, "MSA-GATE"), (load, "MSA-LOAD")):
        actions.do_grant_entitlement(organization=org, reference=ref, territories=["WORLD"], commercial_use=True,
                                     indemnification_tier="standard", monthly_quota=None, actor=actor)
    t = time.perf_counter()
    synthetic = load_synthetic(args.size_list, args.licenses, args.optouts, operator.pk, tiny)
    c = synthetic.counts
    line("synthetic catalog written (COPY)", f"{time.perf_counter() - t:.1f} s",
         f"{c['works']:,} works, {c['parties']:,} parties, {c['licenses']:,} licenses ({c['links']:,} links), "
         f"{c['optouts']:,} opt-outs ({c['training_optouts']} reserve training)")
    jobs = {}
    for manifest in synthetic.manifests:
        job, _ = actions.do_submit_job(_request(manifest.slug, args, seed=manifest.size), organization=client,
                                       user=None, idempotency_key=f"gate-{manifest.size}", actor=actor)
        jobs[manifest.size] = job
    _purge_queues()  # the part-1 jobs are decided here, not by workers

    part_decisions(args, synthetic, jobs)
    part_catch_up(synthetic, jobs)
    if args.skip_jobs:
        print("\n3. Concurrent jobs: skipped (--skip-jobs)")
    else:
        part_jobs(args, load, tiny)


def _request(slug: str, args: argparse.Namespace, *, seed: int, description: str = SCENE) -> Any:
    from generation.actions import JobRequest

    return JobRequest(description=description, model=slug, territory=TERRITORY, use="commercial",
                      params={"duration": args.duration}, formats=tuple(args.format_list), seed=seed)


def _purge_queues() -> int:
    from clearcue.celery import app

    return int(app.control.purge() or 0)


def _load_job(job_id: int) -> Any:
    from generation.models import Job

    return Job.objects.select_related("model__manifest", "organization").get(pk=job_id)


def _decide(job: Any) -> Any:
    from generation import facts, gate

    return gate.decide(facts.gate_facts(job, policy=facts.current_policy()))


def _timed(fn: Callable[[], Any], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


# --- 1. Decision latency -------------------------------------------------------------------------------------------


def part_decisions(args: argparse.Namespace, synthetic: Synthetic, jobs: dict[int, Any]) -> None:
    from django.db import connection

    from generation import clearance, facts
    from generation.models import GenerationModel
    from licensing import rights

    print("\n1. Gate decision latency vs training-set size (territory US, commercial)", flush=True)
    rows = []
    for manifest in synthetic.manifests:
        started = time.perf_counter()
        job = _load_job(jobs[manifest.size].pk)
        model = GenerationModel.objects.select_related("manifest").get(pk=manifest.model_id)
        t = time.perf_counter()
        state = clearance.ensure_clearance(model.manifest, TERRITORY)
        full = time.perf_counter() - t
        pending = clearance.pending()
        progress(f"{manifest.size:,}: ensure_clearance {full:.2f} s (pending after: {pending})", started)
        assert not pending, "synthetic rows must be below the clearance cursor"
        t = time.perf_counter()
        decision = _decide(job)
        cold = (time.perf_counter() - t) * 1000
        for _ in range(args.warmup):
            _decide(job)
        timings = _timed(lambda job=job: _decide(job), args.decisions)
        progress(f"{manifest.size:,}: {args.decisions} decisions, p99 {pct(timings, 0.99):.2f} ms", started)
        repeat = (args.naive_repeat_1m if manifest.size >= 1_000_000 else args.naive_repeat if manifest.size >= 100_000
                  else 10)
        naive = []
        denied: dict[str, int] = {}
        for _ in range(repeat):
            t = time.perf_counter()
            denied = clearance.naive_training_facts(model, TERRITORY)
            naive.append(time.perf_counter() - t)
        progress(f"{manifest.size:,}: naive re-check x{repeat}, median {statistics.median(naive):.2f} s", started)
        blocked = {use: b["hard"] + b["grace"] for use, b in decision.facts["blocked"].items()}
        if blocked != denied:  # the clearance state must say what the full re-check says
            print(f"    !! {manifest.size:,}: clearance state {blocked} != naive re-check {denied}", flush=True)
        rows.append((manifest.size, state.full_seconds, cold, statistics.median(timings), pct(timings, 0.99),
                     max(timings), statistics.median(naive), repeat, decision))

    print()
    print(f"  {'works':>9} | {'full clearance':>14} | {'decision p50':>12} | {'p99':>8} | {'max':>8} | "
          f"{'cold':>8} | {'naive re-check':>20} | {'naive/p50':>9} | decision")
    for size, full, cold, p50, p99, worst, naive_med, repeat, decision in rows:
        codes = ",".join(sorted({r.code for r in decision.reasons})) or "-"
        print(f"  {size:>9,} | {full:>12.2f} s | {p50:>9.2f} ms | {p99:>5.2f} ms | {worst:>5.2f} ms | "
              f"{cold:>5.1f} ms | {naive_med:>8.2f} s (n={repeat:>2}) | {naive_med * 1000 / p50:>8,.0f}x | "
              f"{'ALLOW' if decision.allowed else 'DENY'} {codes}")
    p99s = [r[4] for r in rows]
    flat = max(p99s) / min(p99s)
    print(f"  goal: p99 <= 5 ms at every size -> worst p99 {max(p99s):.2f} ms "
          f"({'met' if max(p99s) <= 5 else 'NOT met'}); flat from smallest to largest -> p99 ratio "
          f"{p99s[-1] / p99s[0]:.2f} (max/min {flat:.2f})", flush=True)

    # Where one decision's time goes, at the largest size (medians of the same calls gate_facts makes).
    job = _load_job(jobs[synthetic.manifests[-1].size].pk)
    now_calls: list[tuple[str, Callable[[], Any]]] = [
        ("current_policy()", facts.current_policy),
        ("clearance.pending() (one statement)", clearance.pending),
        ("clearance.training_facts() (incl. pending)", lambda: clearance.training_facts(job.model, TERRITORY)),
        ("named_artists() (screen the description)",
         lambda: facts.named_artists(job.description, facts.current_policy().name_fuzzy_threshold)),
        ("entitlement_facts()", lambda: facts.entitlement_facts(job.organization_id, datetime.now(UTC))),
    ]
    print(f"\n  breakdown at {synthetic.manifests[-1].size:,} works (median of 100 calls):")
    queries: list[str] = []

    def count(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        queries.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        _decide(job)
    line("SQL statements per decision", f"{len(queries)}", "each pays a round trip (and planning)")
    for label, fn in now_calls:
        fn()
        values = _timed(fn, 100)
        line(label, f"{statistics.median(values):.3f} ms", f"p99 {pct(values, 0.99):.3f} ms")
    values = _timed(lambda: rights.evaluate([job.model.manifest.entries.values_list("work_id", flat=True)[0]],
                                            "ai_training", TERRITORY), 30)
    line("rights.evaluate() of one work (one use)", f"{statistics.median(values):.3f} ms",
         "what catch-up and style references pay per call")

    def select_one() -> None:
        with connection.cursor() as cur:
            cur.execute("SELECT 1")
            cur.fetchone()

    values = _timed(select_one, 200)
    line("SELECT 1 through Django (raw floor per statement)", f"{statistics.median(values):.3f} ms",
         f"p99 {pct(values, 0.99):.3f} ms")


# --- 2. Incremental re-clearance --------------------------------------------------------------------------------


def part_catch_up(synthetic: Synthetic, jobs: dict[int, Any]) -> None:
    from generation import clearance
    from licensing.actions import do_register_optouts, do_revoke_license
    from licensing.ledger import Actor
    from licensing.models import License
    from licensing.terms import Reservation, ReservedUse, Source, Subject, SubjectKind

    actor = Actor.system("bench")
    largest = synthetic.manifests[-1]
    job = _load_job(jobs[largest.size].pk)
    print(f"\n2. Incremental re-clearance ({len(synthetic.manifests)} clearance states; the largest has "
          f"{largest.size:,} works)", flush=True)
    # A per-work license whose works are all in the largest manifest only (if possible).
    only_here = set(largest.only_here)
    candidates = [synthetic.primary_license[i] for i in largest.only_here if i in synthetic.licensed_trainable]
    lid = next((c for c in candidates if set(synthetic.license_works[c]) <= only_here), None) or candidates[0]
    covered = synthetic.license_works[lid]
    t = time.perf_counter()
    do_revoke_license(License.objects.get(pk=lid), effective_at=None, reason="bench: one license revoked",
                      actor=actor)
    revoke = time.perf_counter() - t
    assert clearance.pending()
    t = time.perf_counter()
    result = clearance.catch_up()
    wall = time.perf_counter() - t
    line("do_revoke_license (one license)", f"{revoke * 1000:.1f} ms", f"covers {len(covered)} training work(s)")
    line("catch_up() after the revocation", f"{wall * 1000:.1f} ms",
         f"works changed {result.works_changed}, re-evaluated {result.works_reevaluated} in {result.states_updated} "
         f"state(s); goal <= 100 ms ({'met' if wall <= 0.1 else 'NOT met'})")
    after = _decide(job)
    grace = after.facts["blocked"]["ai_training"]["grace"]
    line("decision after it", "ALLOW" if after.allowed else "DENY",
         f"{','.join(sorted({r.code for r in after.denials})) or '-'}; ai_training blocked after training: {grace}")

    free = next(i for i in largest.only_here if i not in synthetic.licensed_trainable)
    reservation = Reservation(Subject(SubjectKind.WORK, str(synthetic.work_base + free)),
                              frozenset({ReservedUse.AI_TRAINING}), Source.DIRECT, {"bench": "remove my work"})
    t = time.perf_counter()
    do_register_optouts([reservation], actor=actor)
    register = time.perf_counter() - t
    t = time.perf_counter()
    result = clearance.catch_up()
    wall = time.perf_counter() - t
    line("do_register_optouts (one work, ai_training)", f"{register * 1000:.1f} ms")
    line("catch_up() after the opt-out", f"{wall * 1000:.1f} ms",
         f"works changed {result.works_changed}, re-evaluated {result.works_reevaluated} in {result.states_updated} "
         f"state(s); goal <= 100 ms ({'met' if wall <= 0.1 else 'NOT met'})")
    t = time.perf_counter()
    after = _decide(job)
    decided = (time.perf_counter() - t) * 1000
    line("decision after it", "ALLOW" if after.allowed else "DENY",
         f"{','.join(sorted({r.code for r in after.denials})) or '-'}; blocked after training: "
         f"{after.facts['blocked']['ai_training']['grace']}; {decided:.2f} ms")
    line("pending() after catch-up", str(clearance.pending()))


# --- 3. Concurrent jobs --------------------------------------------------------------------------------------------


@dataclass
class Submission:
    """One call of do_submit_job from a thread."""

    key: str
    seed: int
    repeat: bool
    job_id: int = 0
    created: bool = False
    seconds: float = 0.0
    error: str = ""
    failed_attempts: list[str] = field(default_factory=list)  # errors a client would retry (same key and body)


def _start_worker(n: int, log_dir: Path) -> tuple[subprocess.Popen[bytes], str, Any]:
    hostname = f"bench-gate-{os.getpid()}-{n}@%h"
    log = (log_dir / f"worker-{n}.log").open("wb")
    proc = subprocess.Popen(  # noqa: S603 (our own interpreter and arguments)
        [sys.executable, "-m", "celery", "-A", "clearcue", "worker", "-Q", "generate,seal", "-c", "1",
         "-P", "prefork", "-n", hostname, "--without-gossip", "--without-mingle", "-l", "WARNING"],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=log, stderr=subprocess.STDOUT)
    return proc, hostname.replace("%h", os.uname().nodename), log


def _wait_ready(procs: Sequence[tuple[subprocess.Popen[bytes], str, Any]], log_dir: Path) -> None:
    from clearcue.celery import app

    deadline = time.monotonic() + 90
    waiting = {node for _, node, _ in procs}
    while waiting and time.monotonic() < deadline:
        for proc, node, _ in procs:
            if proc.poll() is not None:
                raise RuntimeError(f"worker {node} exited early; see {log_dir}")
        for reply in app.control.ping(destination=list(waiting), timeout=0.5) or []:
            waiting -= set(reply)
    if waiting:
        raise RuntimeError(f"workers {sorted(waiting)} not ready within 90 s; see {log_dir}")


def _print_worker_errors(log_dir: Path) -> None:
    """The most frequent error lines of the worker logs (a task that raises leaves its job where it was)."""
    errors: Counter[str] = Counter()
    for path in sorted(log_dir.glob("worker-*.log")):
        for text in path.read_text(errors="replace").splitlines():
            if "Error" in text and not text.startswith(" "):
                errors[text.split("] ", 1)[-1][:160]] += 1
    for text, n in errors.most_common(3):
        print(f"    !! {n}x {text}", flush=True)


def _stop_workers(procs: Sequence[tuple[subprocess.Popen[bytes], str, Any]]) -> None:
    for proc, _, _ in procs:
        proc.terminate()
    for proc, _, log in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _submit_all(submissions: list[Submission], threads: int, slug: str, org: Any, args: argparse.Namespace) -> None:
    from django.db import connection

    from clearcue.exceptions import DomainError
    from generation.actions import do_submit_job
    from licensing.ledger import Actor

    work: queue.Queue[Submission] = queue.Queue()
    for submission in submissions:
        work.put(submission)
    actor = Actor.system("bench")

    def worker() -> None:
        try:
            while True:
                try:
                    s = work.get_nowait()
                except queue.Empty:
                    return
                t = time.perf_counter()
                for attempt in range(args.retries + 1):
                    try:
                        job, created = do_submit_job(_request(slug, args, seed=s.seed), organization=org,
                                                     user=None, idempotency_key=s.key, actor=actor)
                        s.job_id, s.created, s.error = job.pk, created, ""
                        break
                    except DomainError as exc:  # a refusal: retrying cannot help
                        s.error = f"{exc.code}: {exc.message}"
                        break
                    except Exception as exc:  # the API would answer 500; a client retries with the same key
                        s.error = f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
                        s.failed_attempts.append(s.error)
                        time.sleep(0.05 * (attempt + 1))
                s.seconds = time.perf_counter() - t
        finally:
            connection.close()  # this thread's connection

    pool = [threading.Thread(target=worker, name=f"submit-{n}") for n in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()


def part_jobs(args: argparse.Namespace, org: Any, tiny: Any) -> None:
    from django.db.models import Count

    from generation.models import GateDecision, Job, JobOutput
    from licensing.models import EntryType, LedgerEntry

    print(f"\n3. {args.jobs} concurrent submissions ({args.threads} threads) on {args.workers} workers "
          f"(model {tiny.slug}, {args.duration} s cues, formats {','.join(args.format_list)})", flush=True)
    log_dir = Path(os.environ["CLEARCUE_DATA_DIR"]) / "worker-logs"
    log_dir.mkdir(exist_ok=True)
    purged = _purge_queues()
    started = time.perf_counter()
    procs = [_start_worker(n, log_dir) for n in range(args.workers)]
    try:
        _wait_ready(procs, log_dir)
        progress(f"{args.workers} workers ready (purged {purged} queued message(s) of parts 1-2 first)", started)
        rng = random.Random(5)
        firsts = [Submission(f"load-{n:05d}", n, False) for n in range(args.jobs)]
        repeats = [Submission(s.key, s.seed, True) for s in rng.sample(firsts, round(args.jobs * args.resubmit))]
        # Each resubmission goes somewhere after its first submission in the queue (threads may still race them).
        order: list[Submission] = list(firsts)
        for r in repeats:
            first = next(n for n, s in enumerate(order) if s.key == r.key and not s.repeat)
            order.insert(rng.randrange(first + 1, len(order) + 1), r)
        t0 = time.perf_counter()
        _submit_all(order, args.threads, tiny.slug, org, args)
        submit_wall = time.perf_counter() - t0
        progress(f"{len(order)} submissions in {submit_wall:.1f} s", started)
        deadline = time.monotonic() + args.timeout
        last_report = 0.0
        last_change, seen = time.monotonic(), Counter[str]()
        while True:
            states = Counter(Job.objects.filter(organization=org).values_list("state", flat=True))
            done = sum(n for state, n in states.items() if state in TERMINAL)
            if done >= sum(states.values()) or time.monotonic() > deadline:
                break
            if states != seen:
                last_change, seen = time.monotonic(), states
            elif time.monotonic() - last_change > args.stall:
                progress(f"no job moved for {args.stall:.0f} s: stopped waiting", started)
                _print_worker_errors(log_dir)
                break
            if time.monotonic() - last_report > 10:
                progress(f"{done}/{args.jobs} ended; {dict(sorted(states.items()))}", started)
                last_report = time.monotonic()
            time.sleep(0.5)
        waited = time.perf_counter() - t0
    finally:
        _stop_workers(procs)
    errors = [s for s in order if s.error]
    retried = Counter(e for s in order for e in s.failed_attempts)
    first_ids = {s.key: s.job_id for s in order if not s.repeat}
    repeat_same = sum(1 for s in order if s.repeat and s.job_id and s.job_id == first_ids.get(s.key))
    created = sum(1 for s in order if s.created)
    rows = list(Job.objects.filter(organization=org).values("id", "state", "steps", "created_at", "finished_at",
                                                             "outcome_code", "outcome_message"))
    states = Counter(r["state"] for r in rows)
    decision_dupes = (GateDecision.objects.filter(job__organization=org).values("job_id", "stage")
                      .annotate(n=Count("id")).filter(n__gt=1).count())
    output_dupes = (JobOutput.objects.filter(job__organization=org).values("job_id", "kind")
                    .annotate(n=Count("id")).filter(n__gt=1).count())
    ids = [str(r["id"]) for r in rows]
    submitted_entries = Counter(LedgerEntry.objects.filter(entry_type=EntryType.JOB_SUBMITTED, subject_type="job",
                                                           subject_id__in=ids).values_list("subject_id", flat=True))
    sealed_entries = Counter(LedgerEntry.objects.filter(entry_type=EntryType.OUTPUT_SEALED, subject_type="job",
                                                        subject_id__in=ids).values_list("subject_id", flat=True))
    decisions = GateDecision.objects.filter(job__organization=org).count()
    decided_entries = LedgerEntry.objects.filter(entry_type=EntryType.GATE_DECIDED, subject_id__in=ids).count()
    ended = [r for r in rows if r["finished_at"] is not None]

    print()
    line("submissions (first + resubmitted keys)", f"{len(order)}", f"{args.jobs} + {len(repeats)}; "
         f"{len(errors)} gave up after {args.retries} retries{': ' + errors[0].error if errors else ''}")
    line("submission attempts that raised (then retried)", f"{sum(retried.values())}",
         "; ".join(f"{n}x {e[:90]}" for e, n in retried.most_common(3)))
    verdict = "none lost, none duplicated" if created == len(rows) == args.jobs else "MISMATCH"
    line("jobs created / jobs in the database", f"{created} / {len(rows)}",
         f"expected {args.jobs} / {args.jobs}: {verdict}")
    line("resubmissions answered with the first job", f"{repeat_same} / {len(repeats)}", "created=False, same id")
    line("states", ", ".join(f"{k} {v}" for k, v in sorted(states.items())),
         f"outcomes {dict(Counter(r['outcome_code'] for r in rows if r['state'] != 'completed'))}")
    for message, n in Counter(r["outcome_message"].splitlines()[0][:110] for r in rows
                              if r["state"] == "failed").most_common(3):
        line("  failed", f"{n}", message)
    line("duplicate GateDecision per (job, stage)", f"{decision_dupes}", f"{decisions} decisions, "
         f"{decided_entries} gate.decided ledger entries")
    line("duplicate JobOutput per (job, kind)", f"{output_dupes}")
    line("ledger job.submitted entries per job", f"max {max(submitted_entries.values(), default=0)}",
         f"{sum(submitted_entries.values())} entries for {len(rows)} jobs")
    line("ledger output.sealed entries per job", f"max {max(sealed_entries.values(), default=0)}",
         f"{sum(sealed_entries.values())} for {states.get('completed', 0)} completed jobs")
    submit_times = [s.seconds * 1000 for s in order]
    line("do_submit_job latency (p50 / p95)", f"{statistics.median(submit_times):.1f} / "
         f"{pct(submit_times, 0.95):.1f} ms", f"{len(order) / submit_wall:.0f} submissions/s")
    if ended:
        span = max(r["finished_at"] for r in ended) - min(r["created_at"] for r in rows)
        line("throughput", f"{len(ended) / (span.total_seconds() / 60):.0f} jobs/min",
             f"{len(ended)} jobs ended in {span.total_seconds():.1f} s (first submission to last end; "
             f"waited {waited:.1f} s)")
        print(f"\n  {'step':<22} {'jobs':>5} {'p50':>9} {'p95':>9} {'max':>9}")
        for step in ("gate", "compose", "check", "seal"):
            values = [float(r["steps"][step]["seconds"]) for r in rows
                      if "seconds" in r["steps"].get(step, {})]
            if values:
                print(f"  {step:<22} {len(values):>5} {statistics.median(values) * 1000:>6.0f} ms "
                      f"{pct(values, 0.95) * 1000:>6.0f} ms {max(values) * 1000:>6.0f} ms")
        waits = [(datetime.fromisoformat(r["steps"]["gate"]["started_at"]) - r["created_at"]).total_seconds()
                 for r in rows if "started_at" in r["steps"].get("gate", {})]
        if waits:
            print(f"  {'queue wait (to gate)':<22} {len(waits):>5} {statistics.median(waits) * 1000:>6.0f} ms "
                  f"{pct(waits, 0.95) * 1000:>6.0f} ms {max(waits) * 1000:>6.0f} ms")
        e2e = [(r["finished_at"] - r["created_at"]).total_seconds() for r in ended]
        print(f"  {'end to end':<22} {len(e2e):>5} {statistics.median(e2e):>7.1f} s {pct(e2e, 0.95):>7.1f} s "
              f"{max(e2e):>7.1f} s")
    if len(ended) < len(rows):
        print(f"  TIMEOUT: {len(rows) - len(ended)} job(s) not ended after {args.timeout:.0f} s; worker logs in "
              f"{log_dir} (use --keep)")


if __name__ == "__main__":
    main()
