#!/usr/bin/env python
"""Keyed watermark robustness benchmark: payload recovery, bit accuracy and false positives under attacks.

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python scripts/bench_watermark.py [--trials 100] [--unmarked 1000]
        [--quick] [--seed 0] [--json out.json]

Music: 60-s cues planned, composed and rendered by the reference composer (scene descriptions from
generation/engines/reference/scenes.json, one cue per trial, 48 kHz stereo). Each trial embeds a random payload
with the active of two configured keys (the other is a retired key: detection tries both), then applies every
attack to the marked cue *and* to the unmarked original, and runs detection on both. Attacks use ffmpeg
(Debian ffmpeg, which make test installs) for the codecs, the resamplers and the time-stretch, and espeak-ng,
when installed, for the dialogue that is mixed in (otherwise dialogue-like formant bursts).

Unmarked set (false positives): at least `--unmarked` clips: excerpts (10-60 s) of other rendered cues, some after
MP3 64 kbps, white/pink/brown noise, tones and chords, sweeps, speech, near-silence, and cues marked with a key that
is not configured. Prints the Markdown tables that provenance/WATERMARK.md quotes.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from provenance.watermark import Detection  # noqa: E402
from provenance.watermark_keyed import SYNC_THRESHOLD, KeyedWatermarker, false_positive_bound  # noqa: E402

RATE = 48000
SECONDS = 60.0
KEYS = {"retired-2025": b"retired watermark key: benchmark only!",
        "active-2026": b"active watermark key: benchmark only!!"}
ACTIVE = "active-2026"
FOREIGN = {"someone-else": b"a key this platform never configured.."}
LINES = (
    "The shipment arrives at midnight, and nobody can know about it.",
    "I told you before, I am not going back to that house.",
    "Keep your voice down. They can hear everything through these walls.",
    "We have about four minutes before the guards change shifts.",
    "She never said goodbye. She just took the car and drove north.",
    "Listen to me carefully, because I will only say this once.",
)

Audio = np.ndarray
FFMPEG = shutil.which("ffmpeg") or "ffmpeg"
ESPEAK = shutil.which("espeak-ng")


def run(command: list[str], data: bytes) -> bytes:
    """stdout of `command` fed `data` (raises on failure)."""
    return subprocess.run(command, input=data, capture_output=True, check=True).stdout  # noqa: S603 (our tools)


# --- music ----------------------------------------------------------------------------------------------------


class Cues:
    """60-s cues from the reference composer, rendered on demand (scene i % scenes, seed from i)."""

    def __init__(self) -> None:
        import torch

        from generation.engines.reference.engine import ReferenceComposer

        torch.set_num_threads(1)
        shipped = ROOT / "generation" / "engines" / "reference" / "shipped"
        meta = json.loads((shipped / "model.json").read_text())
        self.composer = ReferenceComposer.load((shipped / meta["checkpoint"]).read_bytes(), meta["checkpoint_sha256"])
        scenes = json.loads((ROOT / "generation" / "engines" / "reference" / "scenes.json").read_text())["scenes"]
        self.scenes = [scene["description"] for scene in scenes]

    def __call__(self, index: int) -> Audio:
        """Cue `index`: 60 s, 48 kHz stereo float32."""
        from generation.engines.reference.plan import PlanError, PlanParams

        description = self.scenes[index % len(self.scenes)]
        seed = 1000 + index
        try:
            cue = self.composer.cue(description, PlanParams(duration=SECONDS, hit_points=()), seed=seed)
        except PlanError:
            cue = self.composer.cue(description, PlanParams(duration=SECONDS, hit_points=(), tempo=100.0), seed=seed)
        audio = np.zeros((int(SECONDS * RATE), 2), dtype=np.float32)
        take = min(audio.shape[0], cue.audio.shape[0])
        audio[:take] = cue.audio[:take]
        return audio


# --- attacks --------------------------------------------------------------------------------------------------


def ffmpeg(audio: Audio, rate: int, args: list[str], out_rate: int | None = None, fmt: str = "f32le") -> Audio:
    """Run `audio` through ffmpeg (encode with `args` to `fmt` when it is a codec container, then decode)."""
    channels = audio.shape[1]
    raw = np.ascontiguousarray(audio, dtype="<f4").tobytes()
    head = [FFMPEG, "-v", "error", "-threads", "1", "-f", "f32le", "-ar", str(rate), "-ac", str(channels),
            "-i", "pipe:0"]
    if fmt == "f32le":
        out = run([*head, *args, "-f", "f32le", "-ac", str(channels), "pipe:1"], raw)
    else:
        coded = run([*head, *args, "-f", fmt, "pipe:1"], raw)
        out = run([FFMPEG, "-v", "error", "-threads", "1", "-i", "pipe:0", "-f", "f32le", "-ac", str(channels),
                   "-ar", str(out_rate or rate), "pipe:1"], coded)
    return np.frombuffer(out, dtype="<f4").reshape(-1, channels).copy()


def wav16(audio: Audio, rate: int) -> tuple[Audio, int]:
    """16-bit PCM WAV written and read back."""
    import soundfile

    with tempfile.NamedTemporaryFile(suffix=".wav") as handle:
        soundfile.write(handle.name, np.clip(audio, -1, 1), rate, subtype="PCM_16")
        back, back_rate = soundfile.read(handle.name, dtype="float32", always_2d=True)
    return back, back_rate


def gain(db: float) -> Callable[[Audio, int], tuple[Audio, int]]:
    """Gain by `db`, clipped to [-1, 1] as a fixed-point export would."""
    return lambda audio, rate: (np.clip(audio * np.float32(10 ** (db / 20)), -1, 1), rate)


def white_noise(snr_db: float) -> Callable[[Audio, int], tuple[Audio, int]]:
    """Gaussian white noise at `snr_db` below the signal (per channel, over the clip)."""

    def attack(audio: Audio, rate: int, rng: np.random.Generator) -> tuple[Audio, int]:
        power = np.mean(audio.astype(np.float64) ** 2, axis=0)
        noise = rng.standard_normal(audio.shape) * np.sqrt(power / 10 ** (snr_db / 10))
        return (audio + noise).astype(np.float32), rate

    return attack  # type: ignore[return-value]  # takes the rng: listed as random


def lowpass(cutoff: float) -> Callable[[Audio, int], tuple[Audio, int]]:
    """Brick-wall low-pass (FFT) at `cutoff` Hz."""

    def attack(audio: Audio, rate: int) -> tuple[Audio, int]:
        spectrum = np.fft.rfft(audio, axis=0)
        spectrum[np.fft.rfftfreq(audio.shape[0], 1 / rate) > cutoff] = 0
        return np.fft.irfft(spectrum, audio.shape[0], axis=0).astype(np.float32), rate

    return attack


def resample_via(mid: int) -> Callable[[Audio, int], tuple[Audio, int]]:
    """Resample to `mid` Hz and back with ffmpeg's resampler."""
    return lambda audio, rate: (ffmpeg(audio, rate, ["-af", f"aresample={mid},aresample={rate}"]), rate)


