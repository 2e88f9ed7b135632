"""Evaluate the reference composer: plan adherence, musical statistics vs a Markov baseline, memorization, speed.

Prints figures; asserts nothing (a benchmark, not a test). Runs without a database: it loads a checkpoint
(default: the shipped one, pinned by its model.json) and reads the training melodies from the music21
corpus files named in the shipped manifest.

    .venv/bin/python scripts/eval_composer.py [--out var/eval] [--scenes N] [--free-samples N] [--json FILE]

Plan adherence is measured on what the composer outputs, not on the plan: tempo and section starts from
the exported MIDI file, keys from the notes (Krumhansl-Schmuckler per section), hit points from onsets in
the rendered audio (the strongest onset within 2 s of each requested time must be within one beat of it),
and loudness from the audio (sections meant to be louder by >= 0.15 intensity must measure louder).

Musical statistics are Jensen-Shannon divergences to the whole training corpus (melodies C-relative, as
trained). Free model samples and Markov samples come in equal numbers and lengths, each pair taking the
mode and meter of one randomly picked corpus melody (see `free_and_markov`). Raw pitch classes compare
C-relative notes, so they also measure the mode mix: the corpus is ~89% major, film cues are mostly minor.
The key-normalized column moves every piece (a corpus melody, a free sample, one section of a cue) from
its estimated key to C major / A minor first, so it compares scale-degree use whatever the mode.

Two checks follow the pooled table. A paired bootstrap resamples the picks (each with its free and Markov
samples) and prints how often the model stays closer: pooled differences smaller than sampling noise show as
~0.5. Piece by piece (`metrics.set_overlap`, Yang & Lerch 2020) compares each sample's own histograms with
`--reference` other corpus melodies the way corpus melodies compare with each other, which pooled histograms
cannot: a first-order chain matches the pooled interval and duration histograms by construction.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from generation.engines import export, synth  # noqa: E402
from generation.engines.reference import corpus, metrics  # noqa: E402
from generation.engines.reference.engine import ReferenceComposer  # noqa: E402
from generation.engines.reference.plan import PlanParams, target_tempo  # noqa: E402
from generation.engines.reference.sample import free_spec, sample_melody  # noqa: E402
from generation.engines.score import Score, TempoChange, TempoMap, scale_of  # noqa: E402

SHIPPED = ROOT / "generation" / "engines" / "reference" / "shipped"
SCENES = ROOT / "generation" / "engines" / "reference" / "scenes.json"
MAX_BARS = 512  # longest free or Markov sample (the longest corpus melody has 501 bars)


@dataclass(frozen=True)
class Mel:
    """A melody for the statistics (C-relative notes in sixteenths)."""

    meter: int
    notes: tuple[tuple[int, int, int], ...]
    mode: str = ""


def training_melodies(manifest: dict, cache: Path, processes: int = 2) -> list[corpus.Melody]:
    """Melodies of the manifest's works, read from the music21 corpus (cached extraction)."""
    from licensing.reference_corpus import music21_corpus_root

    root = music21_corpus_root()
    items = []
    for record in manifest["records"]:
        path = root / record["work"].split("/", 1)[1]
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != record["sha256"]:
            raise SystemExit(f"{path} differs from the manifest's SHA-256")
        items.append((record["work"], data))
    out: list[corpus.Melody] = []
    for result in corpus.extract_many(items, cache, processes).values():
        if not isinstance(result, corpus.CorpusError):
            out.extend(m for m in result if m.meter in (2, 3, 4))
    return out


def training_styles(manifest: dict) -> dict[str, tuple[str, ...]]:
    """Each manifest work's style tags as the catalog stores them, which is what training saw.

    Exactly as `ingest_reference_catalog` writes them: "kind:value" cut to 150 characters, empty values
    dropped, lower-cased, sorted. (Unlowered tags missed most genre and composer tokens, so free samples were
    conditioned on fewer tags than their melodies had in training.)
    """
    from licensing.reference_corpus import music21_corpus_root, survey

    wanted = {record["work"].split("/", 1)[1] for record in manifest["records"]}
    return {f"music21-corpus/{work.relative_path}": tuple(sorted({
        f"{kind}:{value}"[:150].lower() for kind, values in work.style_tags.items() for value in values
        if value.strip()}))
        for work in survey(music21_corpus_root(), as_of_year=time.gmtime().tm_year) if work.relative_path in wanted}


