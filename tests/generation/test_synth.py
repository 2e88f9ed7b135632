"""The built-in orchestral synthesizer: shape, determinism, pitch, dynamics, stereo, headroom and file output.

Pure tests (no database). Wall time is deliberately not asserted here; `scripts/bench_synth.py` measures speed.
"""

from __future__ import annotations

import io
import itertools

import numpy as np
import pytest
import soundfile

from generation.engines.instruments import INSTRUMENTS
from generation.engines.score import TimedNote
from generation.engines.synth import SYNTH_VERSION, TIMBRES, loudness_db, render, write_audio

SR = 48000
PITCHED = [name for name, inst in INSTRUMENTS.items() if not inst.percussion and name != "timpani"]


def hz(pitch: int) -> float:
    return 440.0 * 2 ** ((pitch - 69) / 12)


def mid_pitch(name: str) -> int:
    inst = INSTRUMENTS[name]
    return inst.gm_drum_key if inst.percussion else (inst.low + inst.high) // 2


def one(name: str, pitch: int | None = None, velocity: int = 100, duration: float = 1.0,
        **kwargs: object) -> np.ndarray:
    """A single note at 0.05 s, dry unless asked otherwise."""
    kwargs.setdefault("reverb", 0.0)
    note = TimedNote(name, mid_pitch(name) if pitch is None else pitch, 0.05, duration, velocity)
    return render([note], **kwargs)  # type: ignore[arg-type]