def resample_to(target: int) -> Callable[[Audio, int], tuple[Audio, int]]:
    """Resample to `target` Hz (detection then runs at that rate)."""
    return lambda audio, rate: (ffmpeg(audio, rate, ["-af", f"aresample={target}"]), target)


def codec(kind: str, bitrate: str) -> Callable[[Audio, int], tuple[Audio, int]]:
    """Encode and decode with ffmpeg (libmp3lame or the native AAC encoder)."""
    if kind == "mp3":
        return lambda audio, rate: (ffmpeg(audio, rate, ["-c:a", "libmp3lame", "-b:a", bitrate], fmt="mp3"), rate)
    return lambda audio, rate: (ffmpeg(audio, rate, ["-c:a", "aac", "-b:a", bitrate], fmt="adts"), rate)


def tempo(factor: float) -> Callable[[Audio, int], tuple[Audio, int]]:
    """Time-stretch by `factor` without changing pitch (ffmpeg atempo)."""
    return lambda audio, rate: (ffmpeg(audio, rate, ["-af", f"atempo={factor}"]), rate)


class Dialogue:
    """A dialogue + effects track: espeak-ng speech when available, else formant bursts; plus foley."""

    def __init__(self) -> None:
        self.lines: list[Audio] = []
        if ESPEAK:
            voices = ("en-us", "en", "en-us+f3", "en+m3", "en-us+f2", "en+m7")
            for i, line in enumerate(LINES):
                wav = run([ESPEAK, "-v", voices[i % len(voices)], "-s", str(150 + 10 * i), "--stdout", line], b"")
                self.lines.append(self._decode(wav))
        self.source = "espeak-ng" if self.lines else "formant bursts"

    @staticmethod
    def _decode(wav: bytes) -> Audio:
        out = run([FFMPEG, "-v", "error", "-i", "pipe:0", "-f", "f32le", "-ac", "1", "-ar", str(RATE), "pipe:1"], wav)
        return np.frombuffer(out, dtype="<f4").copy()

    def _speech(self, rng: np.random.Generator) -> Audio:
        if self.lines:
            return self.lines[int(rng.integers(len(self.lines)))]
        # Formant bursts: a glottal pulse train through three vowel resonances, syllable-shaped.
        n = int(rng.uniform(1.5, 3.5) * RATE)
        t = np.arange(n) / RATE
        f0 = rng.uniform(100, 220) * (1 + 0.1 * np.sin(2 * np.pi * 0.7 * t))
        pulses = np.sign(np.sin(2 * np.pi * np.cumsum(f0) / RATE)) * 0.5
        out = np.zeros(n)
        for formant, width in ((rng.uniform(300, 800), 80), (rng.uniform(900, 2200), 120), (2800, 200)):
            spectrum = np.fft.rfft(pulses)
            freqs = np.fft.rfftfreq(n, 1 / RATE)
            out += np.fft.irfft(spectrum / (1 + ((freqs - formant) / width) ** 2), n)
        return out * (0.5 + 0.5 * np.sin(2 * np.pi * 4.0 * t) ** 2)

    def track(self, frames: int, rng: np.random.Generator) -> Audio:
        """A mono dialogue + effects track of `frames` samples (unit RMS)."""
        track = np.zeros(frames)
        at = int(rng.uniform(0.2, 1.5) * RATE)
        while at < frames:
            line = self._speech(rng)
            end = min(frames, at + line.size)
            track[at:end] += line[: end - at] / (np.sqrt(np.mean(line**2)) + 1e-9)
            at = end + int(rng.uniform(0.3, 2.0) * RATE)
        for _ in range(int(rng.integers(6, 14))):  # footsteps, door slams, impacts
            length = int(rng.uniform(0.05, 0.4) * RATE)
            start = int(rng.integers(0, frames - length))
            burst = rng.standard_normal(length) * np.exp(-np.arange(length) / (0.05 * RATE))
            cutoff = rng.uniform(300, 4000)
            spectrum = np.fft.rfft(burst)
            spectrum[np.fft.rfftfreq(length, 1 / RATE) > cutoff] = 0
            track[start : start + length] += rng.uniform(1, 4) * np.fft.irfft(spectrum, length)
        wind = np.fft.rfft(rng.standard_normal(frames))  # a low wind bed
        wind[np.fft.rfftfreq(frames, 1 / RATE) > 600] = 0
        wind_track = np.fft.irfft(wind, frames)
        track += 0.3 * wind_track / np.sqrt(np.mean(wind_track**2)) * np.sin(np.linspace(0, 3 * np.pi, frames)) ** 2
        return track / (np.sqrt(np.mean(track**2)) + 1e-12)


