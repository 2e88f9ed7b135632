"""AudioSeal watermark backend: Meta's generator/detector pair behind the `Watermarker` interface.

AudioSeal (San Roman et al., "Proactive Detection of Voice Cloning with Localized Watermarking", ICML 2024) is
a SEANet generator that outputs an additive watermark carrying a 16-bit message, and a detector that gives, for
every sample, the probability that the watermark is present plus 16 message logits. Both run at 16 kHz mono.

Identifier. The C2PA soft-binding algorithm list has one AudioSeal entry, ``com.aiwatermark.audioseal.1``
(identifier 32, entered 2026-03-08). It is registered by AIWatermark for its own service and names that
vendor's Soft Binding Resolution API, so a value written under it would send verifiers to a resolver that does
not know our payloads. This backend therefore uses ``com.meta.audioseal.1``, which is **not registered** on the
list; pass `alg=` if the platform registers its own identifier.

Payload. The 16-bit message is the payload (0 <= payload < 2**16), most significant bit first: message bit i is
``(payload >> (15 - i)) & 1``. AudioSeal has no check code: a detection whose presence test passes still
decodes 16 unprotected bits, and bit errors yield a *different valid* payload. `bit_margin` (how far every
bit's probability must be from 0.5) is the only guard here; the paper reports 2.5-12% false attributions.

Sample rates. Input of any rate, mono ``(frames,)`` or ``(frames, channels)``, is mixed to mono and resampled
to 16 kHz; the watermark is computed at 16 kHz, resampled back to the input's rate and added to every channel,
so the music above 8 kHz is left untouched (only the watermark is band-limited). Detection resamples to 16 kHz
and reports the detector's per-sample decisions aggregated into `segment_seconds` segments.

Weights. The published checkpoints download from a model hub at load time, which this platform never does:
`AudioSealWatermarker.from_checkpoints` loads operator-installed files, each pinned by SHA-256 and loaded with
``torch.load(weights_only=True)`` (see `load_checkpoint` for how the published files' pickled OmegaConf
``xp.cfg`` is handled without unpickling it), into the architecture of a model card bundled with the package.
`AudioSealWatermarker.untrained_from_cards` builds random weights for plumbing tests only; such an instance
says so (`untrained`, its own `alg`, a ``details["untrained"]`` flag) and must never seal deliverables.

Tensor shapes (B = 1 here): generator ``get_watermark(x: (B, 1, T), message: (B, 16) int64) -> (B, 1, T)``;
detector ``detector(x: (B, 1, T)) -> (B, 2 + 16, T)``: two presence logits (softmax over dim 1; index 1 is
"watermarked") and 16 message logits per sample, T at 16 kHz. Long inputs run in overlapping chunks
(`chunk_seconds`, cross-faded), which bounds memory (the first convolution holds 32 x T floats).

torch and audioseal are imported lazily (inside this module only) with ``NO_TORCH_COMPILE=1`` set first:
audioseal wraps its SEANet in ``torch.compile``, which recompiles for every new input length for no gain on CPU.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import math
import os
import re
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import numpy.typing as npt

from provenance.watermark import Audio, Detection, Segment, WatermarkError, as_frames, check_payload

if TYPE_CHECKING:
    import torch

ALG: Final = "com.meta.audioseal.1"  # not on the C2PA soft-binding list (see the module docstring)
UNTRAINED_ALG: Final = "test.clearcue.audioseal-untrained.0"  # never a real binding: random weights
MODEL_SAMPLE_RATE: Final = 16_000
NBITS: Final = 16
GENERATOR_CARD: Final = "audioseal_wm_16bits"
DETECTOR_CARD: Final = "audioseal_detector_16bits"

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_WEIGHT_NORM_SUFFIXES: Final = (".weight_g", ".weight_v", ".parametrizations.weight.original0",
                                ".parametrizations.weight.original1")  # fmt: skip
# Harmless builtins a pickled OmegaConf config refers to (as types, or to rebuild plain containers).
_PLAIN_GLOBALS: Final = ("builtins.dict", "builtins.list", "builtins.int", "builtins.float", "builtins.str",
                         "builtins.bool", "builtins.tuple", "builtins.set", "builtins.frozenset",
                         "builtins.NoneType", "collections.defaultdict", "collections.OrderedDict")  # fmt: skip


# --- payload packing --------------------------------------------------------------------------------------


def payload_to_bits(payload: int) -> npt.NDArray[np.int64]:
    """The 16 message bits for `payload`, most significant first; raises `payload_out_of_range`."""
    value = check_payload(payload, NBITS)
    return np.array([(value >> (NBITS - 1 - i)) & 1 for i in range(NBITS)], dtype=np.int64)


def bits_to_payload(bits: npt.ArrayLike) -> int:
    """The payload 16 message bits (most significant first, each 0 or 1) carry."""
    try:
        array = np.asarray(bits)
        valid = array.shape == (NBITS,) and bool(np.all((array == 0) | (array == 1)))
    except (ValueError, TypeError):  # ragged or non-numeric input
        valid = False
    if not valid:
        raise WatermarkError("bad_message", f"a message is {NBITS} bits, each 0 or 1.")
    return int(sum(int(bit) << (NBITS - 1 - i) for i, bit in enumerate(array.astype(np.int64))))


# --- resampling -------------------------------------------------------------------------------------------


def resample(
    signal: npt.ArrayLike, from_rate: int, to_rate: int, *, length: int | None = None, zeros: int = 16
) -> npt.NDArray[np.float64]:
    """`signal` (frames,) or (frames, channels) resampled along axis 0 from `from_rate` to `to_rate` Hz.

    Band-limited interpolation with a Kaiser-windowed sinc (`zeros` zero crossings a side, beta 8.6, cutoff
    at 94.5% of the lower Nyquist frequency), evaluated polyphase for the rational ratio to_rate/from_rate:
    output n sits at input position n * from_rate / to_rate. Outside the signal is zero. The output has
    ceil(frames * to_rate / from_rate) frames, or exactly `length`.
    """
    x = np.asarray(signal, dtype=np.float64)
    if x.ndim not in (1, 2):
        raise ValueError("signal must be shaped (frames,) or (frames, channels).")
    for rate in (from_rate, to_rate):
        if isinstance(rate, bool) or not isinstance(rate, int) or rate <= 0:
            raise ValueError("sample rates must be positive ints.")
    two_d = x if x.ndim == 2 else x[:, None]
    frames = two_d.shape[0]
    g = math.gcd(from_rate, to_rate)
    up, down = to_rate // g, from_rate // g
    n_out = -(-frames * up // down) if length is None else length
    if up == down:
        out = np.zeros((n_out, two_d.shape[1]))
        out[: min(frames, n_out)] = two_d[:n_out]
        return out if x.ndim == 2 else out[:, 0]
    cutoff = 0.945 * min(1.0, up / down)  # in cycles per input sample x 2 (1.0 = input Nyquist)
    half = math.ceil(zeros / cutoff)  # taps each side, in input samples
    taps = np.arange(-half + 1, half + 1)  # input offsets relative to floor(position)

    def kernel(phase: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        tau = phase[:, None] / up - taps[None, :]  # distance (input samples) from each output to each tap
        window = np.i0(8.6 * np.sqrt(np.clip(1.0 - (tau / half) ** 2, 0.0, None))) / np.i0(8.6)
        weights: npt.NDArray[np.float64] = cutoff * np.sinc(cutoff * tau) * window
        normalised: npt.NDArray[np.float64] = weights / weights.sum(axis=1, keepdims=True)  # unit DC gain
        return normalised

    table = kernel(np.arange(up)) if up * taps.size <= 1 << 22 else None
    padded = np.zeros((frames + 2 * half + 1, two_d.shape[1]))
    padded[half : half + frames] = two_d
    out = np.empty((n_out, two_d.shape[1]))
    step = max(1, (1 << 21) // (taps.size * two_d.shape[1]))
    for start in range(0, n_out, step):
        n = np.arange(start, min(start + step, n_out), dtype=np.int64)
        base = np.minimum((n * down) // up, frames + half)  # clamp: past the end everything reads zeros
        phase = (n * down) % up
        weights = table[phase] if table is not None else kernel(phase)
        gathered = padded[(base[:, None] + taps[None, :] + half).clip(0, padded.shape[0] - 1)]
        out[n[0] : n[-1] + 1] = np.einsum("nk,nkc->nc", weights, gathered)
    return out if x.ndim == 2 else out[:, 0]


# --- checkpoints ------------------------------------------------------------------------------------------


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class _Opaque:
    """Stands in for every OmegaConf class in a checkpoint: accepts any construction and state, does nothing.
    The config it replaces is discarded (the card is the architecture), so no OmegaConf code ever runs."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        pass

    def __setstate__(self, state: object) -> None:
        pass


