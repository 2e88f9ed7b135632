#!/usr/bin/env python
"""Style attribution benchmark: index build time, per-output attribution time and IVF recall at scale.

    .venv/bin/python scripts/bench_attribution.py [--sizes 10000,100000] [--queries 50] [--quick]
                                                  [--cache var/cache/melodies] [--synthetic]

Prints figures; asserts nothing (a benchmark, not a test). No database.

Training sets are synthetic but shaped like real ones: each synthetic work pools 1-3 random perturbations
of real training melodies (the shipped manifest's melodies from the music21 corpus, read through the
corpus cache; a random window of 16-128 notes, ~15% of pitches moved by 1-2 semitones, ~10% of durations
doubled or halved, the window shifted by a random number of bars), and its vector is computed by the
production `work_features`. Queries are further perturbed melodies, as outputs would be. With
`--synthetic` (or when the corpus cannot be read) vectors are clustered random points on the sphere
instead (sqrt(N) Gaussian clusters), which is harder for an IVF index than real features.

Per size it reports: index build time (a one-time cost per model: k-means + assignment), serialized
size and load time; per-output time (features of the query melody + `attribute`, with and without
requested style rows: median and p95 over --queries outputs); and recall@10 and @64 of the IVF search
against exact search for several nprobe values.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from provenance import attribution  # noqa: E402

SHIPPED = ROOT / "generation" / "engines" / "reference" / "shipped"
Notes = list[tuple[int, int, int]]


def real_melodies(cache: Path) -> list[tuple[Notes, int]]:
    """(notes, meter) of every melody of the shipped manifest's works (through the corpus cache)."""
    from generation.engines.reference import corpus
    from licensing.reference_corpus import music21_corpus_root

    root = music21_corpus_root()
    manifest = json.loads((SHIPPED / "manifest.json").read_text())
    items = []
    for record in manifest["records"]:
        data = (root / record["work"].split("/", 1)[1]).read_bytes()
        if hashlib.sha256(data).hexdigest() != record["sha256"]:
            raise SystemExit(f"{record['work']} differs from the manifest's SHA-256")
        items.append((record["work"], data))
    cache.mkdir(parents=True, exist_ok=True)
    out: list[tuple[Notes, int]] = []
    for result in corpus.extract_many(items, cache).values():
        if not isinstance(result, corpus.CorpusError):
            out.extend((list(m.notes), m.meter) for m in result)
    return out