def mix(dialogue: Dialogue, level_db: float) -> Callable[[Audio, int, np.random.Generator], tuple[Audio, int]]:
    """Mix a dialogue + effects track `level_db` relative to the music's RMS."""

    def attack(audio: Audio, rate: int, rng: np.random.Generator) -> tuple[Audio, int]:
        track = dialogue.track(audio.shape[0], rng)
        music = float(np.sqrt(np.mean(audio.astype(np.float64) ** 2)))
        return (audio + (track * music * 10 ** (level_db / 20))[:, None]).astype(np.float32), rate

    return attack


def crop(seconds: float) -> Callable[[Audio, int, np.random.Generator], tuple[Audio, int]]:
    """A random `seconds` excerpt."""

    def attack(audio: Audio, rate: int, rng: np.random.Generator) -> tuple[Audio, int]:
        length = int(seconds * rate)
        start = int(rng.integers(0, audio.shape[0] - length + 1))
        return audio[start : start + length], rate

    return attack


# --- measurement ----------------------------------------------------------------------------------------------


def a_weighted(audio: Audio, rate: int) -> Audio:
    """`audio` through the IEC 61672 A-weighting curve (FFT, magnitude only)."""
    f2 = np.fft.rfftfreq(audio.shape[0], 1 / rate) ** 2
    ra = (12194.0**2 * f2**2) / ((f2 + 20.6**2) * np.sqrt((f2 + 107.7**2) * (f2 + 737.9**2)) * (f2 + 12194.0**2))
    return np.fft.irfft(np.fft.rfft(audio, axis=0) * (ra / 0.7943)[:, None], audio.shape[0], axis=0)