def sections_of(plan, material) -> list[Mel]:
    """A cue's melody cut at its section boundaries (each section has its own key and mode; notes are C-relative)."""
    bar_len = plan.meter * 4
    out = []
    for section in plan.sections:
        lo, hi = section.start_bar * bar_len, (section.start_bar + section.bars) * bar_len
        notes = tuple((onset - lo, duration, pitch) for onset, duration, pitch in material if lo <= onset < hi)
        if notes:
            out.append(Mel(plan.meter, notes, section.mode))
    return out


def free_and_markov(composer: ReferenceComposer, train_mels: list[corpus.Melody],
                    styles: dict[str, tuple[str, ...]], count: int, bars_wanted: int
                    ) -> tuple[list[Mel], list[Mel], list[Mel], list[Mel], list[corpus.Melody]]:
    """Free model samples and Markov samples, one of each per randomly picked corpus melody, with its conditioning.

    Each free sample and Markov sample has as many bars as the same corpus melody (or `bars_wanted` bars) and
    takes its mode and meter, so all sets hold the corpus's mix of lengths, modes and meters. Free samples
    also take the melody's style tags, as in training.
    - "model (free)": the model's own distribution: every bar's density, all 12 pitch classes, the register
      and an untruncated nucleus are left to it. The Markov chain has no key constraint either.
    - "model (free, in scale)": the same with pitches held to the mode's scale, as cues are.
    - "markov": one first-order chain over (interval, duration) events fitted on the whole corpus.
    - "markov (mode+meter)": one chain per (mode, meter) fitted on those corpus melodies only, so the baseline
      knows as much of the conditioning as the model does apart from style tags (it is not weaker: where a
      class is rare it still has every melody of that class).
    """
    rng = np.random.default_rng(0)
    picks = rng.choice(len(train_mels), size=count, replace=False)
    lengths = {int(i): len(metrics.notes_per_bar(train_mels[int(i)])) for i in picks}
    baseline = metrics.MarkovBaseline().fit(train_mels)
    conditioned: dict[tuple[str, int], metrics.MarkovBaseline] = {}
    for key in sorted({(m.mode, m.meter) for m in train_mels}):
        conditioned[key] = metrics.MarkovBaseline().fit([m for m in train_mels if (m.mode, m.meter) == key])
    free, free_scale, markov, markov_conditioned = [], [], [], []
    chromatic = tuple(range(12))
    for n, index in enumerate(picks):
        ref = train_mels[int(index)]
        # As long as the melody it stands for (0: its own bar count, capped at MAX_BARS), so the samples have the
        # corpus's mix of lengths: the opening bars of a tune are busier than its average.
        bars = min(MAX_BARS, max(1, lengths[int(index)])) if bars_wanted == 0 else bars_wanted
        tags = styles.get(ref.source, ())
        scale = tuple(sorted(set(scale_of(ref.mode) + ((11,) if ref.mode == "minor" else ()))))
        for out, pcs in ((free, chromatic), (free_scale, scale)):
            notes, _ = sample_melody(composer.model, composer.vocab, free_spec(ref.mode, ref.meter, tags, bars, pcs),
                                     seed=n)
            out.append(Mel(ref.meter, tuple(notes), ref.mode))
        markov.append(Mel(ref.meter, tuple(baseline.sample(bars, ref.meter, rng)), ref.mode))
        chain = conditioned[(ref.mode, ref.meter)]
        markov_conditioned.append(Mel(ref.meter, tuple(chain.sample(bars, ref.meter, rng)), ref.mode))
    return free, free_scale, markov, markov_conditioned, [train_mels[int(i)] for i in picks]


