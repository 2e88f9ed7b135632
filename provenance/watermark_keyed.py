"""The keyed audio watermark (Clearcue's default backend): numpy only, no Django, no torch.

Design (after audiowmark's documented architecture; see provenance/WATERMARK.md for the measurements):

* Everything runs at an internal rate of 12 kHz (`RATE`): input at any sample rate is downmixed to mono and
  resampled with a chunked FFT resampler, so memory and time stay linear in the input length.
* The audio is cut into 512-sample frames (42.7 ms). The band 516-4383 Hz is split into 55 cells of three FFT bins.
  Every frame position p of a 210-frame period (8.96 s) and every cell c carry one keyed sign: a quarter of the
  cells are *sync* cells with a fixed keyed sign pattern, the rest carry one bit each of the coded payload, XOR-ed
  with a keyed scramble sequence. Embedding scales the magnitudes of a cell by (1 + depth * sign). The depth follows
  a simple masking model (the watermark's energy in a cell follows the spectrum smoothed over +/-2 cells, so valleys
  between partials are modulated more deeply than the partials) and each frame's watermark is scaled to sit
  `TARGET_SNR_DB` below that frame; the same mark goes into every channel.
* The payload (32 bits) and a keyed 24-bit check (HMAC-SHA256 under a key derived from the platform key) are
  protected by a rate-1/3, constraint-length-9 convolutional code (d_free 18) and decoded with a soft-decision
  Viterbi decoder. The period repeats for the whole cue, so any excerpt a little longer than one period (10 s)
  holds every cell, and a longer excerpt averages all the periods it holds.
* Detection downmixes, resamples to RATE, computes log cell energies on a grid of eighth-frame offsets, removes the
  music's own slow variation by subtracting the neighbouring frames (a high-pass along time), weights every cell by
  its local variance, folds the frames modulo the period and finds the period's phase by circular cross-correlation
  with the keyed sync pattern (all 210 phases at all 8 sub-frame offsets, one FFT each). The best few phases are
  decoded; a payload is reported only when the sync score passes `SYNC_THRESHOLD` *and* the decoded check matches.
  Per-segment z-scores of the known signs localise the watermark in time.

False positives: given any audio not derived from the key, the keyed signs are independent of the audio, so each
sync hypothesis' z-score obeys Hoeffding's bound P(z >= t) <= exp(-t^2/2); the check adds 2^-24 per decoded
candidate. See `false_positive_bound`.

Keys: `KeyedWatermarker(keys, active_key_id)`; every key id's secret is expanded with HMAC-SHA256 under named
domain-separation labels (RFC 2104) into SHAKE-256 streams (FIPS 202) that fix the cell layout, the sync and scramble
signs and the check key. Embedding uses the active key; detection tries every key, so rotated keys still resolve.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from provenance.watermark import PAYLOAD_BITS, Audio, Detection, Segment, WatermarkError, check_payload

ALG = "com.clearcue.audio-watermark.keyed.1"

# Domain separation: every keyed stream is HMAC-SHA256(secret, DOMAIN + label), expanded with SHAKE-256.
DOMAIN = b"com.clearcue.audio-watermark.keyed.1/"
LABEL_LAYOUT = b"cell-layout"
LABEL_SYNC = b"sync-signs"
LABEL_SCRAMBLE = b"data-scramble"
LABEL_CHECK = b"check-key"

RATE = 12000  # internal sample rate (Hz); the band stays below 4.5 kHz so 5 kHz low-pass and 16 kHz resampling keep it
FRAME = 512  # samples per frame at RATE (42.7 ms, 23.4 Hz bins)
SUBSTEPS = 8  # sub-frame offsets searched by detection (hop FRAME / SUBSTEPS)
CELL_BINS = 3  # adjacent FFT bins that share one sign
FIRST_BIN = 22  # 515.6 Hz
CELLS = 55  # cells per frame: bins 22..186 (516-4383 Hz)
PERIOD = 210  # frames per period (8.96 s): any excerpt of 10 s holds every (position, cell) at least once
SYNC_FRACTION = 0.25  # share of the cells that carry the sync pattern
CHECK_BITS = 24  # keyed check appended to the payload
CODE_K = 9  # convolutional code: constraint length 9, rate 1/3, generators 557 663 711 (octal), free distance 18
CODE_POLYS = (0o557, 0o663, 0o711)
TARGET_SNR_DB = 31.5  # each frame's watermark sits this far below the frame (so the whole cue is >= 30 dB)
MAX_DEPTH = 0.3  # cap of the magnitude modulation depth of one cell (about +/-2.3 dB)
SPREAD = (0.25, 0.5, 1.0, 0.5, 0.25)  # masking spread over neighbouring cells (-6 dB per 70 Hz)
ONSET_HEADROOM = 2.0  # a frame's depth may use at most twice the previous frame's energy (no pre-echo at attacks)
SYNC_THRESHOLD = 6.0  # minimum sync z-score before a payload is decoded and reported
CANDIDATES = 3  # sync hypotheses decoded per key
MIN_FRAMES = PERIOD // 2  # shorter input cannot carry a payload: detected=False
LOCAL_FRAMES = 10  # detection weights: each cell's variance over +/-10 frames
SEGMENT_FRAMES = 70  # localisation granularity (2.99 s)
SEGMENT_Z = 3.0  # a segment counts as watermarked above this z-score
MIN_RATE, MAX_RATE = 8000, 768000
MIN_KEY_BYTES = 16

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
C128 = npt.NDArray[np.complex128]

INFO_BITS = PAYLOAD_BITS + CHECK_BITS
CODED_BITS = (INFO_BITS + CODE_K - 1) * len(CODE_POLYS)
_BAND = slice(FIRST_BIN, FIRST_BIN + CELLS * CELL_BINS)
_HOP = FRAME // SUBSTEPS


def false_positive_bound(keys: int, threshold: float = SYNC_THRESHOLD) -> float:
    """Upper bound on P(detected) for audio not marked with any of `keys` keys (per clip).

    Each key tests SUBSTEPS * PERIOD sync hypotheses (Hoeffding: exp(-t^2/2) each) and decodes CANDIDATES of them,
    each passing the keyed check with probability 2^-CHECK_BITS; both must happen."""
    hypotheses = SUBSTEPS * PERIOD
    sync = min(1.0, hypotheses * math.exp(-threshold * threshold / 2.0))
    return min(1.0, keys * sync * CANDIDATES * 2.0**-CHECK_BITS)


# --- keyed material -----------------------------------------------------------------------------------------


def _stream(secret: bytes, label: bytes, size: int) -> bytes:
    """`size` pseudo-random bytes for `label` under `secret` (HMAC-SHA256 then SHAKE-256)."""
    seed = hmac.new(secret, DOMAIN + label, hashlib.sha256).digest()
    return hashlib.shake_256(seed).digest(size)


def _signs(secret: bytes, label: bytes, count: int) -> F64:
    """`count` keyed +/-1 values."""
    bits = np.unpackbits(np.frombuffer(_stream(secret, label, (count + 7) // 8), dtype=np.uint8))[:count]
    return 1.0 - 2.0 * bits.astype(np.float64)


@dataclass(frozen=True)
class _Schedule:
    """What one key fixes: where the sync and data cells are and their signs (all shaped (PERIOD, CELLS))."""

    key_id: str
    sync: F64  # +/-1 on sync cells, 0 elsewhere
    sync_spectrum: C128  # rfft of `sync` along the period (for the circular correlation)
    sync_power_spectrum: C128  # rfft of sync**2
    bit: I64  # coded-bit index of each data cell, -1 on sync cells
    scramble: F64  # +/-1 on data cells, 0 on sync cells
    check_key: bytes

    def signs(self, payload: int) -> F64:
        """The +/-1 sign of every cell for `payload`."""
        coded = _encode(_info_bits(payload, self.check_key))
        data = np.where(self.bit >= 0, (1.0 - 2.0 * coded[np.maximum(self.bit, 0)]) * self.scramble, 0.0)
        result: F64 = self.sync + data
        return result


def _schedule(key_id: str, secret: bytes) -> _Schedule:
    """Expand a secret into its cell layout and sign patterns."""
    total = PERIOD * CELLS
    order = np.argsort(np.frombuffer(_stream(secret, LABEL_LAYOUT, 8 * total), dtype="<u8"), kind="stable")
    n_sync = round(SYNC_FRACTION * total)
    bit = np.full(total, -1, dtype=np.int64)
    bit[order[n_sync:]] = np.arange(total - n_sync, dtype=np.int64) % CODED_BITS
    sync = np.zeros(total)
    sync[order[:n_sync]] = _signs(secret, LABEL_SYNC, n_sync)
    scramble = np.where(bit >= 0, _signs(secret, LABEL_SCRAMBLE, total), 0.0)
    sync2 = sync.reshape(PERIOD, CELLS)
    return _Schedule(
        key_id=key_id,
        sync=sync2,
        sync_spectrum=np.fft.rfft(sync2, axis=0),
        sync_power_spectrum=np.fft.rfft(sync2 * sync2, axis=0),
        bit=bit.reshape(PERIOD, CELLS),
        scramble=scramble.reshape(PERIOD, CELLS),
        check_key=hmac.new(secret, DOMAIN + LABEL_CHECK, hashlib.sha256).digest(),
    )


def _check_bits(payload: int, check_key: bytes) -> int:
    """The keyed check of a payload: the first CHECK_BITS bits of HMAC-SHA256(check key, payload)."""
    digest = hmac.new(check_key, payload.to_bytes(PAYLOAD_BITS // 8, "big"), hashlib.sha256).digest()
    return int.from_bytes(digest[:4], "big") >> (32 - CHECK_BITS)


def _info_bits(payload: int, check_key: bytes) -> I64:
    """Payload then check, most significant bit first."""
    word = (payload << CHECK_BITS) | _check_bits(payload, check_key)
    return np.array([(word >> (INFO_BITS - 1 - i)) & 1 for i in range(INFO_BITS)], dtype=np.int64)


# --- convolutional code -------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _trellis() -> tuple[F64, I64, I64, I64, I64]:
    """Output symbols (+/-1) of every register value and, per next state, its two predecessors and registers."""
    registers = np.arange(1 << CODE_K)
    symbols = np.stack([1.0 - 2.0 * _parity(registers & poly) for poly in CODE_POLYS], axis=1)
    states = np.arange(1 << (CODE_K - 1))
    newest = states >> (CODE_K - 2)
    pred0 = (states << 1) & ((1 << (CODE_K - 1)) - 1)
    pred1 = pred0 | 1
    reg0 = (newest << (CODE_K - 1)) | pred0
    reg1 = (newest << (CODE_K - 1)) | pred1
    return symbols, pred0, pred1, reg0, reg1


def _parity(values: I64) -> F64:
    """Parity of each integer's bits."""
    bits = np.unpackbits(values.astype(">u4").view(np.uint8).reshape(-1, 4), axis=1)
    result: F64 = (bits.sum(axis=1) & 1).astype(np.float64)
    return result