def snr_db(reference: Audio, other: Audio) -> float:
    """10 log10 of reference power over difference power."""
    ref = reference.astype(np.float64)
    return float(10 * np.log10(np.sum(ref**2) / max(np.sum((other.astype(np.float64) - ref) ** 2), 1e-30)))


@dataclass
class Row:
    """Outcomes of one attack."""

    name: str
    required: bool = True
    recovered: int = 0
    trials: int = 0
    bits: list[float] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    false_positives: int = 0
    unmarked: int = 0
    unmarked_scores: list[float] = field(default_factory=list)


def bit_accuracy(found: Detection, payload: int) -> float:
    """Share of the 32 payload bits the best candidate got right."""
    guess = found.payload if found.payload is not None else found.details.get("unverified_payload")
    if guess is None:
        return 0.5
    return 1.0 - bin(int(guess) ^ payload).count("1") / 32.0


def unmarked_clips(count: int, cues: Callable[[int], Audio], rng: np.random.Generator, dialogue: Dialogue,
                   foreign: KeyedWatermarker) -> list[tuple[str, Audio]]:
    """`count` unmarked clips of many kinds (name, audio at RATE)."""
    clips: list[tuple[str, Audio]] = []
    cue_index = 10_000
    kinds = ("white", "pink", "brown", "tones", "sweep", "speech", "silence")
    while len(clips) < count:
        cue = cues(cue_index)
        cue_index += 1
        for _ in range(5):
            seconds = float(rng.uniform(10, 60))
            start = int(rng.integers(0, cue.shape[0] - int(seconds * RATE) + 1))
            clips.append(("cue excerpt", cue[start : start + int(seconds * RATE)]))
        clips.append(("cue, MP3 64k", codec("mp3", "64k")(cue, RATE)[0]))
        clips.append(("cue marked with a foreign key", foreign.embed(cue, RATE, int(rng.integers(0, 2**32)))))
        for kind in kinds:
            seconds = float(rng.uniform(10, 30))
            n = int(seconds * RATE)
            if kind in ("white", "pink", "brown"):
                spectrum = np.fft.rfft(rng.standard_normal(n))
                freqs = np.maximum(np.fft.rfftfreq(n, 1 / RATE), 20.0)
                spectrum /= {"white": 1.0, "pink": np.sqrt(freqs), "brown": freqs}[kind]
                signal = np.fft.irfft(spectrum, n)
            elif kind == "tones":
                t = np.arange(n) / RATE
                signal = sum(np.sin(2 * np.pi * rng.uniform(110, 2000) * t + rng.uniform(0, 6)) for _ in range(3))
            elif kind == "sweep":
                t = np.arange(n) / RATE
                signal = np.sin(2 * np.pi * (100 * t + (4000 - 100) * t**2 / (2 * seconds)))
            elif kind == "speech":
                signal = dialogue.track(n, rng)
            else:
                signal = rng.standard_normal(n) * 1e-3
            signal = signal / (np.max(np.abs(signal)) + 1e-12) * rng.uniform(0.05, 0.8)
            clips.append((kind, np.repeat(signal[:, None], 2, axis=1).astype(np.float32)))
    return clips[:count]


