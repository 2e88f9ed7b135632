#!/usr/bin/env python
"""Validate style attribution: do outputs generated with style tag X attribute most influence to X's works?

    .venv/bin/python scripts/validate_attribution.py [--per-tag 12] [--tags composer:...,period:...]
                                                     [--cache var/cache/melodies] [--tune]

No database. Loads the shipped reference composer through the real loading path
(`generation.engines.base.load_engine`, checkpoint pinned by the SHA-256 in model.json), reads every work
of its shipped training manifest from the installed music21 corpus (SHA-256 checked against the
manifest), extracts melodies through the corpus cache, takes each work's style tags from the reference
catalog survey (`licensing.reference_corpus.survey`, formatted as the catalog ingestion stores them),
and builds the attribution index over the works' features.

Then, for each style tag (default: every composer and period tag of the model with at least
`--min-works` training works), it composes `--per-tag` cues with that tag requested (scene descriptions
and parameters from `scenes.json`, cycled; seed = output number) and the same cues with no tag (the
control), attributes each output, and prints per tag, with style weighting OFF (pure similarity: the
honest test of whether the output resembles X's works) and ON (production: style_rows = the works
carrying X):
  majority  how often X's works get > 50% of the influence;
  plural    how often X gets the largest total among the tags of its kind (composer:* or period:*);
  top1      how often the single most influential work carries X;
  mean      X's mean share;
  control   X's mean share for the same cues composed without any tag (OFF), and X's share of the
            training works (prior): the lift over these is what the conditioning changed.

`--tune` first prints the feature-space measurements the production constants were chosen from:
leave-one-out kNN tag precision over the training works for several block weightings, and the
softmax temperature that best predicts a held-out work's tags from its neighbours (log-loss).
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import statistics
import sys
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from generation.engines.reference import corpus  # noqa: E402
from provenance import attribution  # noqa: E402

SHIPPED = ROOT / "generation" / "engines" / "reference" / "shipped"
SCENES = ROOT / "generation" / "engines" / "reference" / "scenes.json"
KINDS = ("composer", "period")


def load_training_works(manifest: Mapping[str, Any], cache: Path) -> tuple[dict[str, list[corpus.Melody]], float]:
    """Melodies of every manifest work (works with none left out) and the extraction time in seconds."""
    from licensing.reference_corpus import music21_corpus_root

    root = music21_corpus_root()
    items = []
    for record in manifest["records"]:
        data = (root / record["work"].split("/", 1)[1]).read_bytes()
        if hashlib.sha256(data).hexdigest() != record["sha256"]:
            raise SystemExit(f"{record['work']} differs from the manifest's SHA-256")
        items.append((record["work"], data))
    started = time.perf_counter()
    extracted = corpus.extract_many(items, cache, processes=2)
    elapsed = time.perf_counter() - started
    works = {key: list(result) for key, result in extracted.items()
             if not isinstance(result, corpus.CorpusError) and result}
    return works, elapsed


def work_tags(keys: Sequence[str]) -> dict[str, set[str]]:
    """Style tags per work key, as catalog ingestion stores them ("kind:value", lower case)."""
    from licensing.reference_corpus import music21_corpus_root, survey

    wanted = set(keys)
    tags: dict[str, set[str]] = {}
    for work in survey(music21_corpus_root(), as_of_year=2026):
        key = f"music21-corpus/{work.relative_path}"
        if key in wanted:
            tags[key] = {f"{kind}:{value}"[:150].lower() for kind, values in work.style_tags.items()
                         for value in values if value.strip()}
    return tags


# ---------------------------------------------------------------------------------------------------
# Tuning: measurements on the training works themselves


def tune(keys: Sequence[str], blocks: Sequence[dict[str, np.ndarray]], tags: Mapping[str, set[str]]) -> None:
    """Leave-one-out kNN tag precision per block weighting, and the log-loss-optimal temperature."""
    names = list(attribution.BLOCK_SIZES)
    # Per block, the Bhattacharyya matrix: cos of the weighted embedding is sum_b w_b * BC_b.
    roots = {name: np.sqrt(np.stack([b[name] for b in blocks])) for name in names}
    bc = {name: r @ r.T for name, r in roots.items()}
    labels: dict[str, np.ndarray] = {}
    classes: dict[str, list[str]] = {}
    for kind in KINDS:
        values = [next((t for t in sorted(tags[key]) if t.startswith(kind + ":")), "") for key in keys]
        classes[kind] = sorted(v for v, c in Counter(values).items() if v and c >= 8)
        labels[kind] = np.asarray([classes[kind].index(v) if v in classes[kind] else -1 for v in values])

    def precision(sim: np.ndarray, k: int = 10) -> dict[str, float]:
        sim = sim.copy()
        np.fill_diagonal(sim, -np.inf)
        neighbours = np.argpartition(-sim, k, axis=1)[:, :k]
        out = {}
        for kind in KINDS:
            lab = labels[kind]
            hits = (lab[neighbours] == lab[:, None]).mean(axis=1)
            out[kind] = float(np.mean([hits[lab == c].mean() for c in range(len(classes[kind]))]))
        return out

    print("\nTuning 1: leave-one-out precision@10 of the training works' nearest works, macro-averaged over")
    print("the tags with >= 8 works (" + "; ".join(f"{k}: {len(classes[k])} tags" for k in KINDS) + ")")
    print(f"  {'weighting':<72} {'composer':>8} {'period':>7}")
    rows = [("production " + json.dumps({k: round(v, 3) for k, v in attribution.BLOCK_WEIGHTS.items()}),
             precision(sum(attribution.BLOCK_WEIGHTS[name] * bc[name] for name in names)))]
    rows += [(f"only {name}", precision(bc[name])) for name in names]
    rows += [(f"all but {name}", precision(sum(bc[o] for o in names if o != name))) for name in names]
    for label, result in rows:
        print(f"  {label:<72} {result['composer']:8.3f} {result['period']:7.3f}")
    grid = []
    for combo in itertools.product(range(3), repeat=len(names)):
        if any(combo):
            result = precision(sum(c * bc[name] for c, name in zip(combo, names, strict=True) if c))
            grid.append((result["composer"] + result["period"], combo, result))
    grid.sort(key=lambda row: -row[0])
    print(f"  grid (weights 0..2 per block, {len(grid)} weightings), best 5 by composer + period:")
    for _, combo, result in grid[:5]:
        print(f"    {dict(zip(names, combo, strict=True))!s:<70} {result['composer']:8.3f} {result['period']:7.3f}")

    # k and temperature: a held-out work's tag predicted from softmax(s/T) over its k nearest other works.
    print("\nTuning 2: log-loss of predicting a held-out work's tag from softmax(similarity / T) over its k")
    print("nearest other works (tag probability = the neighbours' summed share carrying it, floored at 1e-3),")
    print("macro-averaged over tags; perplexity = effective number of works sharing the influence:")
    sim = sum(attribution.BLOCK_WEIGHTS[name] * bc[name] for name in names)
    np.fill_diagonal(sim, -np.inf)
    order = np.argsort(-sim, axis=1, kind="stable")
    for k in (16, 32, 64, 128):
        neighbours = order[:, :k]
        near = np.take_along_axis(sim, neighbours, axis=1)
        print(f"  k={k}: similarity of the 1st neighbour median {np.median(near[:, 0]):.4f}, 1st minus {k}th "
              f"median {np.median(near[:, 0] - near[:, -1]):.4f}")
        for temperature in (0.002, 0.004, 0.006, 0.008, 0.01, 0.015, 0.02):
            w = np.exp((near - near[:, :1]) / temperature)
            w /= w.sum(axis=1, keepdims=True)
            perplexity = np.exp(-np.sum(w * np.log(np.maximum(w, 1e-300)), axis=1))
            losses = {}
            for kind in KINDS:
                lab = labels[kind]
                p = np.sum(w * (lab[neighbours] == lab[:, None]), axis=1)
                loss = -np.log(np.maximum(1e-3, p))
                losses[kind] = float(np.mean([loss[lab == c].mean() for c in range(len(classes[kind]))]))
            print(f"    T={temperature:<6} composer {losses['composer']:.3f}  period {losses['period']:.3f}  "
                  f"perplexity median {np.median(perplexity):.1f}")


# ---------------------------------------------------------------------------------------------------
# Validation on generated outputs


def share_by_tag(result: attribution.Attribution, tags: Mapping[str, set[str]], kind: str) -> Counter[str]:
    """ppm per tag of one kind (a work with two tags of the kind counts for both)."""
    out: Counter[str] = Counter()
    for contribution in result.contributions:
        for tag in tags.get(contribution.work, ()):
            if tag.startswith(kind + ":"):
                out[tag] += contribution.ppm
    return out


def summarize(tag: str, results: Sequence[attribution.Attribution], tags: Mapping[str, set[str]]) -> dict[str, float]:
    """majority / plural / top1 rates and the mean share of `tag` over attributions."""
    kind = tag.split(":", 1)[0]
    majority = plural = top1 = 0
    shares = []
    for result in results:
        by_tag = share_by_tag(result, tags, kind)
        share = by_tag.get(tag, 0)
        shares.append(share / attribution.PPM)
        majority += share > attribution.PPM // 2
        plural += share > 0 and all(share > v for t, v in by_tag.items() if t != tag)
        top1 += bool(result.contributions) and tag in tags.get(result.contributions[0].work, set())
    count = max(1, len(results))
    return {"n": len(results), "majority": majority / count, "plural": plural / count, "top1": top1 / count,
            "mean": statistics.mean(shares) if shares else 0.0}


def print_table(title: str, figures: Mapping[str, Mapping[str, Any]], columns: Sequence[str]) -> None:
    """One line per tag: works, prior, then majority/plural/top1/mean per column, and the control's mean."""
    print(f"\n{title}")
    head = f"{'tag':<33} {'works':>5} {'prior':>6}"
    for column in columns:
        head += f" | {column + ': >50%':>13} {'plural':>6} {'top1':>5} {'mean':>5}"
    print(head + (" | control mean" if any("control" in row for row in figures.values()) else ""))
    for tag, row in figures.items():
        line = f"{tag:<33} {row['works']:>5} {row['prior']:6.1%}"
        for column in columns:
            f = row[column]
            line += f" | {f['majority']:13.0%} {f['plural']:6.0%} {f['top1']:5.0%} {f['mean']:5.0%}"
        if "control" in row:
            line += f" | {row['control']['mean']:12.0%}"
        print(line)
    for column in columns:
        rows = list(figures.values())
        print(f"  mean over tags, {column}: >50% {statistics.mean(r[column]['majority'] for r in rows):.0%}, plural "
              f"{statistics.mean(r[column]['plural'] for r in rows):.0%}, top1 "
              f"{statistics.mean(r[column]['top1'] for r in rows):.0%}, mean share "
              f"{statistics.mean(r[column]['mean'] for r in rows):.0%}"
              + (f" (control {statistics.mean(r['control']['mean'] for r in rows):.0%}, prior "
                 f"{statistics.mean(r['prior'] for r in rows):.0%})" if "control" in rows[0] else ""))


