"""provenance.media: sniffing, bounded decoding (every error code), deterministic encoding, and a fuzz test
that decode answers every input with a `Decoded` or a `MediaError`, never another exception."""

from __future__ import annotations

import io
import os
import re
import struct
import tempfile
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provenance import media
from provenance.media import Decoded, MediaError, decode, encode, sniff

RATE = 44_100
ERROR_CODES = {
    "unsupported_media_type": 415,
    "media_too_long": 413,
    "undecodable_media": 422,
    "decode_timeout": 422,
    "ffmpeg_missing": 503,
}


def tone(seconds: float = 0.5, rate: int = RATE, channels: int = 2) -> np.ndarray:
    """A different sine per channel, well inside [-1, 1]."""
    t = np.arange(round(seconds * rate)) / rate
    return np.stack([0.3 * np.sin(2 * np.pi * (440 + 220 * c) * t) for c in range(channels)], axis=1).astype(np.float32)


def soundfile_bytes(audio: np.ndarray, rate: int, fmt: str, subtype: str) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, audio, rate, format=fmt, subtype=subtype)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def samples() -> dict[str, bytes]:
    """One short valid file per decodable type (Ogg and AIFF written by libsndfile, the rest by `encode`)."""
    audio = tone(0.25)
    return {
        "audio/wav": encode(audio, RATE, "wav"),
        "audio/flac": encode(audio, RATE, "flac"),
        "audio/mpeg": encode(audio, RATE, "mp3"),
        "audio/mp4": encode(audio, RATE, "m4a"),
        "audio/ogg": soundfile_bytes(audio, RATE, "OGG", "VORBIS"),
        "audio/aiff": soundfile_bytes(audio, RATE, "AIFF", "PCM_16"),
    }


@pytest.fixture
def private_tmp(tmp_path, monkeypatch) -> Path:
    """Route the module's temporary files into an empty directory, to check that none are left behind."""
    directory = tmp_path / "tmp"
    directory.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(directory))
    return directory


def assert_error(error: pytest.ExceptionInfo[MediaError], code: str) -> None:
    assert error.value.code == code
    assert error.value.status == ERROR_CODES[code]
    assert error.value.message.endswith(".")


# --- sniff ------------------------------------------------------------------------------------------------

