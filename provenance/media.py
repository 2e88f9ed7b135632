"""Decoding uploads and encoding deliverables: magic-byte sniffing, bounded decoding, deterministic encoding.

Pure and Django-free. WAV and FLAC go through libsndfile (`soundfile`) in memory; MP3, MP4/M4A, Ogg and AIFF
go through an ``ffmpeg`` subprocess that reads a private temporary file and writes 32-bit float PCM to a pipe.
Every decode is bounded in time (`timeout`), in length (`max_seconds`, checked before the samples are
materialised, so memory stays proportional to the allowed length) and leaves no temporary file or process
behind. Rejections raise `MediaError` with a stable code and the HTTP status an API should answer with.

Hardening of the ffmpeg path, because uploads are hostile: the demuxer is forced from the sniffed type (ffmpeg
never guesses, so a playlist or concat script is never interpreted), only the ``file`` protocol is allowed
(no network, no other files), stdin is closed, and stderr goes to a file so a chatty decoder cannot block.

Encoding writes WAV (24-bit PCM) and FLAC (24-bit) with libsndfile, MP3 (libmp3lame, CBR) and M4A (AAC in an
MP4 container, ``+faststart``) with ffmpeg. Output bytes are deterministic for the same input: ffmpeg runs with
``-map_metadata -1 -fflags +bitexact -flags:a +bitexact`` and one thread, so no encoder version string,
creation time or random identifier makes two runs differ. Formats here are the ones c2pa-python 0.38.1 signs
(audio/wav, audio/flac, audio/mpeg, audio/mp4); deliverables are signed after encoding, never re-encoded.
"""

from __future__ import annotations

import io
import math
import os
import select
import struct
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

import numpy as np
import numpy.typing as npt
import soundfile as sf

FFMPEG: str = "/usr/bin/ffmpeg"  # module attribute so deployments (and tests) can point elsewhere

WAV: Final = "audio/wav"
FLAC: Final = "audio/flac"
MPEG: Final = "audio/mpeg"
MP4: Final = "audio/mp4"
OGG: Final = "audio/ogg"
AIFF: Final = "audio/aiff"

MEDIA_TYPES: Final = (WAV, FLAC, MPEG, MP4, OGG, AIFF)
EncodeFormat = Literal["wav", "flac", "mp3", "m4a"]
ENCODE_MEDIA_TYPES: Final[dict[str, str]] = {"wav": WAV, "flac": FLAC, "mp3": MPEG, "m4a": MP4}

# ffmpeg demuxer for each type it decodes: forcing it means ffmpeg never probes the upload for a format.
_DEMUXERS: Final[dict[str, str]] = {MPEG: "mp3", MP4: "mov", OGG: "ogg", AIFF: "aiff"}
# ISO BMFF brands (major or compatible) that make an `ftyp` box an MP4 audio file.
_MP4_BRANDS: Final = frozenset({b"M4A ", b"M4B ", b"mp42", b"mp41", b"isom", b"iso2", b"iso4", b"iso5", b"iso6"})

MIN_SAMPLE_RATE: Final = 1_000  # below this a header is garbage, not telephone audio
MAX_SAMPLE_RATE: Final = 384_000
MAX_CHANNELS: Final = 8  # 7.1; what every encoder here can also write back
# Memory bound independent of the header's claims: at most max_seconds x this many samples (all channels) are
# ever held, i.e. full length up to 48 kHz x 8 channels or 192 kHz stereo (max_seconds x 1.5 MB as float32).
SAMPLES_PER_SECOND_BUDGET: Final = 384_000
_HEADER_LIMIT: Final = 4096  # ffmpeg's WAV header on the pipe is < 100 bytes; more means something is wrong
_READ_SIZE: Final = 1 << 16

DEFAULT_BITRATE_KBPS: Final = 192
_MP3_RATES: Final = frozenset({8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000})
_AAC_RATES: Final = frozenset({7350, 8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000, 64000, 88200, 96000})
_MAX_ENCODE_CHANNELS: Final[dict[str, int]] = {"wav": MAX_CHANNELS, "flac": 8, "mp3": 2, "m4a": 8}