def typical_key(melodies: Sequence[corpus.Melody]) -> tuple[int, str]:
    """The most common (meter, mode) among melodies (ties: smallest meter, then major)."""
    counts = Counter((m.meter, m.mode) for m in melodies)
    return min(counts, key=lambda key: (-counts[key], key))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint-dir", type=Path, default=SHIPPED)
    parser.add_argument("--cache", type=Path, default=ROOT / "var" / "cache" / "melodies")
    parser.add_argument("--per-tag", type=int, default=12, help="outputs (and held-out works) per tag")
    parser.add_argument("--tags", default="", help="comma-separated style tags (default: composers and periods)")
    parser.add_argument("--min-works", type=int, default=8, help="default tags need this many training works")
    parser.add_argument("--tune", action="store_true", help="print the feature-space tuning measurements first")
    parser.add_argument("--no-validate", action="store_true", help="with --tune: stop after tuning")
    parser.add_argument("--json", type=Path, default=None, help="also write the per-tag figures here")
    args = parser.parse_args()

    from generation.engines.base import load_engine
    from generation.engines.reference.plan import PlanParams
    from generation.engines.reference.sample import BarSpec, SamplingSpec, sample_melody
    from generation.engines.score import scale_of

    meta = json.loads((args.checkpoint_dir / "model.json").read_text())
    manifest = json.loads((args.checkpoint_dir / "manifest.json").read_text())
    started = time.perf_counter()
    engine: Any = load_engine(meta["engine"], (args.checkpoint_dir / meta["checkpoint"]).read_bytes(),
                              meta["checkpoint_sha256"], meta.get("config"))
    print(f"model {meta['name']}@{meta['version']} ({meta['checkpoint_sha256'][:12]}) loaded in "
          f"{time.perf_counter() - started:.1f} s; {manifest['work_count']} training works")

    args.cache.mkdir(parents=True, exist_ok=True)
    works, extract_seconds = load_training_works(manifest, args.cache)
    melodies = sum(len(m) for m in works.values())
    print(f"melodies: {melodies} from {len(works)} works in {extract_seconds:.1f} s (cache {args.cache})")
    started = time.perf_counter()
    keys = sorted(works)
    tags = work_tags(keys)
    print(f"style tags of {len(tags)} works from the catalog survey in {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    blocks = [attribution.feature_blocks((m.notes, m.meter) for m in works[key]) for key in keys]
    vectors = np.stack([attribution.embed_blocks(b) for b in blocks])
    feature_seconds = time.perf_counter() - started
    started = time.perf_counter()
    index = attribution.AttributionIndex.build(keys, vectors)
    print(f"features of {len(keys)} works in {feature_seconds:.1f} s; index ({index.lists or 'exact, no'} lists) "
          f"built in {time.perf_counter() - started:.3f} s")
    if args.tune:
        tune(keys, blocks, tags)
        if args.no_validate:
            return

    counts = Counter(tag for key in keys for tag in tags.get(key, ()))
    if args.tags:
        chosen = [t.strip().lower() for t in args.tags.split(",") if t.strip()]
    else:
        chosen = sorted(t for t in engine.style_tags if t.split(":", 1)[0] in KINDS and counts[t] >= args.min_works)
    unknown = [t for t in chosen if t not in engine.style_tags]
    if unknown:
        raise SystemExit(f"the model does not condition on {unknown}")
    rows_of = {tag: [row for row, key in enumerate(keys) if tag in tags.get(key, ())] for tag in chosen}
    scenes = json.loads(SCENES.read_text())["scenes"]
    print(f"\n{len(chosen)} tags, {args.per_tag} outputs per tag; cue scenes cycled from {SCENES.name}; "
          f"k={attribution.DEFAULT_K}, T={attribution.TEMPERATURE}, style weight {attribution.STYLE_WEIGHT}")

    def base_row(tag: str) -> dict[str, Any]:
        return {"works": len(rows_of[tag]), "prior": len(rows_of[tag]) / len(keys)}

    # 1. Production cues: plan + constrained composition, as a job runs them.
    cues: dict[str, dict[str, Any]] = {}
    control: dict[int, attribution.Attribution] = {}
    compose_seconds: list[float] = []
    attribute_seconds: list[float] = []
    for tag in chosen:
        off: list[attribution.Attribution] = []
        on: list[attribution.Attribution] = []
        for number in range(args.per_tag):
            scene = scenes[number % len(scenes)]
            for styled in (True, False):
                if not styled and number in control:
                    continue
                params = PlanParams.from_dict({**scene.get("params", {}), "seed": number,
                                               "style_tags": [tag] if styled else []})
                started = time.perf_counter()
                plan = engine.plan(scene["description"], params)
                composition = engine.compose(plan, seed=number)
                compose_seconds.append(time.perf_counter() - started)
                started = time.perf_counter()
                query = attribution.melody_features(composition.material, plan.meter)
                result = attribution.attribute(index, query)
                attribute_seconds.append(time.perf_counter() - started)
                if styled:
                    off.append(result)
                    on.append(attribution.attribute(index, query, style_rows=rows_of[tag]))
                else:
                    control[number] = result
        plain = [control[number] for number in range(args.per_tag)]
        cues[tag] = {**base_row(tag), "off": summarize(tag, off, tags), "on": summarize(tag, on, tags),
                     "control": summarize(tag, plain, tags)}
    print(f"cues: compose median {statistics.median(compose_seconds):.2f} s per output; features + attribution "
          f"(exact index, {len(keys)} works) median {1000 * statistics.median(attribute_seconds):.1f} ms")
    print_table("1. Production cues (planner + constrained sampler; control = the same cues composed without a "
                "tag, OFF)", cues, ("off", "on"))

    # 2. Free samples: only the bar count (16) and the scale are imposed; the model picks rhythm and density.
    # One torch thread, as ReferenceComposer.compose uses: one-token steps gain nothing from more, and on a
    # shared 2-core machine extra spinning threads made this section ten times slower.
    import torch

    torch.set_num_threads(1)
    free: dict[str, dict[str, Any]] = {}
    for tag in chosen:
        meter, mode = typical_key([m for row in rows_of[tag] for m in works[keys[row]]])
        scale = tuple(sorted(set(scale_of(mode) + ((11,) if mode == "minor" else ()))))
        results: dict[str, list[attribution.Attribution]] = {"off": [], "on": [], "control": []}
        for number in range(args.per_tag):
            for styled in (True, False):
                spec = SamplingSpec(mode=mode, meter=meter, styles=(tag,) if styled else (), top_p=1.0, max_leap=24,
                                    bars=tuple(BarSpec(-1, scale) for _ in range(16)))
                notes, _ = sample_melody(engine.model, engine.vocab, spec, seed=number)  # 1 thread: see main
                query = attribution.melody_features(notes, meter)
                if styled:
                    results["off"].append(attribution.attribute(index, query))
                    results["on"].append(attribution.attribute(index, query, style_rows=rows_of[tag]))
                else:
                    results["control"].append(attribution.attribute(index, query))
        free[tag] = {**base_row(tag), **{name: summarize(tag, r, tags) for name, r in results.items()}}
    print_table("2. Free samples (16 bars in the tag's most common meter and mode; the model chooses rhythm and "
                "density; control = untagged, OFF)", free, ("off", "on"))

    # 3. Held-out training melodies: one melody of a work carrying the tag, that work left out of the index.
    held: dict[str, dict[str, Any]] = {}
    rng = np.random.default_rng(0)
    for tag in chosen:
        picks = rng.choice(rows_of[tag], size=min(args.per_tag, len(rows_of[tag])), replace=False)
        results_held = []
        for row in sorted(int(p) for p in picks):
            melody = works[keys[row]][int(rng.integers(len(works[keys[row]])))]
            others = [r for r in range(len(keys)) if r != row]
            loo = attribution.AttributionIndex.build([keys[r] for r in others], vectors[others])
            results_held.append(attribution.attribute(loo, attribution.melody_features(melody.notes, melody.meter)))
        held[tag] = {**base_row(tag), "off": summarize(tag, results_held, tags)}
    print_table("3. Held-out training melodies (positive control of the feature space: one melody of a work "
                "carrying the tag, the work left out of the index, OFF)", held, ("off",))

    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"cues": cues, "free": free, "held_out": held}, indent=1, sort_keys=True)
                             + "\n")


if __name__ == "__main__":
    main()