def perturb(melody: tuple[Notes, int], rng: np.random.Generator) -> tuple[Notes, int]:
    """A random window of a melody with some pitches and durations changed (see the module docstring)."""
    notes, meter = melody
    length = int(rng.integers(16, 129))
    start = int(rng.integers(0, max(1, len(notes) - length + 1)))
    window = notes[start:start + length]
    shift = window[0][0] // (meter * 4) * (meter * 4) - int(rng.integers(0, 4)) * meter * 4
    out: Notes = []
    for onset, duration, pitch in window:
        if rng.random() < 0.15:
            pitch += int(rng.choice((-2, -1, 1, 2)))
        if rng.random() < 0.10:
            duration = max(1, duration * 2 if rng.random() < 0.5 else duration // 2)
        out.append((onset - shift, duration, pitch))
    return out, meter


def real_vectors(melodies: list[tuple[Notes, int]], n: int, rng: np.random.Generator) -> np.ndarray:
    """n synthetic work vectors, each from 1-3 perturbed real melodies."""
    vectors = np.empty((n, attribution.DIMENSIONS), dtype=np.float32)
    for i in range(n):
        picks = rng.integers(len(melodies), size=int(rng.integers(1, 4)))
        vectors[i] = attribution.work_features(perturb(melodies[int(j)], rng) for j in picks)
    return vectors


def clustered_vectors(n: int, rng: np.random.Generator) -> np.ndarray:
    """n unit vectors around sqrt(n) random centres (spread comparable to real features)."""
    centres = rng.normal(size=(max(1, int(n**0.5)), attribution.DIMENSIONS))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    points = centres[rng.integers(len(centres), size=n)] + rng.normal(scale=0.08, size=(n, attribution.DIMENSIONS))
    return (points / np.linalg.norm(points, axis=1, keepdims=True)).astype(np.float32)


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (linear interpolation)."""
    return float(np.percentile(np.asarray(values), q))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--cache", type=Path, default=ROOT / "var" / "cache" / "melodies")
    parser.add_argument("--synthetic", action="store_true", help="clustered random vectors instead of melodies")
    parser.add_argument("--nprobes", default="4,8,16,32,48,64")
    parser.add_argument("--quick", action="store_true", help="one small size (5,000 works), 20 queries")
    args = parser.parse_args()
    sizes = [5000] if args.quick else [int(s) for s in args.sizes.split(",") if s.strip()]
    queries_n = 20 if args.quick else args.queries
    nprobes = [int(s) for s in args.nprobes.split(",") if s.strip()]
    rng = np.random.default_rng(0)

    melodies: list[tuple[Notes, int]] = []
    if not args.synthetic:
        try:
            started = time.perf_counter()
            melodies = real_melodies(args.cache)
            print(f"{len(melodies)} real training melodies loaded in {time.perf_counter() - started:.1f} s")
        except (OSError, ImportError) as exc:
            print(f"cannot read the corpus ({exc}); using clustered random vectors")
    kind = "perturbed real melodies" if melodies else "clustered random vectors"
    print(f"method {attribution.METHOD}; {attribution.DIMENSIONS} dimensions; k={attribution.DEFAULT_K}, "
          f"nprobe={attribution.DEFAULT_NPROBE}; training works: {kind}")

    for n in sizes:
        started = time.perf_counter()
        vectors = real_vectors(melodies, n, rng) if melodies else clustered_vectors(n, rng)
        made = time.perf_counter() - started
        keys = [f"synthetic/work-{i:07d}" for i in range(n)]
        started = time.perf_counter()
        index = attribution.AttributionIndex.build(keys, vectors, seed=0)
        build = time.perf_counter() - started
        data = index.to_bytes()
        started = time.perf_counter()
        attribution.AttributionIndex.from_bytes(data)
        load = time.perf_counter() - started
        exact = attribution.AttributionIndex.build(keys, vectors, lists=0)
        print(f"\n{n:,} works (vectors made in {made:.1f} s): index build {build:.2f} s ({index.lists} lists), "
              f"{len(data) / 1e6:.1f} MB serialized, load {1000 * load:.0f} ms")

        if melodies:
            queries = [perturb(melodies[int(j)], rng) for j in rng.integers(len(melodies), size=queries_n)]
        style_rows = np.sort(rng.choice(n, size=max(1, n // 50), replace=False))  # a tag on 2% of the works
        timings: dict[str, list[float]] = {"off": [], "on": []}
        query_vectors = []
        for i in range(queries_n):
            for mode in ("off", "on"):
                started = time.perf_counter()
                if melodies:
                    notes, meter = queries[i]
                    query = attribution.melody_features(notes, meter)
                else:
                    query = clustered_vectors(1, rng)[0]
                result = attribution.attribute(index, query, style_rows=style_rows if mode == "on" else ())
                timings[mode].append(time.perf_counter() - started)
                assert sum(c.ppm for c in result.contributions) == attribution.PPM
            query_vectors.append(query)
        for mode, label in (("off", "without style rows"), ("on", f"with {len(style_rows):,} style rows")):
            values = timings[mode]
            print(f"  per output (features + attribute, {label}): median {1000 * statistics.median(values):.1f} ms, "
                  f"p95 {1000 * percentile(values, 95):.1f} ms")

        truth = {k: [{row for row, _ in exact.search(q, k)} for q in query_vectors] for k in (10, 64)}
        for nprobe in nprobes:
            recalls = []
            for k in (10, 64):
                hits = [len({row for row, _ in index.search(q, k, nprobe)} & truth[k][i]) / k
                        for i, q in enumerate(query_vectors)]
                recalls.append(statistics.mean(hits))
            started = time.perf_counter()
            for q in query_vectors:
                index.search(q, attribution.DEFAULT_K, nprobe)
            search_ms = 1000 * (time.perf_counter() - started) / len(query_vectors)
            print(f"  nprobe {nprobe:>3}: recall@10 {recalls[0]:.3f}, recall@64 {recalls[1]:.3f}, "
                  f"search {search_ms:.2f} ms")
        started = time.perf_counter()
        for q in query_vectors:
            exact.search(q, attribution.DEFAULT_K)
        print(f"  exact scan for comparison: {1000 * (time.perf_counter() - started) / len(query_vectors):.2f} ms")


if __name__ == "__main__":
    main()