class MediaError(Exception):
    """An upload cannot be decoded (or a deliverable encoded); `code` is stable, `status` the HTTP answer.

    Codes: ``unsupported_media_type`` (415), ``media_too_long`` (413), ``undecodable_media`` (422),
    ``decode_timeout`` (422), ``ffmpeg_missing`` (503), ``encode_failed`` (500).
    """

    def __init__(self, code: str, message: str, status: int) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status

    def __repr__(self) -> str:
        return f"MediaError({self.code!r}, {self.message!r}, {self.status})"


@dataclass(frozen=True)
class Decoded:
    """Decoded audio: float32 samples shaped (frames, channels) at the source's own sample rate."""

    audio: npt.NDArray[np.float32]
    sample_rate: int
    media_type: str
    channels: int
    seconds: float


def _unsupported() -> MediaError:
    return MediaError(
        "unsupported_media_type",
        "The upload is not a WAV, FLAC, MP3, MP4/M4A, Ogg or AIFF file (its first bytes match none of them).",
        415,
    )


def _undecodable(reason: str) -> MediaError:
    return MediaError("undecodable_media", f"The audio could not be decoded: {reason}.", 422)


def _too_long(max_seconds: float, rate: int, channels: int) -> MediaError:
    if rate * channels > SAMPLES_PER_SECOND_BUDGET:
        allowed = _frame_limit(max_seconds, rate, channels) / rate
        return MediaError(
            "media_too_long",
            f"At {rate} Hz with {channels} channels at most {allowed:.1f} seconds are allowed; the audio is longer.",
            413,
        )
    return MediaError("media_too_long", f"The audio is longer than the {max_seconds:g} seconds allowed.", 413)


# --- sniffing ---------------------------------------------------------------------------------------------


def _id3_size(data: bytes) -> int | None:
    """Length of a leading ID3v2 tag (header, body and footer), or None if the header is malformed."""
    if len(data) < 10 or data[3] == 0xFF or data[4] == 0xFF:
        return None
    size_bytes = data[6:10]
    if any(b & 0x80 for b in size_bytes):  # sizes are syncsafe: 7 bits per byte
        return None
    size = (size_bytes[0] << 21) | (size_bytes[1] << 14) | (size_bytes[2] << 7) | size_bytes[3]
    footer = 10 if data[5] & 0x10 else 0
    return 10 + size + footer


def _mpeg_frame_header(data: bytes) -> bool:
    """True if `data` starts with a plausible MPEG-1/2/2.5 audio frame header (not ADTS AAC)."""
    if len(data) < 4 or data[0] != 0xFF or data[1] & 0xE0 != 0xE0:
        return False
    version = (data[1] >> 3) & 0b11
    layer = (data[1] >> 1) & 0b11
    bitrate_index = data[2] >> 4
    rate_index = (data[2] >> 2) & 0b11
    # version 01 is reserved; layer 00 is reserved (and is what ADTS AAC uses); bitrate 1111 and rate 11 are invalid.
    return version != 0b01 and layer != 0b00 and bitrate_index != 0b1111 and rate_index != 0b11


def _mp4_brands(data: bytes) -> bool:
    """True if `data` starts with an ISO BMFF `ftyp` box naming an MP4 audio brand."""
    if len(data) < 16 or data[4:8] != b"ftyp":
        return False
    box_size = int.from_bytes(data[0:4], "big")
    end = min(len(data), box_size if box_size >= 16 else 16)
    brands = {data[8:12]} | {data[i : i + 4] for i in range(16, end - 3, 4)}
    return bool(brands & _MP4_BRANDS)