SNIFF_TABLE = [
    (b"RIFF\x24\x00\x00\x00WAVEfmt ", "audio/wav"),
    (b"RIFF\x24\x00\x00\x00AVI LIST", None),
    (b"fLaC\x00\x00\x00\x22", "audio/flac"),
    (b"ID3\x04\x00\x00\x00\x00\x00\x00fLaC\x00\x00\x00\x22", "audio/flac"),  # c2pa puts an ID3 tag before FLAC
    (b"ID3\x04\x00\x00\x00\x00\x00\x00\xff\xfb\x90\x00", "audio/mpeg"),
    (b"ID3\x04\x00\x00\x80\x00\x00\x00", None),  # size bytes must be syncsafe
    (b"\xff\xfb\x90\x64\x00\x00", "audio/mpeg"),  # MPEG-1 layer III
    (b"\xff\xf3\x90\x64\x00\x00", "audio/mpeg"),  # MPEG-2 layer III
    (b"\xff\xf1\x50\x80\x02\x1f", None),  # ADTS AAC: layer bits 00
    (b"\xff\xfb\xf0\x64\x00\x00", None),  # bitrate index 1111 is invalid
    (b"\x00\x00\x00\x20ftypM4A \x00\x00\x00\x00M4A isom", "audio/mp4"),
    (b"\x00\x00\x00\x1cftypisom\x00\x00\x02\x00isomiso2", "audio/mp4"),
    (b"\x00\x00\x00\x18ftypqt  \x00\x00\x00\x00mp42", "audio/mp4"),  # compatible brand counts
    (b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00", None),
    (b"OggS\x00\x02\x00\x00", "audio/ogg"),
    (b"FORM\x00\x00\x00\x00AIFFCOMM", "audio/aiff"),
    (b"FORM\x00\x00\x00\x00AIFCFVER", "audio/aiff"),
    (b"FORM\x00\x00\x00\x008SVXVHDR", None),
    (b"", None),
    (b"hello, world", None),
    (b"%PDF-1.7", None),
]


@pytest.mark.parametrize(("head", "expected"), SNIFF_TABLE)
def test_sniff_names_each_type_by_its_magic_bytes(head, expected):
    assert sniff(head) == expected


def test_sniff_recognises_every_sample_file(samples):
    for media_type, data in samples.items():
        assert sniff(data) == media_type


# --- encode / decode round trips --------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["wav", "flac", "mp3", "m4a"])
@pytest.mark.parametrize(("rate", "channels"), [(44_100, 2), (48_000, 1)])
def test_decode_of_encode_keeps_rate_channels_and_length(fmt, rate, channels):
    audio = tone(1.0, rate, channels)
    data = encode(audio, rate, fmt)
    decoded = decode(data)
    assert isinstance(decoded, Decoded)
    assert decoded.media_type == media.ENCODE_MEDIA_TYPES[fmt] == sniff(data)
    assert (decoded.sample_rate, decoded.channels) == (rate, channels)
    assert decoded.audio.dtype == np.float32 and decoded.audio.shape[1] == channels
    assert decoded.seconds == pytest.approx(decoded.audio.shape[0] / rate)
    frames = decoded.audio.shape[0]
    if fmt in ("wav", "flac"):
        assert frames == len(audio)
        np.testing.assert_allclose(decoded.audio, audio, atol=2.0**-22)  # 24-bit quantisation
    else:
        # MP3 carries its encoder delay and padding in the LAME tag, MP4 in an edit list: only AAC's final
        # frame of padding (< 1024 samples + the priming remainder) may remain.
        assert len(audio) <= frames <= len(audio) + 2048
        common = decoded.audio[: len(audio)]
        for channel in range(channels):
            correlation = np.corrcoef(common[:, channel], audio[:, channel])[0, 1]
            assert correlation > 0.95, f"{fmt} is misaligned or distorted (r={correlation:.3f})"


@pytest.mark.parametrize("fmt", ["wav", "flac", "mp3", "m4a"])
def test_encode_is_deterministic_and_carries_no_ffmpeg_metadata(fmt):
    audio = tone(0.5)
    first, second = encode(audio, RATE, fmt), encode(audio.copy(), RATE, fmt)
    assert first == second
    # bitexact leaves at most the bare name "Lavf" in the MP3 Xing/LAME frame: no version, no date, no tags.
    assert re.search(rb"Lav[fc]\d", first) is None
    for marker in (b"encoder", b"creation_time", b"TSSE", b"ID3"):
        assert marker not in first


def test_mp3_defaults_to_192_kbps_and_takes_a_bitrate():
    audio = tone(2.0)
    default, low = encode(audio, RATE, "mp3"), encode(audio, RATE, "mp3", bitrate_kbps=64)
    assert len(default) == pytest.approx(2.0 * 192_000 / 8, rel=0.1)
    assert len(low) == pytest.approx(2.0 * 64_000 / 8, rel=0.1)


def test_m4a_is_faststart():
    data = encode(tone(0.5), RATE, "m4a")
    assert data.index(b"moov") < data.index(b"mdat")


def test_encode_clips_to_full_scale():
    audio = np.array([[2.0], [-3.0], [0.5]] * 100, dtype=np.float64)
    decoded = decode(encode(audio, 48_000, "wav"))
    assert decoded.audio.max() <= 1.0 and decoded.audio.min() >= -1.0
    assert decoded.audio[2, 0] == pytest.approx(0.5, abs=1e-6)


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        ((tone(0.1), RATE, "ogg"), {}),
        ((tone(0.1), RATE, "wav"), {"bitrate_kbps": 128}),
        ((tone(0.1), 96_000, "mp3"), {}),
        ((tone(0.1), RATE, "mp3"), {"bitrate_kbps": 8}),
        ((tone(0.1, channels=3), RATE, "mp3"), {}),
        ((np.array([np.nan, 0.0]), RATE, "wav"), {}),
        ((np.zeros(0), RATE, "wav"), {}),
        ((np.zeros((4, 2), dtype=np.int16), RATE, "wav"), {}),
        ((tone(0.1), 44_100.0, "wav"), {}),
    ],
)
def test_encode_rejects_arguments_its_format_cannot_take(args, kwargs):
    with pytest.raises(ValueError):
        encode(*args, **kwargs)


