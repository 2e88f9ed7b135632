"""The audio watermark interface: what every backend embeds and what detection reports (no Django, no torch).

A watermark carries a 32-bit payload that the platform allocates per sealed output (`provenance.payloads`);
the database resolves a payload back to its output and job. Backends:

- ``keyed`` (`provenance.watermark_keyed`, the default): a classical keyed watermark after the design
  audiowmark documents (frame-wise FFT magnitude modulation, convolutional code, sync blocks); embedding and
  detection depend on a secret platform key, selected by key id so keys can rotate.
- ``audioseal`` (`provenance.watermark_audioseal`): Meta's AudioSeal generator/detector from configured,
  sha256-pinned checkpoints (its 16-bit message is carried as the low 16 bits of the payload).

Audio is a float array shaped ``(frames,)`` or ``(frames, channels)`` with samples in [-1, 1]; backends return
the same shape and dtype they were given. ``alg`` is the identifier written in the C2PA soft-binding assertion,
in the form of the C2PA soft-binding algorithm list (reverse-DNS name + version).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

PAYLOAD_BITS = 32
PAYLOAD_MAX = (1 << PAYLOAD_BITS) - 1

Audio = npt.NDArray[np.floating]


class WatermarkError(Exception):
    """A watermark operation cannot run on this input; `code` is stable, `message` a sentence."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Segment:
    """A stretch of the input, in seconds, where the watermark was (or was not) found."""

    start: float
    end: float
    detected: bool
    confidence: float  # 0..1


@dataclass(frozen=True)
class Detection:
    """What a backend found in a piece of audio.

    `detected` is True only when the presence test passed *and* a payload decoded with a valid check code;
    `payload` is None otherwise. `confidence` is in 0..1. `segments` localise the watermark over time.
    """

    alg: str
    detected: bool
    payload: int | None
    confidence: float
    segments: tuple[Segment, ...] = ()
    key_id: str | None = None  # which platform key matched (keyed backend)
    details: dict[str, float] = field(default_factory=dict)  # backend diagnostics (scores, bit errors)

    def seconds(self) -> list[tuple[float, float]]:
        """The (start, end) seconds that carry the watermark, adjacent segments merged."""
        merged: list[tuple[float, float]] = []
        for segment in self.segments:
            if not segment.detected:
                continue
            if merged and segment.start <= merged[-1][1] + 1e-6:
                merged[-1] = (merged[-1][0], max(merged[-1][1], segment.end))
            else:
                merged.append((segment.start, segment.end))
        return merged


@runtime_checkable
class Watermarker(Protocol):
    """A watermark backend."""

    alg: str
    payload_bits: int

    def embed(self, audio: Audio, sample_rate: int, payload: int) -> Audio:
        """`audio` with `payload` (0 <= payload < 2**payload_bits) embedded; same shape and dtype."""
        ...

    def detect(self, audio: Audio, sample_rate: int) -> Detection:
        """Look for the watermark anywhere in `audio` (crops and offsets included)."""
        ...


def check_payload(payload: int, bits: int = PAYLOAD_BITS) -> int:
    """`payload` if it fits in `bits` bits; raises `payload_out_of_range` otherwise."""
    if isinstance(payload, bool) or not isinstance(payload, int) or not 0 <= payload < (1 << bits):
        raise WatermarkError("payload_out_of_range", f"payload must be an integer in [0, 2**{bits}).")
    return payload


def binding_value(payload: int) -> str:
    """The soft-binding value for a payload: base64 of its 4 big-endian bytes (C2PA `c2pa.soft-binding` value
    and the SB-API `value` parameter)."""
    return base64.b64encode(check_payload(payload).to_bytes(4, "big")).decode("ascii")


def payload_from_binding(value: str) -> int:
    """The payload a soft-binding value carries; raises `bad_binding_value` for anything else."""
    try:
        raw = base64.b64decode(value.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError) as error:
        raise WatermarkError("bad_binding_value", "value is not base64.") from error
    if len(raw) != 4:
        raise WatermarkError("bad_binding_value", "value must encode exactly 4 bytes (a 32-bit payload).")
    return int.from_bytes(raw, "big")


def as_frames(audio: Audio) -> tuple[npt.NDArray[np.float64], bool]:
    """`audio` as float64 (frames, channels) and whether it was 1-D; raises `bad_audio` for other shapes,
    empty input or non-finite samples."""
    array = np.asarray(audio)
    if array.ndim not in (1, 2) or array.size == 0 or not np.issubdtype(array.dtype, np.floating):
        raise WatermarkError("bad_audio",
                             "audio must be a non-empty float array shaped (frames,) or (frames, channels).")
    if not np.all(np.isfinite(array)):
        raise WatermarkError("bad_audio", "audio contains NaN or infinite samples.")
    mono = array.ndim == 1
    return (array[:, None] if mono else array).astype(np.float64), mono