def sniff(data: bytes) -> str | None:
    """The media type `data` is, from its magic bytes (audio/wav, audio/flac, audio/mpeg, audio/mp4, audio/ogg,
    audio/aiff), or None when the bytes match none of them."""
    head = bytes(data[:64])
    if head[0:4] == b"RIFF" and head[8:12] == b"WAVE":
        return WAV
    if head[0:4] == b"fLaC":
        return FLAC
    if head[0:4] == b"OggS":
        return OGG
    if head[0:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return AIFF
    if _mp4_brands(head):
        return MP4
    if head[0:3] == b"ID3":
        size = _id3_size(head)
        if size is None:
            return None
        # Some taggers put ID3 in front of FLAC; anything else after a tag is treated as MPEG audio.
        return FLAC if bytes(data[size : size + 4]) == b"fLaC" else MPEG
    if _mpeg_frame_header(head):
        return MPEG
    return None


# --- decoding ---------------------------------------------------------------------------------------------


def decode(data: bytes, *, max_seconds: float = 600, timeout: float = 20) -> Decoded:
    """Decode an uploaded audio file into float32 samples (frames, channels) at its own sample rate.

    Raises `MediaError`: ``unsupported_media_type`` for unknown magic bytes, ``media_too_long`` past
    `max_seconds`, ``undecodable_media`` for empty, truncated or corrupt input, ``decode_timeout`` when ffmpeg
    runs past `timeout` seconds, ``ffmpeg_missing`` when ffmpeg is needed but not installed.
    """
    if not (max_seconds > 0 and math.isfinite(max_seconds)) or not (timeout > 0 and math.isfinite(timeout)):
        raise ValueError("max_seconds and timeout must be positive and finite.")
    data = bytes(data)
    if not data:
        raise _undecodable("the upload is empty")
    media_type = sniff(data)
    if media_type is None:
        raise _unsupported()
    if media_type in (WAV, FLAC):
        audio, rate = _decode_soundfile(data, media_type, max_seconds)
    else:
        audio, rate = _decode_ffmpeg(data, media_type, max_seconds, timeout)
    frames, channels = audio.shape
    if frames == 0:
        raise _undecodable("it contains no audio frames")
    if not np.all(np.isfinite(audio)):
        raise _undecodable("it contains NaN or infinite samples")
    return Decoded(audio=audio, sample_rate=rate, media_type=media_type, channels=channels, seconds=frames / rate)


def _check_format(rate: int, channels: int) -> None:
    if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise _undecodable(f"the sample rate {rate} Hz is outside {MIN_SAMPLE_RATE}..{MAX_SAMPLE_RATE} Hz")
    if not 1 <= channels <= MAX_CHANNELS:
        raise _undecodable(f"{channels} channels is outside 1..{MAX_CHANNELS}")


def _frame_limit(max_seconds: float, rate: int, channels: int) -> int:
    """The most frames decode accepts: max_seconds of audio, within the sample budget."""
    return min(math.floor(max_seconds * rate), math.floor(max_seconds * SAMPLES_PER_SECOND_BUDGET / channels))


def _wav_declared_data_end(data: bytes) -> int | None:
    """Where the RIFF `data` chunk says it ends, or None when the size is unknown (streamed WAVs write 0 or
    0xFFFFFFFF) or the chunk is not found. libsndfile silently shortens a truncated file; this catches it."""
    offset = 12
    while offset + 8 <= len(data):
        chunk_id = data[offset : offset + 4]
        (size,) = struct.unpack_from("<I", data, offset + 4)
        if chunk_id == b"data":
            return None if size in (0, 0xFFFFFFFF) else offset + 8 + size
        offset += 8 + size + (size & 1)
    return None


def _decode_soundfile(data: bytes, media_type: str, max_seconds: float) -> tuple[npt.NDArray[np.float32], int]:
    """WAV/FLAC from memory with libsndfile; reads at most max_seconds (+1 frame, to detect overflow)."""
    if media_type == WAV:
        declared_end = _wav_declared_data_end(data)
        if declared_end is not None and declared_end > len(data):
            raise _undecodable("the WAV file is truncated (its data chunk is shorter than its header says)")
    expected_formats = ("WAV", "WAVEX") if media_type == WAV else ("FLAC",)
    try:
        with sf.SoundFile(io.BytesIO(data)) as handle:
            rate = int(handle.samplerate)
            channels = int(handle.channels)
            declared = int(handle.frames)
            if handle.format not in expected_formats:
                raise _undecodable(f"the file is {handle.format}, not {expected_formats[0]}")
            _check_format(rate, channels)
            limit = _frame_limit(max_seconds, rate, channels)
            if declared > limit:
                raise _too_long(max_seconds, rate, channels)
            # Blocks, not one read: a header can claim any length, so memory follows what actually decodes.
            blocks = [
                np.array(block, dtype=np.float32)
                for block in handle.blocks(blocksize=_READ_SIZE, dtype="float32", always_2d=True, frames=limit + 1)
            ]
    except MediaError:
        raise
    except (RuntimeError, ValueError, TypeError, EOFError, OverflowError, struct.error) as error:
        # soundfile.LibsndfileError is a RuntimeError; the others come from malformed headers.
        raise _undecodable(_first_line(str(error)) or type(error).__name__) from error
    audio = np.concatenate(blocks) if blocks else np.zeros((0, channels), dtype=np.float32)
    if audio.shape[0] > limit:
        raise _too_long(max_seconds, rate, channels)
    if 0 < declared and audio.shape[0] < declared:
        raise _undecodable(f"the file is truncated ({audio.shape[0]} of {declared} frames)")
    return np.ascontiguousarray(audio, dtype=np.float32), rate


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0][:200] if text.strip() else ""