def _encode(info: I64) -> I64:
    """Coded bits (0/1) of `info` followed by CODE_K - 1 zero tail bits, CODE_POLYS outputs per step."""
    symbols = _trellis()[0]
    state = 0
    out = np.empty((info.size + CODE_K - 1, len(CODE_POLYS)), dtype=np.int64)
    for t, bit in enumerate([*info.tolist(), *([0] * (CODE_K - 1))]):
        register = (bit << (CODE_K - 1)) | state
        out[t] = (symbols[register] < 0).astype(np.int64)
        state = register >> 1
    return out.reshape(-1)


def _viterbi(soft: F64) -> I64:
    """Maximum-likelihood info bits for soft values (positive = bit 0), terminated trellis."""
    symbols, pred0, pred1, reg0, reg1 = _trellis()
    steps = soft.size // len(CODE_POLYS)
    y = soft.reshape(steps, len(CODE_POLYS))
    n_states = 1 << (CODE_K - 1)
    metric = np.full(n_states, -np.inf)
    metric[0] = 0.0
    choices = np.zeros((steps, n_states), dtype=np.bool_)
    tail_forbidden = (np.arange(n_states) >> (CODE_K - 2)) == 1
    for t in range(steps):
        branch = symbols @ y[t]
        a = metric[pred0] + branch[reg0]
        b = metric[pred1] + branch[reg1]
        take = b > a
        metric = np.where(take, b, a)
        if t >= steps - (CODE_K - 1):
            metric[tail_forbidden] = -np.inf
        choices[t] = take
    state = 0
    bits = np.zeros(steps, dtype=np.int64)
    for t in range(steps - 1, -1, -1):
        bits[t] = state >> (CODE_K - 2)
        state = ((state << 1) & (n_states - 1)) | int(choices[t, state])
    return bits[: steps - (CODE_K - 1)]