def load_checkpoint(path: Path | str, sha256: str) -> dict[str, Any]:
    """The state dict in `path`, after its bytes matched `sha256`; always ``torch.load(weights_only=True)``.

    The file is read once and the same bytes are hashed and loaded (no window to swap it between the two).
    Plain state dicts (or ``{"model": ...}`` / ``{"best_state": {"model": ...}}``) load as they are. The
    published checkpoints also carry ``xp.cfg``, a pickled OmegaConf ``DictConfig`` that weights_only refuses:
    the globals the pickle names are listed first without unpickling; OmegaConf classes and ``typing.Any`` are
    mapped to an inert stub and a few plain builtins to themselves, and a checkpoint naming anything else is
    rejected (`checkpoint_unsafe`), never loaded. Raises `checkpoint_missing`, `bad_checkpoint_sha256`,
    `checkpoint_mismatch`, `checkpoint_unsafe`, `checkpoint_incompatible`.
    """
    import torch

    pin = sha256.strip().lower()
    if not _SHA256.match(pin):
        raise WatermarkError("bad_checkpoint_sha256", f"the pinned SHA-256 for {path} is not 64 hex digits.")
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise WatermarkError("checkpoint_missing", f"checkpoint {path} cannot be read ({error.strerror}).") from error
    actual = hashlib.sha256(data).hexdigest()
    if not hmac.compare_digest(actual, pin):
        raise WatermarkError("checkpoint_mismatch", f"checkpoint {path} has SHA-256 {actual}, not the pinned {pin}.")
    try:
        names = torch.serialization.get_unsafe_globals_in_checkpoint(io.BytesIO(data))
    except Exception as error:  # any failure to parse the archive means "not a torch checkpoint"
        raise WatermarkError("checkpoint_incompatible", f"{path} is not a torch checkpoint ({error}).") from error
    substitutes: list[Any] = []
    for name in names:
        if name.startswith("omegaconf.") or name == "typing.Any":
            substitutes.append((_Opaque, name))
        elif name in _PLAIN_GLOBALS:
            module, _, attribute = name.partition(".")
            substitutes.append((_builtin(module, attribute), name))
        else:
            raise WatermarkError("checkpoint_unsafe", f"checkpoint {path} references {name}; refusing to load it.")
    try:
        with torch.serialization.safe_globals(substitutes):
            loaded = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as error:  # weights_only raises UnpicklingError, RuntimeError, ...
        message = f"checkpoint {path} does not load with weights_only ({error})."
        raise WatermarkError("checkpoint_unsafe", message) from error
    state = loaded
    if isinstance(state, Mapping) and "best_state" in state:
        best = state["best_state"]
        state = best.get("model") if isinstance(best, Mapping) else None
    elif isinstance(state, Mapping) and "model" in state:
        state = state["model"]
    if not isinstance(state, Mapping) or not state:
        raise WatermarkError("checkpoint_incompatible", f"checkpoint {path} holds no state dict.")
    if not all(isinstance(key, str) and isinstance(value, torch.Tensor) for key, value in state.items()):
        raise WatermarkError("checkpoint_incompatible", f"checkpoint {path} holds values that are not tensors.")
    return dict(state)