def _timeout(timeout: float) -> MediaError:
    return MediaError("decode_timeout", f"Decoding took longer than {timeout:g} seconds.", 422)


def _ffmpeg_missing() -> MediaError:
    return MediaError(
        "ffmpeg_missing", "This server cannot decode or encode this format: ffmpeg is not installed.", 503
    )


def _parse_wav_header(buffer: bytes | bytearray) -> tuple[int, int, int] | None:
    """(sample_rate, channels, header_length) of the float32 WAV ffmpeg streams, or None if incomplete."""
    if len(buffer) < 12:
        return None
    if buffer[0:4] != b"RIFF" or buffer[8:12] != b"WAVE":
        raise _undecodable("ffmpeg produced no WAV stream")
    offset = 12
    fmt: tuple[int, int, int, int] | None = None
    while offset + 8 <= len(buffer):
        chunk_id = bytes(buffer[offset : offset + 4])
        (size,) = struct.unpack_from("<I", buffer, offset + 4)
        if chunk_id == b"data":
            if fmt is None:
                raise _undecodable("ffmpeg produced a WAV stream without a format chunk")
            tag, channels, rate, bits = fmt
            if tag != 3 or bits != 32:
                raise _undecodable("ffmpeg did not produce 32-bit float samples")
            return rate, channels, offset + 8
        if offset + 8 + size > len(buffer):
            return None
        if chunk_id == b"fmt ":
            if size < 16:
                raise _undecodable("ffmpeg produced a malformed format chunk")
            tag, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", buffer, offset + 8)
            if tag == 0xFFFE and size >= 40:  # WAVE_FORMAT_EXTENSIBLE: the real tag opens the sub-format GUID
                (tag,) = struct.unpack_from("<H", buffer, offset + 8 + 24)
            fmt = (tag, channels, rate, bits)
        offset += 8 + size + (size & 1)
    return None