# --- decode errors ----------------------------------------------------------------------------------------


def test_empty_bytes_are_undecodable():
    with pytest.raises(MediaError) as error:
        decode(b"")
    assert_error(error, "undecodable_media")


def test_unknown_magic_is_an_unsupported_media_type():
    with pytest.raises(MediaError) as error:
        decode(b"%PDF-1.7\n" + bytes(1000))
    assert_error(error, "unsupported_media_type")


def test_garbage_is_an_unsupported_media_type():
    with pytest.raises(MediaError) as error:
        decode(np.random.default_rng(7).bytes(5000).replace(b"\xff", b"\x00"))
    assert_error(error, "unsupported_media_type")


def test_truncated_wav_is_undecodable(samples):
    wav = samples["audio/wav"]
    with pytest.raises(MediaError) as error:
        decode(wav[: len(wav) // 2])
    assert_error(error, "undecodable_media")
    assert "truncated" in error.value.message


def test_wav_with_a_header_and_no_frames_is_undecodable(samples):
    header_only = samples["audio/wav"][:44]
    header_only = header_only[:40] + struct.pack("<I", 0)
    with pytest.raises(MediaError) as error:
        decode(header_only)
    assert_error(error, "undecodable_media")


@pytest.mark.parametrize("magic", [b"RIFF\x00\x10\x00\x00WAVE", b"fLaC", b"OggS", b"\x00\x00\x00\x14ftypM4A "])
def test_garbage_behind_valid_magic_is_undecodable(magic, private_tmp):
    with pytest.raises(MediaError) as error:
        decode(magic + np.random.default_rng(3).bytes(4000))
    assert_error(error, "undecodable_media")
    assert list(private_tmp.iterdir()) == []


def test_truncated_flac_is_undecodable(samples):
    flac = samples["audio/flac"]
    with pytest.raises(MediaError) as error:
        decode(flac[: len(flac) // 2])
    assert_error(error, "undecodable_media")


@pytest.mark.parametrize("media_type", ["audio/wav", "audio/flac", "audio/mpeg", "audio/mp4", "audio/ogg"])
def test_audio_longer_than_max_seconds_is_too_long(samples, media_type, private_tmp):
    assert decode(samples[media_type], max_seconds=0.3).seconds > 0.2
    with pytest.raises(MediaError) as error:
        decode(samples[media_type], max_seconds=0.1)
    assert_error(error, "media_too_long")
    assert list(private_tmp.iterdir()) == []


def test_sample_budget_shortens_the_limit_for_wide_high_rate_audio():
    data = encode(np.zeros((192_000, 8), dtype=np.float32), 192_000, "wav")  # 1 s, 1.536 M samples/s
    with pytest.raises(MediaError) as error:
        decode(data, max_seconds=2)
    assert_error(error, "media_too_long")
    assert decode(data, max_seconds=4).seconds == 1.0


def test_missing_ffmpeg_is_reported(samples, monkeypatch):
    monkeypatch.setattr(media, "FFMPEG", "/nonexistent/ffmpeg")
    with pytest.raises(MediaError) as error:
        decode(samples["audio/mpeg"])
    assert_error(error, "ffmpeg_missing")
    with pytest.raises(MediaError) as error:
        encode(tone(0.1), RATE, "m4a")
    assert error.value.code == "ffmpeg_missing" and error.value.status == 503
    assert decode(samples["audio/wav"]).channels == 2  # WAV and FLAC never need it


def test_a_hanging_decoder_times_out_and_is_killed(samples, monkeypatch, tmp_path, private_tmp):
    pid_file = tmp_path / "pid"
    fake = tmp_path / "ffmpeg"
    fake.write_text(f"#!/bin/sh\necho $$ > {pid_file}\nexec sleep 30\n")
    fake.chmod(0o755)
    monkeypatch.setattr(media, "FFMPEG", str(fake))
    with pytest.raises(MediaError) as error:
        decode(samples["audio/mpeg"], timeout=0.5)
    assert_error(error, "decode_timeout")
    with pytest.raises(ProcessLookupError):
        os.kill(int(pid_file.read_text()), 0)
    assert list(private_tmp.iterdir()) == []


def test_ffmpeg_errors_do_not_leak_temporary_paths(private_tmp):
    with pytest.raises(MediaError) as error:
        decode(b"OggS" + bytes(2000))
    assert str(private_tmp) not in error.value.message


def _ffmpeg_lavfi(tmp_path: Path, *args: str) -> bytes:
    import subprocess

    target = tmp_path / "out.mp4"
    subprocess.run(
        [media.FFMPEG, "-nostdin", "-hide_banner", "-loglevel", "error", *args, "-f", "mp4", str(target)],
        check=True,
        timeout=60,
    )
    return target.read_bytes()


def test_a_video_mp4_decodes_to_its_first_audio_stream(tmp_path):
    video = _ffmpeg_lavfi(
        tmp_path,
        *("-f", "lavfi", "-i", "testsrc=size=32x32:rate=5:duration=0.5"),
        *("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=22050:duration=0.5"),
        *("-c:v", "mpeg4", "-c:a", "aac"),
    )
    decoded = decode(video)
    assert (decoded.media_type, decoded.sample_rate, decoded.channels) == ("audio/mp4", 22_050, 1)


def test_a_video_mp4_without_audio_is_undecodable(tmp_path):
    video = _ffmpeg_lavfi(tmp_path, "-f", "lavfi", "-i", "testsrc=size=32x32:rate=5:duration=0.5", "-c:v", "mpeg4")
    with pytest.raises(MediaError) as error:
        decode(video)
    assert_error(error, "undecodable_media")


# --- fuzz -------------------------------------------------------------------------------------------------

MAGICS = [
    b"RIFF\x00\x01\x00\x00WAVE",
    b"RIFF\xff\xff\xff\xffWAVEfmt \x10\x00\x00\x00",
    b"fLaC",
    b"ID3\x04\x00\x00\x00\x00\x00\x00",
    b"\xff\xfb\x90\x64",
    b"\x00\x00\x00\x18ftypM4A \x00\x00\x00\x00isom",
    b"OggS\x00\x02",
    b"FORM\x00\x00\x10\x00AIFF",
    b"FORM\x00\x00\x10\x00AIFC",
]
FUZZ = settings(
    max_examples=100,
    deadline=timedelta(seconds=20),
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def check_outcome(data: bytes) -> None:
    """decode(data) is a well-formed Decoded or a MediaError with a known code and status."""
    try:
        decoded = decode(data, max_seconds=5, timeout=10)
    except MediaError as error:
        assert ERROR_CODES.get(error.code) == error.status, error
        return
    assert decoded.audio.dtype == np.float32 and decoded.audio.ndim == 2
    assert decoded.audio.shape[0] > 0 and decoded.audio.shape[1] == decoded.channels
    assert media.MIN_SAMPLE_RATE <= decoded.sample_rate <= media.MAX_SAMPLE_RATE
    assert np.all(np.isfinite(decoded.audio))
    assert decoded.seconds <= 5


@FUZZ
@given(st.binary(max_size=4096))
def test_fuzz_random_bytes(data):
    check_outcome(data)


@FUZZ
@given(st.sampled_from(MAGICS), st.binary(max_size=4096))
def test_fuzz_random_bytes_behind_valid_magic(magic, tail):
    check_outcome(magic + tail)


@FUZZ
@given(st.data())
def test_fuzz_mutated_and_truncated_valid_files(samples, data):
    original = samples[data.draw(st.sampled_from(sorted(samples)), label="type")]
    mutated = bytearray(original)
    for _ in range(data.draw(st.integers(1, 4), label="edits")):
        operation = data.draw(st.sampled_from(["truncate", "flip", "overwrite", "delete", "insert"]))
        at = data.draw(st.integers(0, max(len(mutated) - 1, 0)))
        if operation == "truncate":
            del mutated[at:]
        elif operation == "flip" and mutated:
            mutated[at] ^= data.draw(st.integers(1, 255))
        elif operation == "overwrite":
            chunk = data.draw(st.binary(min_size=1, max_size=16))
            mutated[at : at + len(chunk)] = chunk
        elif operation == "delete":
            del mutated[at : at + data.draw(st.integers(1, 512))]
        else:
            mutated[at:at] = data.draw(st.binary(min_size=1, max_size=64))
    check_outcome(bytes(mutated))