# --- resampling ---------------------------------------------------------------------------------------------


def _resample(signal: F64, rate_in: int, rate_out: int) -> F64:
    """`signal` at `rate_out`, by FFT resampling of overlapping chunks (linear time and bounded memory).

    The spectrum is cut with a raised-cosine edge over the top 15% of the lower Nyquist band, which keeps the
    implied interpolation kernel short so 20-ms chunk margins absorb the circular wrap-around."""
    if rate_in == rate_out:
        return signal.copy()
    g = math.gcd(rate_in, rate_out)
    up, down = rate_out // g, rate_in // g  # out/in = up/down; chunk lengths are multiples of `down`
    n_in = signal.size
    n_out = (n_in * up + down - 1) // down
    margin_units = max(1, math.ceil(0.02 * rate_in / down))
    blocks = 1 << max(2 * margin_units + 1, 65536 // down).bit_length()  # a power of two: fast FFT sizes
    core = (blocks - 2 * margin_units) * down
    margin = margin_units * down
    length = core + 2 * margin
    length_out = length * up // down
    bins_in, bins_out = length // 2 + 1, length_out // 2 + 1
    keep = min(bins_in, bins_out)
    nyquist_bin = min(length, length_out) / 2.0
    edge = np.clip((np.arange(keep) - 0.85 * nyquist_bin) / (0.15 * nyquist_bin), 0.0, 1.0)
    taper = 0.5 + 0.5 * np.cos(np.pi * edge)
    taper *= length_out / length
    out = np.empty(n_out)
    padded = np.concatenate([np.zeros(margin), signal, np.zeros(core + margin)])
    start_out = margin * up // down
    core_out = core * up // down
    for k, start in enumerate(range(0, n_in, core)):
        spectrum = np.fft.rfft(padded[start : start + length])
        target = np.zeros(bins_out, dtype=np.complex128)
        target[:keep] = spectrum[:keep] * taper
        chunk = np.fft.irfft(target, length_out)
        first = k * core_out
        take = min(core_out, n_out - first)
        if take > 0:
            out[first : first + take] = chunk[start_out : start_out + take]
    return out


# --- analysis -----------------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _window() -> F64:
    """Periodic Hann window of one frame."""
    result: F64 = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(FRAME) / FRAME)
    return result