def _decode_ffmpeg(
    data: bytes, media_type: str, max_seconds: float, timeout: float
) -> tuple[npt.NDArray[np.float32], int]:
    """MP3/MP4/Ogg/AIFF through ffmpeg: a temp file in, float32 WAV out on a pipe, read with a deadline and
    a byte cap; the process is killed on timeout or overflow, and always reaped."""
    deadline = time.monotonic() + timeout
    with tempfile.TemporaryDirectory(prefix="clearcue-decode-") as workdir:
        source = Path(workdir) / "input"
        source.write_bytes(data)
        log_path = Path(workdir) / "stderr"
        command = [
            FFMPEG, "-nostdin", "-hide_banner", "-loglevel", "error", "-threads", "1",
            "-protocol_whitelist", "file", "-f", _DEMUXERS[media_type], "-i", str(source),
            "-map", "0:a:0", "-vn", "-sn", "-dn", "-map_metadata", "-1", "-fflags", "+bitexact",
            "-c:a", "pcm_f32le", "-f", "wav", "pipe:1",
        ]  # fmt: skip
        with log_path.open("wb") as log:
            try:
                process = subprocess.Popen(  # noqa: S603 - fixed argv, no shell; the only input is a private file
                    command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log
                )
            except (FileNotFoundError, PermissionError, NotADirectoryError) as error:
                raise _ffmpeg_missing() from error
            try:
                rate, channels, pcm = _read_pcm(process, deadline, max_seconds, timeout)
                process.wait(timeout=max(deadline - time.monotonic(), 0.01))
            except subprocess.TimeoutExpired as error:  # stdout closed, but the process lingers
                raise _timeout(timeout) from error
            finally:
                if process.poll() is None:
                    process.kill()
                process.wait()
                assert process.stdout is not None
                process.stdout.close()
        if process.returncode != 0:
            detail = _first_line(log_path.read_bytes().decode("utf-8", "replace").replace(str(source), "input"))
            raise _undecodable(f"ffmpeg failed ({detail or f'exit status {process.returncode}'})")
    frames = len(pcm) // (4 * channels)
    audio = np.frombuffer(pcm, dtype="<f4", count=frames * channels).reshape(frames, channels)
    return audio.astype(np.float32, copy=False), rate


def _read_pcm(
    process: subprocess.Popen[bytes], deadline: float, max_seconds: float, timeout: float
) -> tuple[int, int, bytearray]:
    """Read ffmpeg's stdout until EOF; raises decode_timeout past the deadline and media_too_long once more
    than max_seconds of samples arrived (the caller kills the process)."""
    assert process.stdout is not None
    fd = process.stdout.fileno()
    buffer = bytearray()
    header: tuple[int, int, int] | None = None
    cap = _HEADER_LIMIT
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _timeout(timeout)
        ready, _, _ = select.select([fd], [], [], remaining)
        if not ready:
            continue
        chunk = os.read(fd, _READ_SIZE)
        if not chunk:
            break
        buffer += chunk
        if header is None:
            header = _parse_wav_header(buffer)
            if header is None:
                if len(buffer) > _HEADER_LIMIT:
                    raise _undecodable("ffmpeg produced an unexpected stream header")
                continue
            rate, channels, offset = header
            _check_format(rate, channels)
            del buffer[:offset]
            cap = (_frame_limit(max_seconds, rate, channels) + 1) * channels * 4
        if len(buffer) >= cap:  # at least one frame more than max_seconds allows
            raise _too_long(max_seconds, header[0], header[1])
    if header is None:
        return MIN_SAMPLE_RATE, 1, bytearray()  # no stream at all: the exit status explains why
    return header[0], header[1], buffer


# --- encoding ---------------------------------------------------------------------------------------------


