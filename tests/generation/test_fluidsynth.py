"""The FluidSynth renderer: real FluidSynth and a real GM SoundFont when installed; the missing cases always."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from generation.engines import fluidsynth
from generation.engines.score import KeyChange, Note, Score, TempoChange, TempoMap

RATE = 48000
needs_fluidsynth = pytest.mark.skipif(
    not fluidsynth.available(),
    reason="FluidSynth renderer unavailable: needs the `fluidsynth` program on PATH and a GM SoundFont "
           f"({fluidsynth.SOUNDFONT_ENV} or one of {', '.join(map(str, fluidsynth.SOUNDFONT_PATHS))}); "
           "Debian: apt-get install fluidsynth (brings a small GM SoundFont; fluid-soundfont-gm is the better one)",
)


def one_note(name: str, pitch: int, beats: float = 4.0) -> Score:
    """A single held note at 120 BPM, two beats of silence after it."""
    return Score((Note("lead", name, pitch, 0.0, beats, 100),), TempoMap(), 4, (KeyChange(0.0, 9, "minor"),),
                 beats + 2.0)


def small_score() -> Score:
    """Two bars with a melody, a bass, percussion and a tempo change."""
    notes = (Note("melody", "violins", 69, 0.0, 2.0, 96), Note("melody", "violins", 72, 2.0, 2.0, 96),
             Note("melody", "violins", 74, 4.0, 4.0, 90), Note("bass", "cellos", 45, 0.0, 8.0, 80),
             Note("hits", "low_percussion", 36, 0.0, 1.0, 110), Note("hits", "low_percussion", 36, 4.0, 1.0, 110))
    return Score(notes, TempoMap((TempoChange(0.0, 120.0), TempoChange(4.0, 90.0))), 4,
                 (KeyChange(0.0, 2, "minor"),), 8.0, "Small", (("melody", "violins"), ("bass", "cellos"),
                                                              ("hits", "low_percussion")))


def rms(audio: npt.NDArray[np.float32]) -> float:
    return float(np.sqrt(np.mean(np.square(audio, dtype=np.float64))))


def dominant_frequency(signal: npt.NDArray[np.float32], rate: int) -> float:
    windowed = signal * np.hanning(len(signal))
    spectrum = np.abs(np.fft.rfft(windowed))
    return float(np.argmax(spectrum) * rate / len(signal))


@needs_fluidsynth
def test_renders_stereo_float32_at_48_khz_for_the_score_plus_its_tail() -> None:
    score = small_score()
    audio = fluidsynth.render(score)
    assert audio.dtype == np.float32
    assert audio.ndim == 2 and audio.shape[1] == 2
    assert score.duration == pytest.approx(2.0 + 4 * 60 / 90)  # the tempo change is honoured
    assert audio.shape[0] == round((score.duration + fluidsynth.RELEASE_TAIL) * RATE)
    assert np.isfinite(audio).all()


@needs_fluidsynth
def test_rendered_audio_is_not_silent_and_follows_the_score() -> None:
    score = small_score()
    audio = fluidsynth.render(score)
    assert rms(audio) > 1e-3
    playing = audio[: round(score.duration * RATE)]
    last = audio[-round(0.05 * RATE):]
    assert rms(last) < rms(playing) / 10  # the tail has died away (and the end is faded, so no click)


@needs_fluidsynth
def test_a_sustained_a4_sounds_at_440_hz() -> None:
    audio = fluidsynth.render(one_note("flute", 69))
    steady = audio[round(0.5 * RATE): round(1.5 * RATE), 0]  # past the attack, before the release
    assert dominant_frequency(steady, RATE) == pytest.approx(440.0, abs=5.0)


@needs_fluidsynth
def test_percussion_plays_on_the_drum_channel() -> None:
    audio = fluidsynth.render(one_note("low_percussion", 36, beats=1.0))
    assert rms(audio[: RATE // 2]) > 1e-3


@needs_fluidsynth
def test_instrument_pan_reaches_the_stereo_image() -> None:
    def left_right(audio: npt.NDArray[np.float32]) -> float:
        return rms(audio[:, 0]) / rms(audio[:, 1])

    violins = fluidsynth.render(one_note("violins", 69))  # panned left
    cellos = fluidsynth.render(one_note("cellos", 57))  # panned right
    assert left_right(violins) > left_right(cellos)


@needs_fluidsynth
def test_sample_rate_and_tail_are_honoured() -> None:
    score = one_note("flute", 69, beats=2.0)
    audio = fluidsynth.render(score, sample_rate=22050, tail=0.5)
    assert audio.shape == (round((score.duration + 0.5) * 22050), 2)


@needs_fluidsynth
def test_rendering_is_deterministic() -> None:
    score = small_score()
    assert np.array_equal(fluidsynth.render(score), fluidsynth.render(score))


# -------------------------------------------------- unavailable and failing: these run everywhere


def test_a_configured_soundfont_that_does_not_exist_makes_the_renderer_unavailable(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(fluidsynth.SOUNDFONT_ENV, str(tmp_path / "missing.sf2"))
    assert fluidsynth.find_soundfont() is None
    assert not fluidsynth.available()
    if shutil.which("fluidsynth"):
        with pytest.raises(fluidsynth.RendererUnavailable) as caught:
            fluidsynth.render(small_score())
        assert caught.value.code == "soundfont-missing"
        assert "missing.sf2" in caught.value.message


def test_a_file_that_is_not_a_soundfont_is_refused_before_fluidsynth_renders_silence(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bogus = tmp_path / "bogus.sf2"
    bogus.write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt ")
    monkeypatch.setenv(fluidsynth.SOUNDFONT_ENV, str(bogus))
    assert fluidsynth.find_soundfont() == bogus
    assert not fluidsynth.available()
    if shutil.which("fluidsynth"):
        with pytest.raises(fluidsynth.RendererUnavailable) as caught:
            fluidsynth.render(small_score())
        assert caught.value.code == "soundfont-invalid"


def test_without_the_fluidsynth_program_the_renderer_is_unavailable(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert not fluidsynth.available()
    with pytest.raises(fluidsynth.RendererUnavailable) as caught:
        fluidsynth.render(small_score())
    assert caught.value.code == "fluidsynth-missing"


def test_a_failing_fluidsynth_raises_renderer_failed_with_its_stderr(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A stand-in program at the real boundary: exits non-zero with a message, like a crashing synthesizer.
    fake = tmp_path / "fluidsynth"
    fake.write_text("#!/bin/sh\necho 'fluidsynth: panic: out of voices' >&2\nexit 3\n")
    fake.chmod(0o755)
    soundfont = tmp_path / "tiny.sf2"
    soundfont.write_bytes(b"RIFF\x04\x00\x00\x00sfbk")
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv(fluidsynth.SOUNDFONT_ENV, str(soundfont))
    with pytest.raises(fluidsynth.RendererFailed) as caught:
        fluidsynth.render(small_score())
    assert caught.value.code == "fluidsynth-error"
    assert caught.value.returncode == 3
    assert "out of voices" in caught.value.stderr


def test_bad_render_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="sample_rate"):
        fluidsynth.render(small_score(), sample_rate=4000)
    with pytest.raises(ValueError, match="gain"):
        fluidsynth.render(small_score(), gain=0.0)