def _builtin(module: str, attribute: str) -> object:
    import builtins
    import collections

    if attribute == "NoneType":
        return type(None)
    return getattr(builtins if module == "builtins" else collections, attribute)


# --- the backend ------------------------------------------------------------------------------------------


def _audioseal() -> Any:
    """Import audioseal with torch.compile disabled (must happen before its SEANet modules are imported)."""
    os.environ.setdefault("NO_TORCH_COMPILE", "1")
    import audioseal

    return audioseal


@contextmanager
def _inference() -> Iterator[None]:
    """inference_mode, and audioseal's own compile switch off even if it was imported before NO_TORCH_COMPILE."""
    import torch

    _audioseal()
    from audioseal.libs.moshi.utils.compile import no_compile

    with torch.inference_mode(), no_compile():
        yield


def _card_config(card: str, kind: str) -> Any:
    """The model config of a bundled card (`kind` "generator" or "detector"), its `checkpoint` URL dropped."""
    audioseal = _audioseal()
    from audioseal.builder import AudioSealDetectorConfig, AudioSealWMConfig
    from audioseal.loader import load_local_model_config
    from omegaconf import OmegaConf

    if not re.fullmatch(r"[A-Za-z0-9_]+", card):
        raise WatermarkError("unknown_card", f"{card!r} is not a model card name.")
    config = load_local_model_config(card)
    if config is None:
        raise WatermarkError("unknown_card", f"audioseal {audioseal.__version__} bundles no model card {card!r}.")
    values = OmegaConf.to_container(config)
    assert isinstance(values, dict)
    values.pop("checkpoint", None)
    if (kind == "generator") != ("decoder" in values):
        raise WatermarkError("unknown_card", f"model card {card!r} is not a {kind} card.")
    schema = AudioSealWMConfig if kind == "generator" else AudioSealDetectorConfig
    return audioseal.AudioSeal.parse_config(values, config_type=schema)