def encode(
    audio: npt.NDArray[np.floating],
    sample_rate: int,
    fmt: EncodeFormat,
    *,
    bitrate_kbps: int | None = None,
    timeout: float = 120,
) -> bytes:
    """`audio` (frames,) or (frames, channels), samples in [-1, 1] (clipped), encoded as `fmt`: ``wav``
    (24-bit PCM), ``flac`` (24-bit), ``mp3`` (libmp3lame CBR, default 192 kbps) or ``m4a`` (AAC in MP4,
    faststart, default 192 kbps). The same input always gives the same bytes.

    Raises ValueError for arguments outside what the format supports, `MediaError` ``ffmpeg_missing`` (503)
    or ``encode_failed`` (500) when the encoder fails.
    """
    if fmt not in ENCODE_MEDIA_TYPES:
        raise ValueError(f"fmt must be one of {sorted(ENCODE_MEDIA_TYPES)}.")
    samples = _encodable(audio)
    channels = samples.shape[1]
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int):
        raise ValueError("sample_rate must be an int.")
    if not MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE:
        raise ValueError(f"sample_rate must be in {MIN_SAMPLE_RATE}..{MAX_SAMPLE_RATE} Hz.")
    if channels > _MAX_ENCODE_CHANNELS[fmt]:
        raise ValueError(f"{fmt} takes at most {_MAX_ENCODE_CHANNELS[fmt]} channels, got {channels}.")
    if fmt in ("wav", "flac"):
        if bitrate_kbps is not None:
            raise ValueError(f"{fmt} is lossless: bitrate_kbps must be None.")
        if fmt == "flac" and sample_rate > 655_350:
            raise ValueError("FLAC takes sample rates up to 655350 Hz.")
        buffer = io.BytesIO()
        sf.write(buffer, samples, sample_rate, format=fmt.upper(), subtype="PCM_24")
        return buffer.getvalue()
    rates = _MP3_RATES if fmt == "mp3" else _AAC_RATES
    if sample_rate not in rates:
        raise ValueError(f"{fmt} takes sample rates {sorted(rates)}; resample first.")
    bitrate = DEFAULT_BITRATE_KBPS if bitrate_kbps is None else bitrate_kbps
    if isinstance(bitrate, bool) or not isinstance(bitrate, int) or not 32 <= bitrate <= 320:
        raise ValueError("bitrate_kbps must be an int in 32..320.")
    return _encode_ffmpeg(samples, sample_rate, fmt, bitrate, timeout)


def _encodable(audio: npt.NDArray[np.floating]) -> npt.NDArray[np.float32]:
    array = np.asarray(audio)
    if array.ndim not in (1, 2) or array.size == 0 or not np.issubdtype(array.dtype, np.floating):
        raise ValueError("audio must be a non-empty float array shaped (frames,) or (frames, channels).")
    if not np.all(np.isfinite(array)):
        raise ValueError("audio contains NaN or infinite samples.")
    frames = array[:, None] if array.ndim == 1 else array
    return np.ascontiguousarray(np.clip(frames, -1.0, 1.0), dtype=np.float32)


def _encode_ffmpeg(samples: npt.NDArray[np.float32], sample_rate: int, fmt: str, bitrate: int, timeout: float) -> bytes:
    """MP3/M4A through ffmpeg, file to file: both muxers seek back to finish their headers (the LAME/Xing
    frame with encoder delay and padding; the MP4 `moov` moved to the front by faststart)."""
    if fmt == "mp3":
        codec = ["-c:a", "libmp3lame", "-b:a", f"{bitrate}k", "-id3v2_version", "0", "-write_id3v1", "0", "-f", "mp3"]
    else:
        codec = ["-c:a", "aac", "-b:a", f"{bitrate}k", "-movflags", "+faststart", "-f", "mp4"]
    with tempfile.TemporaryDirectory(prefix="clearcue-encode-") as workdir:
        source = Path(workdir) / "input.f32"
        target = Path(workdir) / f"output.{fmt}"
        source.write_bytes(samples.astype("<f4").tobytes())
        log_path = Path(workdir) / "stderr"
        command = [
            FFMPEG, "-nostdin", "-hide_banner", "-loglevel", "error", "-threads", "1",
            "-protocol_whitelist", "file",
            "-f", "f32le", "-ar", str(sample_rate), "-ac", str(samples.shape[1]), "-i", str(source),
            *codec, "-map_metadata", "-1", "-fflags", "+bitexact", "-flags:a", "+bitexact", str(target),
        ]  # fmt: skip
        with log_path.open("wb") as log:
            try:
                process = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
                    command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log
                )
            except (FileNotFoundError, PermissionError, NotADirectoryError) as error:
                raise _ffmpeg_missing() from error
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired as error:
                raise MediaError(
                    "encode_failed", f"Encoding {fmt} took longer than {timeout:g} seconds.", 500
                ) from error
            finally:
                if process.poll() is None:
                    process.kill()
                    process.wait()
        if process.returncode != 0 or not target.is_file():
            detail = _first_line(log_path.read_bytes().decode("utf-8", "replace"))
            raise MediaError("encode_failed", f"ffmpeg could not encode {fmt} ({detail or process.returncode}).", 500)
        return target.read_bytes()