def main() -> None:
    """Run the benchmark and print the Markdown tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=100, help="cues per attack row")
    parser.add_argument("--unmarked", type=int, default=1000, help="unmarked clips for the false-positive rate")
    parser.add_argument("--quick", action="store_true", help="10 trials, 100 unmarked clips")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    args = parser.parse_args()
    if args.quick:
        args.trials, args.unmarked = min(args.trials, 10), min(args.unmarked, 100)
    if not shutil.which(FFMPEG):
        sys.exit("ffmpeg is needed for the codec and resampling attacks: run Debian ffmpeg, which make test installs")
    started = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    marker = KeyedWatermarker(KEYS, ACTIVE)
    foreign = KeyedWatermarker(FOREIGN, "someone-else")
    cues = Cues()
    dialogue = Dialogue()
    attacks: list[tuple[Row, Callable[..., tuple[Audio, int]], bool]] = [
        (Row("clean (float)"), lambda a, r: (a, r), False),
        (Row("16-bit WAV round trip"), wav16, False),
        (Row("gain +6 dB (clipped)"), gain(6.0), False),
        (Row("gain -6 dB"), gain(-6.0), False),
        (Row("white noise, 20 dB SNR"), white_noise(20.0), True),
        (Row("resample 48k -> 16k -> 48k"), resample_via(16000), False),
        (Row("resample 48k -> 44.1k"), resample_to(44100), False),
        (Row("low-pass 5 kHz"), lowpass(5000.0), False),
        (Row("MP3 128 kbps"), codec("mp3", "128k"), False),
        (Row("MP3 64 kbps"), codec("mp3", "64k"), False),
        (Row("AAC 64 kbps"), codec("aac", "64k"), False),
        (Row("random 10-s crop of the 60-s cue"), crop(10.0), True),
        (Row(f"dialogue + effects mixed at -6 dB ({dialogue.source})"), mix(dialogue, -6.0), True),
        (Row("time-stretch +3% (atempo 1.03)", required=False), tempo(1.03), False),
        (Row("time-stretch -3% (atempo 0.97)", required=False), tempo(0.97), False),
    ]
    snrs, snrs_a, embed_speed, detect_speed, embed_mono, detect_mono = [], [], [], [], [], []
    for trial in range(args.trials):
        cue = cues(trial)
        payload = int(rng.integers(0, 2**32))
        t0 = time.perf_counter()
        marked = marker.embed(cue, RATE, payload)
        embed_speed.append(SECONDS / (time.perf_counter() - t0))
        snrs.append(snr_db(cue, marked))
        snrs_a.append(snr_db(a_weighted(cue, RATE), a_weighted(marked, RATE)))
        mono = cue.mean(axis=1)
        t0 = time.perf_counter()
        marked_mono = marker.embed(mono, RATE, payload)
        embed_mono.append(SECONDS / (time.perf_counter() - t0))
        t0 = time.perf_counter()
        marker.detect(marked_mono, RATE)
        detect_mono.append(SECONDS / (time.perf_counter() - t0))
        for row, attack, random in attacks:
            seed = int(rng.integers(0, 2**63))
            for audio, is_marked in ((marked, True), (cue, False)):
                local = np.random.default_rng(seed)  # the same crop / noise / dialogue for marked and unmarked
                attacked, rate = attack(audio, RATE, local) if random else attack(audio, RATE)
                t0 = time.perf_counter()
                found = marker.detect(attacked, rate)
                elapsed = time.perf_counter() - t0
                score = float(found.details.get("score", 0.0))
                if is_marked:
                    if row is attacks[0][0]:
                        detect_speed.append(attacked.shape[0] / rate / elapsed)
                    row.trials += 1
                    row.recovered += int(found.detected and found.payload == payload)
                    row.bits.append(bit_accuracy(found, payload))
                    row.scores.append(score)
                else:
                    row.unmarked += 1
                    row.false_positives += int(found.detected)
                    row.unmarked_scores.append(score)
        print(f"trial {trial + 1}/{args.trials} done ({time.perf_counter() - started:.0f} s)", file=sys.stderr)

    clips = unmarked_clips(args.unmarked, cues, rng, dialogue, foreign)
    kinds: dict[str, list[float]] = {}
    false_positives = 0
    for kind, clip in clips:
        found = marker.detect(clip, RATE)
        false_positives += int(found.detected)
        kinds.setdefault(kind, []).append(float(found.details.get("score", 0.0)))
    all_unmarked = [s for values in kinds.values() for s in values] + [s for row, _, _ in attacks
                                                                       for s in row.unmarked_scores]
    total_unmarked = len(clips) + sum(row.unmarked for row, _, _ in attacks)
    total_fp = false_positives + sum(row.false_positives for row, _, _ in attacks)

    print()
    print(f"Keyed watermark benchmark: {args.trials} rendered 60-s cues (48 kHz stereo) per attack, "
          f"{total_unmarked} unmarked clips; sync threshold z = {SYNC_THRESHOLD}.")
    print()
    print("| attack | bit accuracy | payload recovery | sync z (min / median) "
          "| false positives (unmarked, same attack) |")
    print("|---|---|---|---|---|")
    for row, _, _ in attacks:
        note = "" if row.required else " (reported, not required)"
        print(f"| {row.name}{note} | {100 * statistics.mean(row.bits):.2f}% | "
              f"{row.recovered}/{row.trials} ({100 * row.recovered / row.trials:.1f}%) | "
              f"{min(row.scores):.1f} / {statistics.median(row.scores):.1f} | "
              f"{row.false_positives}/{row.unmarked} |")
    print()
    print("| measure | value |")
    print("|---|---|")
    print(f"| false positives, all unmarked clips | {total_fp}/{total_unmarked} "
          f"(target <= 1e-4 per clip; {total_unmarked} clips can only show 0/{total_unmarked}) |")
    print(f"| unmarked sync z: median / 99th percentile / max | {statistics.median(all_unmarked):.2f} / "
          f"{float(np.percentile(all_unmarked, 99)):.2f} / {max(all_unmarked):.2f} (threshold {SYNC_THRESHOLD}) |")
    print(f"| analytic false-positive bound (2 keys) | {false_positive_bound(len(KEYS)):.1e} per clip |")
    print(f"| SNR, watermark vs music (mean / min) | {statistics.mean(snrs):.1f} / {min(snrs):.1f} dB |")
    print(f"| A-weighted SNR (mean / min) | {statistics.mean(snrs_a):.1f} / {min(snrs_a):.1f} dB |")
    print(f"| embed speed, stereo / mono (median) | {statistics.median(embed_speed):.0f}x / "
          f"{statistics.median(embed_mono):.0f}x real time |")
    print(f"| detect speed, stereo / mono (median) | {statistics.median(detect_speed):.0f}x / "
          f"{statistics.median(detect_mono):.0f}x real time |")
    print()
    print("| unmarked kind | clips | sync z median | sync z max |")
    print("|---|---|---|---|")
    for kind, values in kinds.items():
        print(f"| {kind} | {len(values)} | {statistics.median(values):.2f} | {max(values):.2f} |")
    print()
    print(f"runtime {time.perf_counter() - started:.0f} s")
    if args.json:
        args.json.write_text(json.dumps({
            "rows": [{"name": r.name, "required": r.required, "recovered": r.recovered, "trials": r.trials,
                      "bit_accuracy": statistics.mean(r.bits), "scores": r.scores,
                      "false_positives": r.false_positives, "unmarked": r.unmarked,
                      "unmarked_scores": r.unmarked_scores} for r, _, _ in attacks],
            "unmarked": kinds, "false_positives": total_fp, "total_unmarked": total_unmarked, "snr": snrs,
            "snr_a": snrs_a, "embed_speed": embed_speed, "detect_speed": detect_speed,
            "embed_mono": embed_mono, "detect_mono": detect_mono,
        }, indent=1))
    if not math.isfinite(statistics.mean(snrs)):
        sys.exit(1)


if __name__ == "__main__":
    main()
