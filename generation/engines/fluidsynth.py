"""Render a score with FluidSynth and a General MIDI SoundFont, when both are installed.

Pure and Django-free. The score goes through the MIDI exporter (so what is heard is exactly what a client
downloads as .mid) into the `fluidsynth` command-line program's fast (faster than real time) file render,
and the WAV it writes is read back with `soundfile`. Running the program rather than binding libfluidsynth
keeps a crash or a hang in the synthesizer out of the worker process and needs no extra Python package.

On Debian, `apt-get install fluidsynth` alone brings a small GM SoundFont (timgm6mb-soundfont, 6 MB) and
makes /usr/share/sounds/sf2/default-GM.sf2 point at it; fluid-soundfont-gm (FluidR3_GM, 145 MB) sounds
much better and takes that link over when installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import numpy.typing as npt
import soundfile

from generation.engines.export import to_midi
from generation.engines.score import Score

SOUNDFONT_ENV = "CLEARCUE_SOUNDFONT"
SOUNDFONT_PATHS = (
    Path("/usr/share/sounds/sf2/FluidR3_GM.sf2"),
    Path("/usr/share/sounds/sf2/default-GM.sf2"),
    Path("/usr/share/soundfonts/default.sf2"),
)
RELEASE_TAIL = 2.0  # seconds rendered after the score ends, for release and reverb to die away
FADE_OUT = 0.01  # seconds faded at the very end, so cutting off any remaining reverb cannot click
_MIN_RATE, _MAX_RATE = 8000, 96000  # FluidSynth's synth.sample-rate range


class RendererUnavailable(RuntimeError):
    """FluidSynth or a usable SoundFont is missing; `code` says which.

    Codes: fluidsynth-missing, soundfont-missing, soundfont-unreadable, soundfont-invalid.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class RendererFailed(RuntimeError):
    """FluidSynth ran but did not produce usable audio; carries its exit status and stderr.

    Codes: fluidsynth-error, timeout, no-output, unreadable-output, wrong-rate.
    """

    def __init__(self, code: str, message: str, *, stderr: str = "", returncode: int | None = None) -> None:
        super().__init__(f"{message}: {stderr.strip()}" if stderr.strip() else message)
        self.code = code
        self.message = message
        self.stderr = stderr
        self.returncode = returncode


def find_soundfont() -> Path | None:
    """The SoundFont to use: $CLEARCUE_SOUNDFONT if set, else the first of SOUNDFONT_PATHS that exists.

    An explicit setting is never second-guessed: if it names no file, there is no SoundFont (and `render`
    says so) rather than a silent fallback to a different sound.
    """
    configured = os.environ.get(SOUNDFONT_ENV, "").strip()
    if configured:
        path = Path(configured).expanduser()
        return path if path.is_file() else None
    return next((path for path in SOUNDFONT_PATHS if path.is_file()), None)


def _check() -> tuple[str, Path]:
    """The fluidsynth binary and SoundFont, or RendererUnavailable naming what is missing."""
    binary = shutil.which("fluidsynth")
    if binary is None:
        raise RendererUnavailable("fluidsynth-missing",
                                  "the `fluidsynth` program is not on PATH (Debian: apt-get install fluidsynth)")
    soundfont = find_soundfont()
    if soundfont is None:
        configured = os.environ.get(SOUNDFONT_ENV, "").strip()
        where = (f"{SOUNDFONT_ENV}={configured} is not a file" if configured
                 else f"none of {', '.join(map(str, SOUNDFONT_PATHS))} exists and {SOUNDFONT_ENV} is not set")
        raise RendererUnavailable("soundfont-missing", f"no General MIDI SoundFont: {where}")
    # FluidSynth skips a file it does not recognise and renders silence with exit status 0, so check the
    # RIFF "sfbk" header (SoundFont 2, and SF3 which shares it) ourselves.
    try:
        with soundfont.open("rb") as handle:
            header = handle.read(12)
    except OSError as exc:
        raise RendererUnavailable("soundfont-unreadable", f"SoundFont {soundfont} cannot be read ({exc})") from None
    if header[:4] != b"RIFF" or header[8:12] != b"sfbk":
        raise RendererUnavailable("soundfont-invalid", f"{soundfont} is not a SoundFont (no RIFF sfbk header)")
    return binary, soundfont


