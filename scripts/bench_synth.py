#!/usr/bin/env python
"""Built-in synthesizer benchmark: seconds to render a 60-s, 48 kHz orchestral cue, and the real-time factor.

    .venv/bin/python scripts/bench_synth.py [--seconds 60] [--repeats 5] [--sample-rate 48000] [--reverb 0.25]

The cue is synthetic but shaped like the reference composer's output: about 800 notes over ten instruments (string
pad chords, cello and contrabass bass line, violin melody, horn countermelody, harp arpeggios, choir in the climax,
timpani, taiko and cymbal hits), velocities following an intensity arc pp -> ff -> p. Prints the note count, the
best and median wall time of `render`, the real-time factor, the mix's peak and loudness range, and how
closely loudness (2-s windows) follows the intensity arc.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from generation.engines.score import TimedNote
from generation.engines.synth import SYNTH_VERSION, loudness_db, render

CHORDS = ((62, 65, 69), (58, 62, 65), (65, 69, 72), (60, 64, 67))  # Dm, Bb, F, C


def intensity(t: float, total: float) -> float:
    """A pp -> ff -> p arc peaking at 70 % of the cue."""
    x = t / total
    return 0.15 + 0.85 * (x / 0.7 if x < 0.7 else max(0.0, 1 - (x - 0.7) / 0.3 * 0.7))


def cue(seconds: float, bpm: float = 96.0) -> list[TimedNote]:
    """A synthetic cue of `seconds`, about 13 notes per second."""
    beat = 60.0 / bpm
    bar = 4 * beat
    notes: list[TimedNote] = []

    def add(inst: str, pitch: int, start: float, dur: float, part: str, boost: float = 0.0) -> None:
        level = min(1.0, intensity(start, seconds) + boost)
        notes.append(TimedNote(inst, pitch, start, dur, max(1, min(127, round(20 + 107 * level))), part))

    for b in range(int(seconds / bar)):
        t0 = b * bar
        chord = CHORDS[b % len(CHORDS)]
        level = intensity(t0, seconds)
        for p in chord:
            add("strings", p, t0, bar, "pad")
        add("strings", chord[0] - 12, t0, bar, "pad")
        add("contrabass", chord[0] - 24, t0, bar, "bass")
        for h in range(2):
            add("cellos", chord[0] - 12, t0 + h * 2 * beat, 2 * beat, "bass")
        for i in range(8):  # violin melody in eighths and quarters
            if i % 3 == 2:
                continue
            add("violins", chord[i % 3] + 12 + (2 if i == 4 else 0), t0 + i * beat / 2, beat / 2, "melody", 0.1)
        for h in range(4):
            add("horn", chord[(h + 1) % 3] - 12 + (12 if h == 2 else 0), t0 + h * beat, beat, "countermelody")
        for i in range(8):  # harp arpeggio in eighths
            add("harp", chord[i % 3] + (12 if i >= 4 else 0) - 12, t0 + i * beat / 2, beat / 2, "harmony")
        if level > 0.55:
            for p in chord:
                add("choir_pad", p, t0, bar, "pad")
            for i in range(8):
                add("low_percussion", 36, t0 + i * beat / 2, beat / 2, "hits", 0.1 if i % 4 == 0 else 0.0)
        if level > 0.35:
            add("timpani", 50 if b % 2 == 0 else 45, t0, beat, "hits")
            add("timpani", 45, t0 + 2 * beat, beat, "hits")
        if b % 4 == 3:
            add("cymbal", 49, t0 + 3 * beat, beat, "hits")
    return notes


def main() -> None:
    """Render the synthetic cue a few times and print the timing."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--sample-rate", type=int, default=48000)
    parser.add_argument("--reverb", type=float, default=0.25)
    args = parser.parse_args()

    notes = cue(args.seconds)
    instruments = sorted({n.instrument for n in notes})
    times = []
    audio = None
    for _ in range(args.repeats):
        started = time.perf_counter()
        audio = render(notes, sample_rate=args.sample_rate, reverb=args.reverb)
        times.append(time.perf_counter() - started)
    assert audio is not None
    best, median = min(times), statistics.median(times)
    levels = loudness_db(audio, args.sample_rate, window=2.0)[: int(args.seconds / 2)]
    arc = [intensity(2.0 * i + 1.0, args.seconds) for i in range(levels.size)]
    follow = statistics.correlation(arc, [float(x) for x in levels])
    print(f"synth {SYNTH_VERSION}: {len(notes)} notes, {len(instruments)} instruments, {args.seconds:.0f}-s cue "
          f"at {args.sample_rate} Hz ({audio.shape[0] / args.sample_rate:.1f} s with tails)")
    print(f"render: best {best:.3f} s, median {median:.3f} s per cue; real-time factor {args.seconds / median:.0f}x")
    print(f"mix: peak {abs(audio).max():.3f}, 2-s level {levels.min():.1f} .. {levels.max():.1f} dBFS, "
          f"correlation with the intensity arc {follow:.3f}")


if __name__ == "__main__":
    main()