def _synthesize(low: F64, signs: F64) -> F64:
    """The watermark signal (at RATE) for `low` (the mono cue at RATE) and cell signs (PERIOD, CELLS).

    Each frame's spectrum is scaled cell by cell by (1 + depth * sign). The depth of a cell follows a simple masking
    model: the watermark's energy in a cell is proportional to the cell's neighbourhood (the spectrum smoothed over
    +/-2 cells), so spectral valleys between partials are modulated more deeply than the partials themselves; the
    frame's total watermark energy is then scaled to TARGET_SNR_DB below the frame (capped at MAX_DEPTH)."""
    count = -(-low.size // FRAME)
    frames = np.zeros(count * FRAME)
    frames[: low.size] = low
    frames2 = frames.reshape(count, FRAME)
    spectrum = np.fft.rfft(frames2 * _window(), axis=1)[:, _BAND]
    power = (spectrum.real**2 + spectrum.imag**2).reshape(count, CELLS, CELL_BINS).sum(axis=2) + 1e-30
    padded = np.pad(power, ((0, 0), (len(SPREAD) // 2, len(SPREAD) // 2)), mode="edge")
    masking = sum(weight * padded[:, i : i + CELLS] for i, weight in enumerate(SPREAD)) / sum(SPREAD)
    shape = np.sqrt(masking / power)  # depth per unit of frame gain
    energy = np.einsum("ij,ij->i", frames2, frames2)
    allowed = energy.copy()
    allowed[1:] = np.minimum(energy[1:], ONSET_HEADROOM * energy[:-1])
    target = 10.0 ** (-TARGET_SNR_DB / 10.0) * allowed * FRAME / 2.0  # in units of sum(depth^2 * power)
    # The frame gain solves sum(min(gain * shape, MAX_DEPTH)^2 * power) = target: bisection in log space.
    low_gain = np.full(count, 1e-6)
    high_gain = np.full(count, 1e3)
    for _ in range(40):
        gain = np.sqrt(low_gain * high_gain)
        depth = np.minimum(gain[:, None] * shape, MAX_DEPTH)
        over = np.einsum("ij,ij->i", depth * depth, power) > target
        high_gain = np.where(over, gain, high_gain)
        low_gain = np.where(over, low_gain, gain)
    depth = np.minimum(low_gain[:, None] * shape, MAX_DEPTH)
    depth[target <= 0] = 0.0
    gains = np.repeat(signs[np.arange(count) % PERIOD] * depth, CELL_BINS, axis=1)
    full = np.zeros((count, FRAME // 2 + 1), dtype=np.complex128)
    full[:, _BAND] = spectrum * gains
    mark: F64 = np.fft.irfft(full, FRAME, axis=1).reshape(-1)[: low.size]
    return mark


def _log_cells(low: F64) -> F64:
    """Log energy of every cell on the quarter-frame grid: shape (frames, CELLS)."""
    count = (low.size - FRAME) // _HOP + 1
    if count <= 0:
        return np.zeros((0, CELLS))
    view = np.lib.stride_tricks.sliding_window_view(low, FRAME)[::_HOP][:count]
    out = np.empty((count, CELLS))
    window = _window()
    block = 4096
    for first in range(0, count, block):
        spectrum = np.fft.rfft(view[first : first + block] * window, axis=1)[:, _BAND]
        power = spectrum.real**2 + spectrum.imag**2
        out[first : first + block] = power.reshape(-1, CELLS, CELL_BINS).sum(axis=2)
    floor = 1e-9 * float(out.mean()) + 1e-30
    result: F64 = np.log(out + floor)
    return result


def _whiten(cells: F64) -> F64:
    """Weighted, whitened cell values on the sub-frame grid.

    Each frame minus the mean of the frames one frame either side removes the music's slow variation; outliers
    (attacks) are clipped at three robust standard deviations; each value is then divided by its cell's local
    variance (+/-10 frames), so steady passages count more than busy ones. The weights depend on the audio only,
    never on the key, which keeps the sync statistic's null distribution (see `false_positive_bound`) intact."""
    out = np.zeros_like(cells)
    gap = SUBSTEPS
    if cells.shape[0] <= 2 * gap:
        return out
    out[gap:-gap] = cells[gap:-gap] - 0.5 * (cells[: -2 * gap] + cells[2 * gap :])
    spread = float(np.median(np.abs(out[gap:-gap]))) * 1.4826
    if spread <= 0:
        return out
    np.clip(out, -3.0 * spread, 3.0 * spread, out=out)
    reach = LOCAL_FRAMES * SUBSTEPS
    squares = np.cumsum(np.pad(out * out, ((reach + 1, reach), (0, 0)), mode="edge"), axis=0)
    local = (squares[2 * reach + 1 :] - squares[: -2 * reach - 1]) / (2 * reach + 1)
    weighted: F64 = out / (local + 1e-3 * spread * spread)
    return weighted


@dataclass(frozen=True)
class _Folded:
    """Whitened cell energies of one sub-frame offset, folded modulo the period."""

    offset: int  # sub-frame offset index (0..SUBSTEPS-1)
    frames: F64  # (n, CELLS) whitened values, frame i starts at offset * _HOP + i * FRAME
    folded: F64  # (PERIOD, CELLS) sums over frames with the same i mod PERIOD
    spectrum: C128  # rfft of folded along the period
    power_spectrum: C128  # rfft of folded**2


def _fold(offset: int, frames: F64) -> _Folded:
    """Fold one offset's frames modulo the period."""
    n = frames.shape[0]
    periods = -(-n // PERIOD)
    padded = np.zeros((periods * PERIOD, CELLS))
    padded[:n] = frames
    folded = padded.reshape(periods, PERIOD, CELLS).sum(axis=0)
    return _Folded(offset, frames, folded, np.fft.rfft(folded, axis=0), np.fft.rfft(folded * folded, axis=0))


def _sync_scores(folded: _Folded, schedule: _Schedule) -> F64:
    """z-score of the sync pattern at every phase (embed position of detected frame i is (i + phase) % PERIOD)."""
    score = np.fft.irfft((np.conj(folded.spectrum) * schedule.sync_spectrum).sum(axis=1), PERIOD)
    variance = np.fft.irfft((np.conj(folded.power_spectrum) * schedule.sync_power_spectrum).sum(axis=1), PERIOD)
    result: F64 = score / np.sqrt(np.maximum(variance, 1e-30))
    return result


@dataclass(frozen=True)
class _Decoded:
    """One decoded candidate."""

    payload: int
    valid: bool
    bit_errors: int
    soft: F64


def _decode(folded: _Folded, phase: int, schedule: _Schedule) -> _Decoded:
    """Decode the payload at one sync hypothesis."""
    aligned = np.roll(folded.folded, phase, axis=0)  # indexed by embed position
    data = schedule.bit >= 0
    weights = aligned[data] * schedule.scramble[data]
    index = schedule.bit[data]
    soft = np.bincount(index, weights=weights, minlength=CODED_BITS)
    spread = np.sqrt(np.bincount(index, weights=aligned[data] ** 2, minlength=CODED_BITS))
    z = soft / np.maximum(spread, 1e-30)
    info = _viterbi(z)
    word = 0
    for bit in info.tolist():
        word = (word << 1) | int(bit)
    payload, check = word >> CHECK_BITS, word & ((1 << CHECK_BITS) - 1)
    valid = check == _check_bits(payload, schedule.check_key)
    coded = _encode(info)
    errors = int(np.sum((z < 0) != (coded == 1)))
    return _Decoded(payload, valid, errors, z)


# --- the backend --------------------------------------------------------------------------------------------


def _check_rate(sample_rate: int) -> int:
    """`sample_rate` if usable; raises `bad_audio` otherwise."""
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int | np.integer):
        raise WatermarkError("bad_audio", "sample_rate must be an integer number of Hz.")
    rate = int(sample_rate)
    if not MIN_RATE <= rate <= MAX_RATE:
        raise WatermarkError("bad_audio", f"sample_rate must be within {MIN_RATE}..{MAX_RATE} Hz, not {rate}.")
    return rate


def _mono(audio: Audio) -> F64:
    """The float64 mono downmix of `audio`, validated like `as_frames` without copying every channel."""
    array = np.asarray(audio)
    if array.ndim not in (1, 2) or array.size == 0 or not np.issubdtype(array.dtype, np.floating):
        raise WatermarkError("bad_audio",
                             "audio must be a non-empty float array shaped (frames,) or (frames, channels).")
    if array.ndim == 1:
        mono = array.astype(np.float64)
    else:
        mono = array[:, 0].astype(np.float64)
        for channel in range(1, array.shape[1]):
            mono += array[:, channel]
        mono /= array.shape[1]
    if not np.all(np.isfinite(mono)):
        raise WatermarkError("bad_audio", "audio contains NaN or infinite samples.")
    return mono


class KeyedWatermarker:
    """The keyed watermark backend: embeds with the active key, detects with every configured key."""

    alg = ALG
    payload_bits = PAYLOAD_BITS

    def __init__(self, keys: Mapping[str, bytes], active_key_id: str) -> None:
        if not keys:
            raise WatermarkError("bad_key", "at least one watermark key is required.")
        for key_id, secret in keys.items():
            if not isinstance(key_id, str) or not key_id:
                raise WatermarkError("bad_key", "watermark key ids must be non-empty strings.")
            if not isinstance(secret, bytes) or len(secret) < MIN_KEY_BYTES:
                raise WatermarkError("bad_key", f"watermark key {key_id!r} must be at least {MIN_KEY_BYTES} bytes.")
        if active_key_id not in keys:
            raise WatermarkError("bad_key", f"active watermark key {active_key_id!r} is not configured.")
        self.active_key_id = active_key_id
        self._schedules = {key_id: _schedule(key_id, secret) for key_id, secret in keys.items()}

    @property
    def key_ids(self) -> tuple[str, ...]:
        """The configured key ids (detection tries each)."""
        return tuple(self._schedules)

    def embed(self, audio: Audio, sample_rate: int, payload: int) -> Audio:
        """`audio` with `payload` embedded under the active key; same shape and dtype."""
        payload = check_payload(payload)
        rate = _check_rate(sample_rate)
        original = np.asarray(audio)
        low = _resample(_mono(original), rate, RATE)
        mark_low = _synthesize(low, self._schedules[self.active_key_id].signs(payload))
        mark = np.zeros(original.shape[0])
        upsampled = _resample(mark_low, RATE, rate)[: original.shape[0]]
        mark[: upsampled.size] = upsampled
        # The same mark goes into every channel; detection reads the downmix. Output keeps the input's dtype, and
        # samples are kept within [-1, 1] (or within the input's own range if it already exceeded that).
        lowest, highest = min(-1.0, float(original.min())), max(1.0, float(original.max()))
        shaped = mark.astype(original.dtype)
        out = original + (shaped if original.ndim == 1 else shaped[:, None])
        np.clip(out, lowest, highest, out=out)
        marked: Audio = out
        return marked

    def detect(self, audio: Audio, sample_rate: int) -> Detection:
        """Look for the watermark anywhere in `audio` under every configured key."""
        rate = _check_rate(sample_rate)
        mono = _mono(audio)
        duration = mono.size / rate
        low = _resample(mono, rate, RATE)
        cells = _log_cells(low)
        if cells.shape[0] < MIN_FRAMES * SUBSTEPS:
            return Detection(self.alg, False, None, 0.0, (), None, {"score": 0.0, "seconds": duration})
        whitened = _whiten(cells)
        offsets = [_fold(s, whitened[s::SUBSTEPS]) for s in range(SUBSTEPS)]
        best: tuple[float, _Schedule, _Folded, int] | None = None
        found: tuple[float, _Schedule, _Folded, int, _Decoded] | None = None
        for schedule in self._schedules.values():
            z = np.stack([_sync_scores(folded, schedule) for folded in offsets])  # (SUBSTEPS, PERIOD)
            order = np.argsort(z, axis=None)[::-1][:CANDIDATES]
            top = float(z.flat[order[0]])
            if best is None or top > best[0]:
                best = (top, schedule, offsets[int(order[0]) // PERIOD], int(order[0]) % PERIOD)
            for flat in order.tolist():
                score = float(z.flat[flat])
                if score < SYNC_THRESHOLD:
                    break
                folded = offsets[flat // PERIOD]
                decoded = _decode(folded, flat % PERIOD, schedule)
                if decoded.valid:
                    found = (score, schedule, folded, flat % PERIOD, decoded)
                    break
            if found is not None:
                break
        assert best is not None
        if found is None:
            score, schedule, folded, phase = best
            decoded = _decode(folded, phase, schedule)
            segments = self._segments(folded, phase, schedule, None, duration)
            # The best candidate's payload bits are a diagnostic only (bit accuracy in benchmarks): its check
            # failed, so it identifies nothing.
            details = {"score": score, "bit_errors": float(decoded.bit_errors), "seconds": duration,
                       "unverified_payload": float(decoded.payload)}
            return Detection(self.alg, False, None, _presence(score, SYNC_THRESHOLD - 1.0), segments, None, details)
        score, schedule, folded, phase, decoded = found
        signs = schedule.signs(decoded.payload)
        segments = self._segments(folded, phase, schedule, signs, duration)
        details = {
            "score": score,
            "bit_errors": float(decoded.bit_errors),
            "coded_bits": float(CODED_BITS),
            "period_start_seconds": (folded.offset * _HOP + ((-phase) % PERIOD) * FRAME) / RATE,
            "seconds": duration,
        }
        # Both the sync score and the keyed check passed: the confidence is one minus the chance of that on
        # unmarked audio (the same bound as `false_positive_bound`, at this score).
        confidence = 1.0 - false_positive_bound(len(self._schedules), score)
        return Detection(self.alg, True, decoded.payload, confidence, segments, schedule.key_id, details)

    def _segments(self, folded: _Folded, phase: int, schedule: _Schedule, signs: F64 | None,
                  duration: float) -> tuple[Segment, ...]:
        """Per-segment presence: z-score of the known signs (sync only, or every cell once decoded)."""
        expected = schedule.sync if signs is None else signs
        frames = folded.frames
        n = frames.shape[0]
        positions = (np.arange(n) + phase) % PERIOD
        per_frame = np.einsum("ij,ij->i", frames, expected[positions])
        power = np.einsum("ij,ij->i", frames * frames, expected[positions] ** 2)
        segments = []
        for first in range(0, n, SEGMENT_FRAMES):
            last = min(n, first + SEGMENT_FRAMES)
            variance = float(power[first:last].sum())
            z = float(per_frame[first:last].sum()) / math.sqrt(variance) if variance > 0 else 0.0
            start = (folded.offset * _HOP + first * FRAME) / RATE
            end = min(duration, (folded.offset * _HOP + last * FRAME) / RATE)
            segments.append(Segment(start, end, signs is not None and z >= SEGMENT_Z, _presence(z, SEGMENT_Z)))
        return tuple(segments)


def _presence(z: float, midpoint: float) -> float:
    """A 0..1 presence confidence from a z-score: logistic, 0.5 at `midpoint`, 0.12 / 0.88 one unit either side."""
    return 1.0 / (1.0 + math.exp(-2.0 * max(-300.0, min(300.0, z - midpoint))))