def _build(card: str, kind: str) -> torch.nn.Module:
    from audioseal.builder import create_detector, create_generator

    config = _card_config(card, kind)
    model = create_generator(config) if kind == "generator" else create_detector(config)
    if getattr(config, "nbits", None) != NBITS:
        raise WatermarkError("unknown_card", f"model card {card!r} does not carry a {NBITS}-bit message.")
    return model.eval()


def _canonical(key: str) -> str:
    """A checkpoint key with weight-norm parameters folded to the plain weight they become."""
    for suffix in _WEIGHT_NORM_SUFFIXES:
        if key.endswith(suffix):
            return key[: -len(suffix)] + ".weight"
    return key


def _load_into(model: torch.nn.Module, state: dict[str, Any], path: Path, card: str) -> None:
    """Load `state` into `model`: plain state dicts strictly; the published weight-norm format through
    audioseal's own converter, after checking its keys cover exactly the model's."""
    from audioseal.loader import convert_state_dict_for_scriptable_model, load_state_dict

    if not any("inner_conv." in key for key in state):
        state = convert_state_dict_for_scriptable_model(state)  # keys of checkpoints trained before v0.2
    expected = set(model.state_dict())
    given = {_canonical(key) for key in state}
    if given != expected:
        missing, unexpected = sorted(expected - given)[:3], sorted(given - expected)[:3]
        raise WatermarkError(
            "checkpoint_incompatible",
            f"checkpoint {path} does not fit card {card} (missing {missing}, unexpected {unexpected}).",
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch.nn.utils.weight_norm's deprecation notice
            load_state_dict(model, state)
    except (RuntimeError, AssertionError, KeyError) as error:
        raise WatermarkError(
            "checkpoint_incompatible", f"checkpoint {path} does not fit card {card} ({error})."
        ) from error


class AudioSealWatermarker:
    """The AudioSeal backend (`provenance.watermark.Watermarker`): 16-bit payload, localised detection.

    Build it with `from_checkpoints` (production) or `untrained_from_cards` (tests only). Parameters:
    `detection_threshold` is the per-sample probability above which a sample counts as watermarked (the
    paper's default 0.5); a segment is detected when at least `segment_fraction` of its samples count; the
    payload is reported only when every bit's probability is at least `bit_margin` away from 0.5.
    These defaults are the paper's, not calibrated on this platform's music.
    """

    payload_bits: int = NBITS

    def __init__(
        self,
        generator: torch.nn.Module,
        detector: torch.nn.Module,
        *,
        alg: str = ALG,
        untrained: bool = False,
        detection_threshold: float = 0.5,
        segment_fraction: float = 0.5,
        bit_margin: float = 0.05,
        segment_seconds: float = 1.0,
        chunk_seconds: float = 10.0,
    ) -> None:
        if not (0 < detection_threshold < 1 and 0 < segment_fraction <= 1 and 0 <= bit_margin < 0.5):
            raise ValueError("thresholds out of range.")
        if not (segment_seconds > 0 and chunk_seconds >= 1):
            raise ValueError("segment_seconds must be positive and chunk_seconds at least 1.")
        self.alg = alg
        self.untrained = untrained
        # Any: called through audioseal's methods (get_watermark, detector), which torch's stubs cannot see.
        self.generator: Any = generator.eval()
        self.detector: Any = detector.eval()
        self.detection_threshold = detection_threshold
        self.segment_fraction = segment_fraction
        self.bit_margin = bit_margin
        self.segment_seconds = segment_seconds
        self.chunk_seconds = chunk_seconds

    def __repr__(self) -> str:
        weights = "UNTRAINED random weights (tests only)" if self.untrained else "pinned checkpoints"
        return f"<AudioSealWatermarker alg={self.alg} {weights}>"

    @classmethod
    def from_checkpoints(
        cls,
        *,
        generator_path: Path | str,
        generator_sha256: str,
        detector_path: Path | str,
        detector_sha256: str,
        generator_card: str = GENERATOR_CARD,
        detector_card: str = DETECTOR_CARD,
        **options: Any,
    ) -> AudioSealWatermarker:
        """The production backend: each checkpoint file verified against its pinned SHA-256 (hex), loaded with
        weights_only (`load_checkpoint`) into the architecture of its model card (a YAML file bundled in the
        installed audioseal package's ``cards/``). `options` go to the constructor (alg, thresholds)."""
        models = []
        for path, sha256, card, kind in (
            (Path(generator_path), generator_sha256, generator_card, "generator"),
            (Path(detector_path), detector_sha256, detector_card, "detector"),
        ):
            state = load_checkpoint(path, sha256)
            model = _build(card, kind)
            _load_into(model, state, path, card)
            models.append(model)
        return cls(models[0], models[1], **options)

    @classmethod
    def untrained_from_cards(
        cls,
        seed: int = 0,
        *,
        generator_card: str = GENERATOR_CARD,
        detector_card: str = DETECTOR_CARD,
        **options: Any,
    ) -> AudioSealWatermarker:
        """FOR TESTS ONLY: the cards' architectures with random weights (seeded). It embeds noise and detects
        nothing; it carries `UNTRAINED_ALG` and ``untrained=True`` so it can never pass for a working backend."""
        import torch

        _audioseal()
        with torch.random.fork_rng(devices=[]):  # leave the caller's global RNG as it was
            torch.manual_seed(seed)
            generator = _build(generator_card, "generator")
            detector = _build(detector_card, "detector")
        options.setdefault("alg", UNTRAINED_ALG)
        return cls(generator, detector, untrained=True, **options)

    # -- protocol ------------------------------------------------------------------------------------------

    def embed(self, audio: Audio, sample_rate: int, payload: int) -> Audio:
        """`audio` with `payload` (16 bits) embedded; same shape and dtype, samples clipped to [-1, 1]."""
        bits = payload_to_bits(payload)
        frames, mono = as_frames(audio)
        rate = _check_rate(sample_rate)
        mix16 = resample(frames.mean(axis=1), rate, MODEL_SAMPLE_RATE)  # (T16,)
        watermark16 = self._run_chunked(mix16, lambda x: self._watermark(x, bits))[0]  # (T16,)
        watermark = resample(watermark16, MODEL_SAMPLE_RATE, rate, length=frames.shape[0])  # (frames,)
        marked = np.clip(frames + watermark[:, None], -1.0, 1.0)
        dtype = np.asarray(audio).dtype
        return (marked[:, 0] if mono else marked).astype(dtype)

    def detect(self, audio: Audio, sample_rate: int) -> Detection:
        """Per-sample presence aggregated into segments, and the 16-bit message averaged over flagged samples."""
        frames, _ = as_frames(audio)
        rate = _check_rate(sample_rate)
        duration = frames.shape[0] / rate
        mix16 = resample(frames.mean(axis=1), rate, MODEL_SAMPLE_RATE)
        outputs = self._run_chunked(mix16, self._detect)  # (1 + 16, T16): presence probability, bit logits
        presence, bit_logits = outputs[0], outputs[1:]
        flagged = presence > self.detection_threshold  # (T16,)

        segments = []
        step = max(1, round(self.segment_seconds * MODEL_SAMPLE_RATE))
        for start in range(0, flagged.size, step):
            fraction = float(flagged[start : start + step].mean())
            segments.append(
                Segment(
                    start=start / MODEL_SAMPLE_RATE,
                    end=min((start + step) / MODEL_SAMPLE_RATE, duration),
                    detected=fraction >= self.segment_fraction,
                    confidence=fraction,
                )
            )
        present = any(segment.detected for segment in segments)
        # The paper's attribution: average the message over the samples the detector flags.
        region = flagged if flagged.any() else np.ones_like(flagged)
        bit_probabilities = 1.0 / (1.0 + np.exp(-bit_logits[:, region].mean(axis=1)))  # (16,)
        margin = float(np.min(np.abs(bit_probabilities - 0.5)))
        detected = present and margin >= self.bit_margin
        payload = bits_to_payload(bit_probabilities > 0.5) if detected else None
        in_segments = [s.confidence for s in segments if s.detected] or [float(flagged.mean())]
        details = {
            "flagged_fraction": float(flagged.mean()),
            "mean_presence": float(presence.mean()),
            "bit_margin_min": margin,
            "segments_detected": float(sum(s.detected for s in segments)),
        }
        if self.untrained:
            details["untrained"] = 1.0
        return Detection(
            alg=self.alg,
            detected=detected,
            payload=payload,
            confidence=float(np.mean(in_segments)),
            segments=tuple(segments),
            details=details,
        )

    # -- model calls ---------------------------------------------------------------------------------------

    def _watermark(self, x: npt.NDArray[np.float64], bits: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        """Generator on one chunk: x (T,) at 16 kHz -> watermark (1, T)."""
        import torch

        with _inference():
            wav = torch.from_numpy(x.astype(np.float32)).reshape(1, 1, -1)  # (B=1, C=1, T)
            message = torch.from_numpy(bits).reshape(1, NBITS)  # (B=1, 16) int64
            watermark: torch.Tensor = self.generator.get_watermark(wav, sample_rate=MODEL_SAMPLE_RATE, message=message)
            return watermark.reshape(1, -1).double().numpy()  # (1, T)

    def _detect(self, x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Detector on one chunk: x (T,) at 16 kHz -> (1 + 16, T): presence probability, then bit logits."""
        import torch

        with _inference():
            wav = torch.from_numpy(x.astype(np.float32)).reshape(1, 1, -1)  # (B=1, C=1, T)
            normalizer = getattr(self.detector, "normalizer", None)
            if normalizer is not None:  # as AudioSealDetector.forward does
                wav = normalizer.loudness_normalization(wav)
            raw = self.detector.detector(wav)  # (B=1, 2 + 16, T): presence logits, message logits
            presence = torch.softmax(raw[:, :2, :], dim=1)[:, 1, :]  # (B=1, T)
            return torch.cat([presence, raw[0, 2:, :]], dim=0).double().numpy()  # (17, T)

    def _run_chunked(
        self, x: npt.NDArray[np.float64], run: Callable[[npt.NDArray[np.float64]], npt.NDArray[np.float64]]
    ) -> npt.NDArray[np.float64]:
        """`run` over overlapping chunks of x (T,), outputs (C, T) cross-faded linearly over the overlaps."""
        chunk = round(self.chunk_seconds * MODEL_SAMPLE_RATE)
        overlap = MODEL_SAMPLE_RATE // 2
        if x.size <= chunk:
            return run(x)
        hop = chunk - overlap
        starts = list(range(0, x.size - overlap, hop))
        total: npt.NDArray[np.float64] | None = None
        weight = np.zeros(x.size)
        for index, start in enumerate(starts):
            end = min(start + chunk, x.size)
            output = run(x[start:end])
            ramp = np.ones(end - start)
            if index > 0:
                ramp[:overlap] = np.linspace(0.0, 1.0, overlap + 2)[1:-1]
            if index < len(starts) - 1 and end - start > overlap:
                ramp[-overlap:] = np.minimum(ramp[-overlap:], np.linspace(1.0, 0.0, overlap + 2)[1:-1])
            if total is None:
                total = np.zeros((output.shape[0], x.size))
            total[:, start:end] += output * ramp
            weight[start:end] += ramp
        assert total is not None
        return total / weight


def _check_rate(sample_rate: int) -> int:
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int) or not 1_000 <= sample_rate <= 384_000:
        raise WatermarkError("bad_sample_rate", "sample_rate must be an int in 1000..384000 Hz.")
    return sample_rate