def available() -> bool:
    """Whether `render` can run here: `fluidsynth` on PATH and a SoundFont found (and looking like one)."""
    try:
        _check()
    except RendererUnavailable:
        return False
    return True


def render(score: Score, *, sample_rate: int = 48000, gain: float = 0.6,
           tail: float = RELEASE_TAIL) -> npt.NDArray[np.float32]:
    """Stereo float32 audio, shape (frames, 2), of `score` played by FluidSynth.

    The length is the score's duration (or its last note's end, if later) plus `tail` seconds, trimmed or
    zero-padded to exactly that. `gain` is FluidSynth's master gain (0 < gain < 10); 0.6 leaves headroom for
    a full orchestral tutti with the FluidR3 SoundFont.
    """
    if not _MIN_RATE <= sample_rate <= _MAX_RATE:
        raise ValueError(f"sample_rate {sample_rate} is outside FluidSynth's {_MIN_RATE}..{_MAX_RATE} Hz")
    if not 0 < gain < 10:
        raise ValueError(f"gain {gain} is outside FluidSynth's range (0, 10)")
    if tail < 0:
        raise ValueError(f"tail {tail} must not be negative")
    binary, soundfont = _check()

    last_note = max((n.start + n.duration for n in score.notes), default=0.0)
    end_beat = max(score.length_beats, last_note)
    seconds = score.tempo.seconds(end_beat) + tail
    # The fast render stops at the file's end-of-track, so the MIDI itself carries the tail (plus a beat
    # of margin; the audio is trimmed to the exact length below).
    tail_beats = (end_beat - score.length_beats) + tail * score.tempo.bpm_at(end_beat) / 60.0 + 1.0
    with tempfile.TemporaryDirectory(prefix="clearcue-fluidsynth-") as tmp:
        midi_path, wav_path = Path(tmp, "in.mid"), Path(tmp, "out.wav")
        midi_path.write_bytes(to_midi(score, tail_beats=tail_beats))
        command = [binary, "-n", "-i", "-q", "-g", f"{gain:g}", "-r", str(sample_rate), "-O", "float",
                   "-T", "wav", "-F", str(wav_path), str(soundfont), str(midi_path)]
        try:
            done = subprocess.run(command, capture_output=True, text=True, check=False,  # noqa: S603
                                  timeout=max(60.0, 2.0 * seconds), stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as exc:
            stderr = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else exc.stderr or ""
            raise RendererFailed("timeout", f"fluidsynth did not finish within {exc.timeout:.0f} s",
                                 stderr=stderr) from None
        # FluidSynth reports some failures (an unwritable output file, say) only on stderr, exiting 0.
        if done.returncode != 0 or "error:" in done.stderr:
            raise RendererFailed("fluidsynth-error", f"fluidsynth failed (exit status {done.returncode})",
                                 stderr=done.stderr, returncode=done.returncode)
        if not wav_path.is_file() or wav_path.stat().st_size == 0:
            raise RendererFailed("no-output", "fluidsynth wrote no audio", stderr=done.stderr,
                                 returncode=done.returncode)
        try:
            audio, rate = soundfile.read(str(wav_path), dtype="float32", always_2d=True)
        except (RuntimeError, soundfile.LibsndfileError) as exc:
            raise RendererFailed("unreadable-output", f"fluidsynth's WAV could not be read ({exc})",
                                 stderr=done.stderr) from None
    if rate != sample_rate:
        raise RendererFailed("wrong-rate", f"fluidsynth wrote {rate} Hz audio, {sample_rate} Hz was asked for",
                             stderr=done.stderr)
    if audio.shape[1] == 1:
        audio = np.repeat(audio, 2, axis=1)
    frames = round(seconds * sample_rate)
    out = np.zeros((frames, 2), dtype=np.float32)
    used = min(frames, audio.shape[0])
    out[:used] = audio[:used, :2]
    fade = min(used, round(FADE_OUT * sample_rate))
    if fade:
        out[used - fade:used] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)[:, None]
    return out