def spectrum(audio: np.ndarray, sr: int = SR, start: float = 0.15, stop: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Magnitude spectrum (zero-padded for fine bins) of the mono mix between `start` and `stop` seconds."""
    mono = audio[int(start * sr):int(stop * sr)].mean(axis=1)
    size = 8 * mono.size
    return np.fft.rfftfreq(size, 1 / sr), np.abs(np.fft.rfft(mono * np.hanning(mono.size), n=size))


def strongest_hz(audio: np.ndarray, sr: int = SR) -> float:
    freqs, mags = spectrum(audio, sr)
    return float(freqs[np.argmax(mags)])


def pitch_hz(audio: np.ndarray, sr: int = SR, stop: float = 0.95) -> float:
    """The lowest strong spectral peak, as the power-weighted centre of its cluster: what the ear takes as the pitch.

    Vibrato and detuned section voices spread each partial into a cluster of lines; its centre is the pitch.
    """
    freqs, mags = spectrum(audio, sr, stop=stop)
    mags[freqs < 20] = 0
    at = int(np.argmax(mags > 0.2 * mags.max()))
    while mags[at + 1] >= mags[at]:  # climb to the top of that peak
        at += 1
    near = np.abs(freqs - freqs[at]) < 3.0 + 0.03 * freqs[at]
    power = mags[near] ** 2
    return float(np.sum(freqs[near] * power) / np.sum(power))


def rms_db(audio: np.ndarray) -> float:
    return float(20 * np.log10(np.sqrt(np.mean(audio.astype(np.float64) ** 2)) + 1e-12))


def centroid_hz(audio: np.ndarray) -> float:
    freqs, mags = spectrum(audio, start=0.05, stop=0.5)  # the attack too: struck tones brighten there
    return float(np.sum(freqs * mags**2) / np.sum(mags**2))


# Shape, duration and determinism


def test_render_returns_float32_stereo_frames_covering_the_release_tail() -> None:
    audio = one("strings", 57, duration=1.0)
    release = TIMBRES["strings"].release
    assert audio.dtype == np.float32 and audio.ndim == 2 and audio.shape[1] == 2
    assert abs(audio.shape[0] - (0.05 + 1.0 + release) * SR) <= 2  # frames round separately
    assert np.all(audio[0] == 0.0) and np.max(np.abs(audio[-1])) < 1e-6  # starts and ends at silence: no click


def test_reverb_adds_a_tail_that_decays_to_silence() -> None:
    dry = one("strings", 57)
    wet = one("strings", 57, reverb=0.4)
    assert wet.shape[0] > dry.shape[0] + SR
    assert np.max(np.abs(wet[-SR // 100:])) < 1e-3 * np.max(np.abs(wet))
    assert rms_db(wet[dry.shape[0]:]) > -90  # the tail is there, past the dry end


def test_duration_fixes_the_frame_count_and_fades_the_cut() -> None:
    notes = [TimedNote("strings", 57, 0.0, 5.0, 100), TimedNote("horn", 60, 3.0, 1.0, 100)]
    audio = render(notes, duration=2.0)
    assert audio.shape == (2 * SR, 2)
    assert np.max(np.abs(audio[-1])) < 1e-6 and np.max(np.abs(audio[: SR])) > 0.01


def test_sample_rate_sets_the_frame_count_and_keeps_the_pitch() -> None:
    audio = one("cellos", 57, sample_rate=22050)
    assert abs(audio.shape[0] - (0.05 + 1.0 + TIMBRES["cellos"].release) * 22050) <= 2
    assert strongest_hz(audio, 22050) == pytest.approx(220.0, rel=0.015)


def test_no_notes_render_no_frames_or_silence_of_the_asked_duration() -> None:
    assert render([]).shape == (0, 2)
    silent = render([], duration=0.5)
    assert silent.shape == (SR // 2, 2) and not silent.any()


def test_same_notes_and_seed_render_bit_identical_audio() -> None:
    notes = [TimedNote(name, mid_pitch(name), 0.1 * i + 0.3 * j, 0.7, 60 + i + 9 * j)
             for i, name in enumerate(INSTRUMENTS) for j in range(2)]  # same-pitch notes that overlap
    first = render(notes, seed=7)
    assert np.array_equal(first, render(notes, seed=7))
    assert np.array_equal(first, render(list(reversed(notes)), seed=7))  # order of the list does not matter
    assert not np.array_equal(first, render(notes, seed=8))


@pytest.mark.parametrize("sample_rate", [8000, 22050, 44100])
def test_extreme_pitches_at_any_sample_rate_render_finite_audio(sample_rate: int) -> None:
    notes = [TimedNote(name, pitch, 0.0, 0.3, 127) for name in INSTRUMENTS for pitch in (0, 127)]
    audio = render(notes, sample_rate=sample_rate)
    assert np.all(np.isfinite(audio)) and np.max(np.abs(audio)) <= 1.0


def test_synth_version_is_a_non_empty_string() -> None:
    assert isinstance(SYNTH_VERSION, str) and SYNTH_VERSION


# Timbre and pitch


def test_every_instrument_has_a_timbre() -> None:
    assert set(TIMBRES) == set(INSTRUMENTS)


@pytest.mark.parametrize("name", sorted(INSTRUMENTS))
def test_every_instrument_renders_non_silent_finite_audio(name: str) -> None:
    audio = one(name)
    assert np.all(np.isfinite(audio))
    assert rms_db(audio) > -60


@pytest.mark.parametrize(("name", "pitch"), [(name, pitch) for name in PITCHED for pitch in (
    INSTRUMENTS[name].low, mid_pitch(name), INSTRUMENTS[name].high)])
def test_pitched_instruments_sound_their_pitch_across_their_range(name: str, pitch: int) -> None:
    # Three seconds, so that slowly beating section voices (under 1 Hz apart on low notes) average out.
    assert pitch_hz(one(name, pitch, duration=3.0), stop=3.0) == pytest.approx(hz(pitch), rel=0.004)  # 7 cents


@pytest.mark.parametrize(("name", "pitch", "expected"), [
    ("cellos", 57, 220.0), ("flute", 81, 880.0), ("piano", 69, 440.0), ("harp", 64, hz(64)), ("celesta", 84, hz(84)),
    ("timpani", 50, hz(50)), ("contrabass", 40, hz(40)), ("horn", 65, hz(65)), ("clarinet", 62, hz(62)),
])
def test_the_strongest_spectral_peak_is_the_written_pitch(name: str, pitch: int, expected: float) -> None:
    assert strongest_hz(one(name, pitch)) == pytest.approx(expected, rel=0.015)


def test_percussion_keeps_its_fixed_pitch_whatever_the_note_says() -> None:
    assert np.array_equal(one("low_percussion", 36), one("low_percussion", 50))
    assert np.array_equal(one("cymbal", 49), one("cymbal", 70))
    freqs, mags = spectrum(one("low_percussion"), start=0.05, stop=0.6)
    assert freqs[np.argmax(mags)] < 120  # a low thump
    assert centroid_hz(one("cymbal")) > 3000  # a bright wash


def test_instruments_sound_different_from_each_other() -> None:
    """Band levels (third octaves) and the level envelope of a C4-ish note differ by > 2 dB RMS for every pair."""

    def fingerprint(name: str) -> np.ndarray:
        inst = INSTRUMENTS[name]
        pitch = inst.gm_drum_key if inst.percussion else min(max(55, inst.low), inst.high)
        mono = render([TimedNote(name, pitch, 0.0, 1.0, 100)], reverb=0.0, duration=1.5).mean(axis=1)
        power = np.abs(np.fft.rfft(mono[: int(1.2 * SR)])) ** 2
        freqs = np.fft.rfftfreq(int(1.2 * SR), 1 / SR)
        edges = 100 * 2 ** (np.arange(21) / 3)
        bands = np.array([power[(freqs >= lo) & (freqs < hi)].sum() for lo, hi in itertools.pairwise(edges)])
        bands = np.clip(10 * np.log10(bands / bands.sum() + 1e-12), -60, 0)
        env = np.sqrt(np.add.reduceat(mono**2, np.arange(0, mono.size, SR // 20)))
        return np.concatenate([bands, 0.5 * np.clip(20 * np.log10(env / env.max() + 1e-9), -60, 0)])

    prints = {name: fingerprint(name) for name in INSTRUMENTS}
    for a, b in itertools.combinations(prints, 2):
        assert np.sqrt(np.mean((prints[a] - prints[b]) ** 2)) > 2.0, (a, b)


def test_unknown_instrument_is_rejected_by_name() -> None:
    with pytest.raises(ValueError, match="theremin"):
        render([TimedNote("strings", 60, 0.0, 1.0, 80), TimedNote("theremin", 60, 0.0, 1.0, 80)])


def test_a_negative_start_is_rejected() -> None:
    with pytest.raises(ValueError, match="start"):
        render([TimedNote("strings", 60, -1.0, 1.0, 80)])


# Dynamics


@pytest.mark.parametrize("name", sorted(INSTRUMENTS))
def test_louder_velocity_measures_louder(name: str) -> None:
    levels = [rms_db(one(name, velocity=v)) for v in (20, 50, 80, 110, 127)]
    assert all(b > a + 1.0 for a, b in itertools.pairwise(levels)), levels


@pytest.mark.parametrize("name", ["brass", "trumpet", "violins", "piano", "harp", "clarinet"])
def test_louder_velocity_sounds_brighter(name: str) -> None:
    assert centroid_hz(one(name, velocity=120)) > 1.15 * centroid_hz(one(name, velocity=40))


def test_short_term_loudness_follows_a_crescendo() -> None:
    """The composer maps the plan's intensity to velocity; loudness_db must rise with it, window by window."""
    notes = []
    for bar in range(8):
        velocity = 20 + bar * 15
        for pitch in (50, 57, 62, 65):
            notes.append(TimedNote("strings", pitch, bar * 1.0, 1.0, velocity))
        notes.append(TimedNote("contrabass", 38, bar * 1.0, 1.0, velocity))
        notes.append(TimedNote("horn", 62, bar * 1.0, 0.5, velocity))
    levels = loudness_db(render(notes, duration=8.0), SR, window=1.0)
    assert levels.shape == (8,)
    assert all(b > a for a, b in itertools.pairwise(levels[1:])), levels  # bar 0 holds the attack
    assert levels[-1] - levels[1] > 15


def test_a_dense_fortissimo_cluster_stays_below_full_scale() -> None:
    notes = [TimedNote(name, pitch, 0.0, 2.0, 127)
             for name in INSTRUMENTS for pitch in (mid_pitch(name) - 5, mid_pitch(name), mid_pitch(name) + 4)]
    notes += [TimedNote("low_percussion", 36, 0.5 * i, 0.5, 127) for i in range(4)]
    audio = render(notes, reverb=0.5)
    peak = float(np.max(np.abs(audio)))
    assert peak <= 1.0
    assert peak > 0.7  # still loud: soft-clipped, not normalized down


def test_the_mix_is_not_normalized_so_a_quiet_cue_stays_quiet() -> None:
    quiet = render([TimedNote("strings", 57, 0.0, 2.0, 30)])
    loud = render([TimedNote("strings", 57, 0.0, 2.0, 120)])
    assert rms_db(loud) - rms_db(quiet) > 20


# Stereo


def test_pan_moves_energy_between_the_channels() -> None:
    left = one("violins", 67)  # pan -0.45
    right = one("contrabass", 40)  # pan +0.45
    centre = one("strings", 57)  # pan 0
    assert rms_db(left[:, 0]) > rms_db(left[:, 1]) + 3
    assert rms_db(right[:, 1]) > rms_db(right[:, 0]) + 3
    assert np.allclose(centre[:, 0], centre[:, 1])


def test_pan_follows_the_constant_power_law() -> None:
    audio = one("violins", 67).astype(np.float64)
    angle = (INSTRUMENTS["violins"].pan + 1) * np.pi / 4
    ratio = np.sum(audio[:, 0] ** 2) / np.sum(audio[:, 1] ** 2)
    assert ratio == pytest.approx((np.cos(angle) / np.sin(angle)) ** 2, rel=1e-3)


# loudness_db and write_audio


def test_loudness_db_is_rms_in_dbfs_per_window() -> None:
    t = np.arange(SR) / SR
    sine = np.repeat(np.sin(2 * np.pi * 1000 * t)[:, None], 2, axis=1)
    levels = loudness_db(sine, SR, window=0.25)
    assert levels.shape == (4,)
    assert np.allclose(levels, -3.0103, atol=0.01)
    assert loudness_db(np.zeros((SR, 2)), SR)[0] == -120.0
    assert loudness_db(0.5 * sine[:100], SR).shape == (1,)  # shorter than a window: one window


@pytest.mark.parametrize("fmt", ["wav", "flac"])
def test_write_audio_round_trips_through_soundfile(fmt: str, tmp_path: object) -> None:
    audio = render([TimedNote("piano", 60, 0.0, 0.5, 100), TimedNote("cymbal", 49, 0.2, 0.5, 90)])
    buffer = io.BytesIO()
    write_audio(buffer, audio, SR, fmt)
    buffer.seek(0)
    data, rate = soundfile.read(buffer, dtype="float32")
    buffer.seek(0)
    info = soundfile.info(buffer)
    assert rate == SR and data.shape == audio.shape and info.channels == 2
    assert info.subtype == "PCM_24" and info.format == fmt.upper()
    assert np.max(np.abs(data - audio)) < 2.0**-22  # 24-bit quantization


def test_write_audio_writes_a_path(tmp_path: pytest.TempPathFactory) -> None:
    audio = render([TimedNote("flute", 72, 0.0, 0.3, 90)])
    target = tmp_path / "cue.flac"  # type: ignore[operator]
    write_audio(target, audio, SR, "flac")
    data, rate = soundfile.read(target)
    assert rate == SR and data.shape == audio.shape


def test_write_audio_rejects_an_unknown_format() -> None:
    with pytest.raises(ValueError, match="mp3"):
        write_audio(io.BytesIO(), np.zeros((10, 2), np.float32), SR, "mp3")


def test_a_one_minute_cue_renders_end_to_end() -> None:
    """Smoke test at full size (the timing lives in scripts/bench_synth.py, not in CI)."""
    names = ["strings", "cellos", "contrabass", "violins", "horn", "harp", "timpani", "cymbal"]
    notes = [TimedNote(names[i % 8], mid_pitch(names[i % 8]) + (i % 5), (i * 0.075) % 59.0, 0.5 + (i % 4) * 0.5,
                       30 + i % 90) for i in range(800)]
    audio = render(notes, duration=60.0)
    assert audio.shape == (60 * SR, 2) and np.all(np.isfinite(audio)) and np.max(np.abs(audio)) <= 1.0
