#!/usr/bin/env python
"""Extract melodies from the whole music21 corpus and print what came out and how long it took.

    .venv/bin/python scripts/extract_corpus_stats.py [--cache-dir var/corpus-cache] [--processes 2]
        [--limit N] [--json stats.json]

Every file of `music21.corpus.getPaths()` is read as bytes and named by its path inside the corpus
(`essenFolksong/altdeu10.abc`), as the training pipeline receives assets from storage. Prints files,
melodies, failures by code, works skipped by reason, seconds in total and per file, and the corpus
statistics of `generation.engines.reference.metrics`. A second run with the same cache directory reads
every result from the cache; use a fresh directory (or --no-cache) to time extraction itself.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def corpus_files(limit: int | None) -> list[tuple[str, bytes]]:
    """(path inside the corpus, bytes) for every corpus file music21 lists, in sorted path order."""
    from music21 import corpus

    paths = sorted(Path(str(p)) for p in corpus.getPaths())
    root = Path(corpus.__file__).resolve().parent
    files = [(str(p.resolve().relative_to(root)), p.read_bytes()) for p in paths]
    return files[:limit] if limit else files


def main() -> int:
    """Parse arguments, extract, print the report."""
    from generation.engines.reference.corpus import CorpusError, Extraction, Melody, extract_many_detailed
    from generation.engines.reference.metrics import corpus_statistics

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache-dir", type=Path, default=ROOT / "var" / "corpus-cache")
    parser.add_argument("--no-cache", action="store_true", help="extract into a temporary cache, then drop it")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--limit", type=int, default=None, help="only the first N files")
    parser.add_argument("--json", type=Path, default=None, help="also write the statistics here")
    args = parser.parse_args()

    files = corpus_files(args.limit)
    with tempfile.TemporaryDirectory(prefix="clearcue-corpus-cache-") as scratch:
        cache_dir = Path(scratch) if args.no_cache else args.cache_dir
        started = time.perf_counter()
        results = extract_many_detailed(files, cache_dir, processes=args.processes)
        elapsed = time.perf_counter() - started

    failures: Counter[str] = Counter()
    failures_by_suffix: Counter[str] = Counter()
    skipped: Counter[str] = Counter()
    truncated = realigned = 0
    melodies: list[Melody] = []
    for name, outcome in results.items():
        if isinstance(outcome, CorpusError):
            failures[outcome.code] += 1
            failures_by_suffix[f"{outcome.code} {Path(name).suffix}"] += 1
            continue
        assert isinstance(outcome, Extraction)
        melodies.extend(outcome.melodies)
        skipped.update(outcome.skipped)
        truncated += outcome.truncated
        realigned += outcome.realigned
    stats = corpus_statistics(melodies)
    by_suffix = Counter(Path(m.source).suffix for m in melodies)

    print(f"files:            {len(files)}")
    print(f"melodies:         {len(melodies)}  by suffix: {dict(sorted(by_suffix.items()))}")
    print(f"failures by code: {dict(sorted(failures.items()))}  ({dict(sorted(failures_by_suffix.items()))})")
    print(f"works skipped:    {dict(sorted(skipped.items()))}")
    print(f"melodies with a bar moved onto the grid: {realigned}; ended at an overfull bar: {truncated}")
    print(f"seconds total:    {elapsed:.1f} with {args.processes} processes "
          f"({elapsed / max(1, len(files)):.3f} s/file)")
    print("statistics:")
    for name, value in stats.items():
        shown = [round(v, 4) for v in value] if isinstance(value, list) else value
        print(f"  {name}: {shown}")
    if args.json:
        args.json.write_text(json.dumps({"seconds": elapsed, "files": len(files), "failures": failures,
                                         "skipped": skipped, "statistics": stats}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