def onset_envelope(audio: np.ndarray, sr: int, hop: int = 480) -> np.ndarray:
    """Positive change of log energy per 10 ms frame (a simple onset strength)."""
    mono = audio.mean(axis=1)
    frames = len(mono) // hop
    energy = np.square(mono[: frames * hop]).reshape(frames, hop).sum(axis=1)
    log = 10 * np.log10(energy + 1e-9)
    return np.maximum(0.0, np.diff(log, prepend=log[0]))


def check_cue(score: Score, audio: np.ndarray, sr: int, plan, scene) -> dict[str, list[bool]]:
    """Per-criterion pass/fail list for one cue."""
    results: dict[str, list[bool]] = {"tempo": [], "key": [], "sections": [], "hit_points": [], "loudness": []}
    midi = export.read_midi(export.to_midi(score))
    tempo = TempoMap(tuple(TempoChange(beat, bpm) for beat, bpm in sorted(midi.tempos)))  # as read back

    targets = target_tempo(plan)
    melody_tracks = {i for i, name in enumerate(midi.track_names) if name.endswith("melody")}
    melody_onsets = [n.start for n in midi.notes if n.track in melody_tracks]
    for section, target in zip(plan.sections, targets, strict=True):
        beat0 = section.start_bar * plan.meter
        # MIDI stores microseconds per quarter as an integer: allow its rounding (< 0.001 BPM here).
        results["tempo"].append(abs(tempo.bpm_at(beat0) - target) <= 3.0 + 1e-3)
        weights = [(n.pitch, n.duration) for n in score.notes
                   if n.part not in ("hits",) and beat0 <= n.start < beat0 + section.bars * plan.meter]
        tonic, mode, _ = metrics.key_estimate(weights)
        results["key"].append((tonic, mode) == (section.tonic, section.mode))
        if section.index > 0:
            beat_s = 60 / section.tempo
            planned = section.start
            results["sections"].append(abs(tempo.seconds(beat0) - planned) <= beat_s and
                                       any(abs(o - beat0) <= 1.0 for o in melody_onsets))
    envelope = onset_envelope(audio, sr)
    for _, requested in (scene["expect"].get("hit_points") or []):
        hit = next((h for h in plan.hit_points if abs(h.requested - requested) < 0.01), None)
        beat = 60 / (plan.section_at_bar(hit.bar).tempo if hit else plan.sections[0].tempo)
        lo, hi = int(max(0, requested - 2) * 100), int(min(len(envelope) / 100, requested + 2) * 100)
        peak = (lo + int(np.argmax(envelope[lo:hi]))) / 100
        results["hit_points"].append(abs(peak - requested) <= beat)
    level = synth.loudness_db(audio, sr, window=0.4)
    section_db = []
    for section in plan.sections:
        a, b = int((section.start + 0.5) / 0.4), max(int((section.start + 0.5) / 0.4) + 1, int(section.end / 0.4))
        section_db.append(float(np.mean(level[a:b])))
    for i, si in enumerate(plan.sections):
        for j, sj in enumerate(plan.sections):
            mi = (si.intensity_start + si.intensity_end) / 2
            mj = (sj.intensity_start + sj.intensity_end) / 2
            if i < j and abs(mi - mj) >= 0.15:
                results["loudness"].append((section_db[i] > section_db[j]) == (mi > mj))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint-dir", type=Path, default=SHIPPED)
    parser.add_argument("--out", type=Path, default=ROOT / "var" / "eval")
    parser.add_argument("--cache", type=Path, default=ROOT / "var" / "cache" / "melodies")
    parser.add_argument("--scenes", type=int, default=0, help="only the first N scenes")
    parser.add_argument("--free-samples", type=int, default=120, help="free model samples (and as many Markov ones)")
    parser.add_argument("--bars", type=int, default=0,
                        help="bars per free and Markov sample (0: as many as the corpus melody each stands for)")
    parser.add_argument("--resamples", type=int, default=1000, help="paired bootstrap resamples of the picks")
    parser.add_argument("--reference", type=int, default=1000,
                        help="corpus melodies (not among the picks) the piece-by-piece comparison measures against")
    parser.add_argument("--processes", type=int, default=2, help="processes extracting uncached corpus melodies")
    parser.add_argument("--json", type=Path, help="also write the statistics table here (for the model card)")
    parser.add_argument("--write", type=int, default=3, help="write WAV/MIDI/MusicXML of the first N cues")
    args = parser.parse_args()
    meta = json.loads((args.checkpoint_dir / "model.json").read_text())
    manifest = json.loads((args.checkpoint_dir / "manifest.json").read_text())
    composer = ReferenceComposer.load((args.checkpoint_dir / meta["checkpoint"]).read_bytes(),
                                      meta["checkpoint_sha256"])
    scenes = json.loads(SCENES.read_text())["scenes"]
    if args.scenes:
        scenes = scenes[: args.scenes]
    args.out.mkdir(parents=True, exist_ok=True)
    args.cache.mkdir(parents=True, exist_ok=True)
    print(f"model {meta['name']}@{meta['version']} ({meta['checkpoint_sha256'][:12]}), "
          f"{manifest['work_count']} training works, {len(scenes)} scenes")

    # 1. Plan adherence and speed.
    passes: dict[str, list[bool]] = {}
    per_second, sixty, rerender = [], [], []
    outputs: list[Mel] = []
    cue_sections: list[Mel] = []
    failures = []
    for i, scene in enumerate(scenes):
        params = PlanParams.from_dict(scene.get("params", {}))
        started = time.perf_counter()
        cue = composer.cue(scene["description"], params, seed=i)
        elapsed = time.perf_counter() - started
        per_second.append(elapsed / cue.plan.duration)
        if 50 <= cue.plan.duration <= 70:
            sixty.append(elapsed * 60 / cue.plan.duration)
        started = time.perf_counter()
        revised = composer.revise(cue.composition, tempo=cue.plan.sections[0].tempo * 1.1)
        composer.rerender(revised)
        rerender.append((time.perf_counter() - started) * 60 / cue.plan.duration)
        result = check_cue(cue.score, cue.audio, cue.sample_rate, cue.plan, scene)
        for key, values in result.items():
            passes.setdefault(key, []).extend(values)
            if not all(values):
                failures.append(f"{scene['id']}: {key} {values}")
        outputs.append(Mel(cue.plan.meter, tuple(cue.composition.material), cue.plan.sections[0].mode))
        cue_sections.extend(sections_of(cue.plan, cue.composition.material))
        if i < args.write:
            stem = args.out / scene["id"]
            synth.write_audio(stem.with_suffix(".wav"), cue.audio, cue.sample_rate)
            stem.with_suffix(".mid").write_bytes(export.to_midi(cue.score))
            stem.with_suffix(".musicxml").write_bytes(export.to_musicxml(cue.score))
            stem.with_suffix(".plan.json").write_text(json.dumps(cue.plan.to_dict(), indent=1))
    print("\nPlan adherence (measured on MIDI, notes and audio):")
    total_pass = total = 0
    for key, values in passes.items():
        total_pass += sum(values)
        total += len(values)
        print(f"  {key:<11} {sum(values):>4}/{len(values):<4} {100 * sum(values) / max(1, len(values)):6.1f}%")
    print(f"  {'overall':<11} {total_pass:>4}/{total:<4} {100 * total_pass / max(1, total):6.1f}%")
    for line in failures[:12]:
        print(f"    miss: {line}")

    print("\nSpeed (2-core CPU):")
    if sixty:
        print(f"  60-s cue compose+arrange+render: median {statistics.median(sixty):.2f} s, max {max(sixty):.2f} s "
              f"({len(sixty)} cues of 50-70 s, scaled to 60 s)")
    print(f"  all cues: median {statistics.median(per_second) * 60:.2f} s per 60 s of audio")
    print(f"  re-render after a tempo change (60 s): median {statistics.median(rerender):.2f} s, "
          f"max {max(rerender):.2f} s")

    # 2. Musical statistics vs the training corpus, model vs a first-order Markov baseline.
    started = time.perf_counter()
    train_mels = training_melodies(manifest, args.cache, args.processes)
    print(f"\nTraining corpus: {len(train_mels)} melodies ({time.perf_counter() - started:.0f} s to load)")
    styles = training_styles(manifest)  # style tags do not depend on the year; the rights finding does
    free, free_scale, markov, markov_conditioned, picked = free_and_markov(composer, train_mels, styles,
                                                                           args.free_samples, args.bars)
    reference = metrics.corpus_statistics(train_mels)
    # Cues change key and mode between sections: each section is one piece for the key-normalized histogram.
    pieces = {"model (cues)": cue_sections}
    # "corpus picks" are the corpus melodies the samples stand for: their distance is the sampling noise alone
    # (what a model that wrote exactly such melodies would score), and their density is what the conditioned
    # samples aim at (a few long, sparse pieces pull the whole corpus's mean down).
    groups = (("corpus picks", picked), ("model (free)", free), ("model (free, in scale)", free_scale),
              ("model (cues)", outputs), ("markov", markov), ("markov (mode+meter)", markov_conditioned))
    length = f"{args.bars} bars" if args.bars else "the length of its corpus melody"
    print(f"  Jensen-Shannon distance to the training corpus (lower is closer); {args.free_samples} free and "
          f"Markov samples, each of {length}, conditioned on the mode and meter of the same corpus melodies:")
    print(f"  {'':<23} {'pitch-class':>11} {'key-norm pc':>11} {'interval':>9} {'duration':>9} {'notes/bar':>9} "
          f"{'density':>8}")
    print(f"  {'corpus':<23} {'':>11} {'':>11} {'':>9} {'':>9} {'':>9} {reference['rhythm_density']:8.2f}")
    table: dict[str, dict[str, float]] = {}
    for name, group in groups:
        stats = metrics.corpus_statistics(group)
        keyed = metrics.key_normalized_pitch_class_histogram(pieces.get(name, group))
        values = [metrics.distance(reference["pitch_class_histogram"], stats["pitch_class_histogram"]),
                  metrics.distance(reference["key_normalized_pitch_class_histogram"], keyed),
                  *(metrics.distance(reference[h], stats[h]) for h in
                    ("interval_histogram", "duration_histogram", "notes_per_bar_histogram"))]
        print(f"  {name:<23} {values[0]:11.4f} {values[1]:11.4f} {values[2]:9.4f} {values[3]:9.4f} {values[4]:9.4f} "
              f"{stats['rhythm_density']:8.2f}")
        table[name] = {**dict(zip(("pitch_class", "key_normalized_pitch_class", "interval", "duration",
                                   "notes_per_bar"), (round(v, 4) for v in values), strict=True)),
                       "density": round(float(stats["rhythm_density"]), 2)}
    # Paired bootstrap: the rows above differ by less than the picks' own noise in places; resample the picks
    # (each pick's free sample and Markov samples together) and count how often the model stays closer.
    pooled = {name: reference[f"{name}_histogram"] for name in metrics.PIECE_FEATURES}
    counts = {name: metrics.piece_counts(group) for name, group in groups
              if name.startswith(("model (free", "markov"))}
    print(f"\n  Paired bootstrap ({args.resamples} resamples of the {args.free_samples} picks): share of resamples in "
          f"which the model's pooled histogram is closer to the corpus than the chain's (density: mean notes per "
          f"bar closer to the corpus's); ~0.5 = no difference:")
    print(f"  {'':<45} " + " ".join(f"{name.replace('_', ' '):>13}" for name in (*metrics.PIECE_FEATURES, "density")))
    bootstrap_table: dict[str, dict[str, float]] = {}
    for model_name in ("model (free)", "model (free, in scale)"):
        for chain in ("markov", "markov (mode+meter)"):
            share = metrics.paired_bootstrap(pooled, counts[model_name], counts[chain],
                                             density=float(reference["rhythm_density"]), resamples=args.resamples)
            bootstrap_table[f"{model_name} vs {chain}"] = share
            print(f"  {model_name + ' vs ' + chain:<45} " + " ".join(
                f"{share[k]:13.3f}" for k in (*metrics.PIECE_FEATURES, "density")))

    # Piece by piece: a first-order chain matches the pooled interval and duration histograms by construction
    # (its stationary distribution is the corpus's), so the pooled table cannot tell it from a model there.
    # Real pieces differ from each other; compare each sample with reference corpus melodies the way corpus
    # melodies compare with each other (metrics.set_overlap). The reference melodies are not among the picks.
    picked_ids = {id(m) for m in picked}
    others = [m for m in train_mels if id(m) not in picked_ids]
    chosen = np.random.default_rng(1).choice(len(others), size=min(args.reference, len(others)), replace=False)
    reference_set = [others[int(i)] for i in chosen]
    print(f"\n  Piece by piece (Yang & Lerch): overlapping area of sample-to-corpus and corpus-to-corpus distances "
          f"of each piece's own histograms, against {len(reference_set)} other corpus melodies (higher is closer, "
          f"1 = indistinguishable):")
    print(f"  {'':<23} " + " ".join(f"{name.replace('_', ' '):>13}" for name in metrics.PIECE_FEATURES))
    overlap_table: dict[str, dict[str, float]] = {}
    for name, group in groups:
        if name == "model (cues)":
            continue  # sections of planned cues, not meant to be the corpus's distribution
        overlap = metrics.set_overlap(group, reference_set)
        overlap_table[name] = {k: round(v, 3) for k, v in overlap.items()}
        print(f"  {name:<23} " + " ".join(f"{overlap[k]:13.3f}" for k in metrics.PIECE_FEATURES))
    cue_modes = Counter(m.mode for m in cue_sections)
    print(f"  cue sections by mode: {dict(sorted(cue_modes.items()))}; corpus melodies by mode: "
          f"{reference['modes']}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({
            "command": f"scripts/eval_composer.py --scenes {len(scenes)} --free-samples {args.free_samples} "
                       f"--bars {args.bars}",
            "measure": "Jensen-Shannon divergence (bits) to the training corpus; density = mean notes per bar",
            "corpus_density": round(float(reference["rhythm_density"]), 2), "rows": table,
            "paired_bootstrap": {"measure": f"share of {args.resamples} paired resamples of the picks in which the "
                                             "model's pooled distance is below the chain's", "rows": bootstrap_table},
            "piece_overlap": {"measure": f"overlapping area (Yang & Lerch) against {len(reference_set)} other "
                                         "corpus melodies; 1 = indistinguishable", "rows": overlap_table}},
            indent=1) + "\n")

    # 3. Memorization: longest run of (interval, duration) events shared with any training melody.
    started = time.perf_counter()
    index = metrics.MemorizationIndex((m.source, m.index, metrics.events_of(m.notes)) for m in train_mels)
    print(f"\nMemorization index over {sum(len(m.notes) for m in train_mels)} training notes "
          f"({time.perf_counter() - started:.1f} s)")
    for name, group in (("model (cues)", outputs), ("model (free)", free), ("markov", markov),
                        ("markov (mode+meter)", markov_conditioned)):
        runs = [index.longest_shared_run(metrics.events_of(m.notes)).length for m in group]
        q = np.percentile(runs, [50, 90, 95, 100])
        print(f"  {name:<14} longest shared run (events): median {q[0]:.0f}, p90 {q[1]:.0f}, p95 {q[2]:.0f}, "
              f"max {q[3]:.0f}")
    print(f"\nWrote {min(args.write, len(scenes))} cues (WAV, MIDI, MusicXML, plan) to {args.out}")


if __name__ == "__main__":
    main()
