"""The keyed watermark: round trip, excerpts, rates, keys and rotation, false positives, errors, localisation.

Pure tests (no database) on music rendered by the built-in synthesizer. Robustness to codecs, noise and mixing at
scale, and speed, are measured by `scripts/bench_watermark.py` (see provenance/WATERMARK.md); here one MP3 round trip
runs when ffmpeg is installed (Debian ffmpeg, which make test installs).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess

import numpy as np
import pytest

from generation.engines.score import TimedNote
from generation.engines.synth import render
from provenance import watermark_keyed as wk
from provenance.watermark import Watermarker, WatermarkError
from provenance.watermark_keyed import ALG, SYNC_THRESHOLD, KeyedWatermarker, false_positive_bound

SR = 48000
OLD_KEY = b"an old platform watermark key, 32B"
NEW_KEY = b"the new platform watermark key 32B"
PAYLOAD = 0xC1EA2C0E

CHORDS = ((50, 57, 62, 65), (46, 53, 58, 62), (53, 57, 60, 65), (48, 55, 60, 64))


def music(seconds: float, seed: int = 0) -> np.ndarray:
    """A cue-like passage: string chords, a cello line, harp arpeggios and a violin melody (48 kHz stereo)."""
    rng = np.random.default_rng(seed)
    notes = []
    bar = 2.5
    for b in range(int(seconds / bar) + 1):
        t0 = b * bar
        chord = CHORDS[(b + seed) % len(CHORDS)]
        notes += [TimedNote("strings", p, t0, bar, 70) for p in chord]
        notes.append(TimedNote("cellos", chord[0] - 12, t0, bar, 80))
        notes += [TimedNote("harp", chord[i % 4] + 12, t0 + i * bar / 8, bar / 8, 60) for i in range(8)]
        notes += [TimedNote("violins", int(rng.choice(chord)) + 12, t0 + i * bar / 4, bar / 4, 85) for i in range(4)]
    return render(notes, sample_rate=SR, duration=seconds, seed=seed)


def naive_resample(signal: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Reference resampler (whole-signal FFT): independent of the backend's chunked one."""
    n_out = round(signal.shape[0] * rate_out / rate_in)
    spectrum = np.fft.rfft(signal, axis=0)
    keep = min(spectrum.shape[0], n_out // 2 + 1)
    target = np.zeros((n_out // 2 + 1, *signal.shape[1:]), dtype=complex)
    target[:keep] = spectrum[:keep]
    return (np.fft.irfft(target, n_out, axis=0) * n_out / signal.shape[0]).astype(np.float32)


@pytest.fixture(scope="module")
def cue() -> np.ndarray:
    """25 s of unmarked music."""
    return music(25.0)


@pytest.fixture(scope="module")
def marker() -> KeyedWatermarker:
    """The platform's backend after a key rotation: the new key embeds, both keys detect."""
    return KeyedWatermarker({"2025-01": OLD_KEY, "2026-01": NEW_KEY}, "2026-01")


@pytest.fixture(scope="module")
def marked(cue: np.ndarray, marker: KeyedWatermarker) -> np.ndarray:
    """The cue carrying PAYLOAD under the new key."""
    return marker.embed(cue, SR, PAYLOAD)


def snr_db(reference: np.ndarray, other: np.ndarray) -> float:
    ref = reference.astype(np.float64)
    return float(10 * np.log10(np.sum(ref**2) / np.sum((other.astype(np.float64) - ref) ** 2)))


def test_the_backend_implements_the_watermarker_protocol(marker: KeyedWatermarker) -> None:
    assert isinstance(marker, Watermarker)
    assert marker.alg == ALG == "com.clearcue.audio-watermark.keyed.1"
    assert marker.payload_bits == 32
    assert marker.key_ids == ("2025-01", "2026-01")


def test_a_marked_cue_yields_its_payload_and_the_embedding_key(marked: np.ndarray,
                                                               marker: KeyedWatermarker) -> None:
    found = marker.detect(marked, SR)
    assert found.detected and found.payload == PAYLOAD
    assert found.key_id == "2026-01"
    assert found.alg == ALG
    assert found.confidence > 0.999
    assert found.details["score"] >= SYNC_THRESHOLD
    assert found.details["bit_errors"] < 30  # of 192 coded bits, before error correction


def test_embedding_keeps_shape_and_dtype_and_is_deterministic(cue: np.ndarray, marker: KeyedWatermarker,
                                                              marked: np.ndarray) -> None:
    assert marked.shape == cue.shape and marked.dtype == np.float32
    assert np.array_equal(marker.embed(cue, SR, PAYLOAD), marked)
    mono = cue[: 12 * SR, 0].astype(np.float64)
    mono_marked = marker.embed(mono, SR, PAYLOAD)
    assert mono_marked.shape == mono.shape and mono_marked.dtype == np.float64
    assert np.array_equal(mono_marked, marker.embed(mono, SR, PAYLOAD))
    assert not np.array_equal(marker.embed(cue, SR, PAYLOAD ^ 1), marked)


def test_stereo_gets_the_same_mark_in_every_channel(cue: np.ndarray, marked: np.ndarray) -> None:
    delta = marked.astype(np.float64) - cue
    assert np.allclose(delta[:, 0], delta[:, 1], atol=1e-6)


def test_the_watermark_stays_30_db_below_the_music(cue: np.ndarray, marked: np.ndarray) -> None:
    assert snr_db(cue, marked) >= 30.0


def test_the_watermark_stays_below_4_5_khz(cue: np.ndarray, marked: np.ndarray) -> None:
    spectrum = np.abs(np.fft.rfft(marked[:, 0].astype(np.float64) - cue[:, 0])) ** 2
    freqs = np.fft.rfftfreq(cue.shape[0], 1 / SR)
    assert spectrum[freqs > 4600].sum() < 1e-4 * spectrum.sum()


@pytest.mark.parametrize("start", [0.0, 3.3337, 11.9])
def test_any_ten_second_excerpt_decodes(marked: np.ndarray, marker: KeyedWatermarker, start: float) -> None:
    first = int(start * SR) + 7  # never on a frame boundary
    found = marker.detect(marked[first : first + 10 * SR], SR)
    assert found.detected and found.payload == PAYLOAD


@pytest.mark.parametrize("rate", [16000, 44100, 32000])
def test_detection_reads_audio_resampled_to_another_rate(marked: np.ndarray, marker: KeyedWatermarker,
                                                         rate: int) -> None:
    found = marker.detect(naive_resample(marked, SR, rate), rate)
    assert found.detected and found.payload == PAYLOAD


def test_embedding_at_44_1_khz_detects_after_resampling_to_48_khz(cue: np.ndarray, marker: KeyedWatermarker) -> None:
    cd = naive_resample(cue[: 15 * SR], SR, 44100)
    marked = marker.embed(cd, 44100, 12345)
    found = marker.detect(naive_resample(marked, 44100, SR), SR)
    assert found.detected and found.payload == 12345


def test_gain_noise_and_a_mono_downmix_keep_the_payload(marked: np.ndarray, marker: KeyedWatermarker) -> None:
    rng = np.random.default_rng(5)
    noisy = marked * 0.5 + rng.standard_normal(marked.shape).astype(np.float32) * np.sqrt(np.mean(marked**2)) * 0.05
    for attacked in (noisy, marked.mean(axis=1)):
        found = marker.detect(attacked, SR)
        assert found.detected and found.payload == PAYLOAD


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed (make test installs it)")
def test_an_mp3_at_64_kbps_keeps_the_payload(marked: np.ndarray, marker: KeyedWatermarker) -> None:
    ffmpeg = shutil.which("ffmpeg") or "ffmpeg"
    raw = np.ascontiguousarray(marked, dtype="<f4").tobytes()
    encode = [ffmpeg, "-v", "error", "-f", "f32le", "-ar", str(SR), "-ac", "2", "-i", "pipe:0", "-c:a", "libmp3lame",
              "-b:a", "64k", "-f", "mp3", "pipe:1"]
    mp3 = subprocess.run(encode, input=raw, capture_output=True, check=True).stdout
    decode = [ffmpeg, "-v", "error", "-i", "pipe:0", "-f", "f32le", "-ac", "2", "pipe:1"]
    pcm = subprocess.run(decode, input=mp3, capture_output=True, check=True).stdout
    found = marker.detect(np.frombuffer(pcm, dtype="<f4").reshape(-1, 2), SR)
    assert found.detected and found.payload == PAYLOAD


def test_outputs_of_a_rotated_key_still_resolve_to_that_key(cue: np.ndarray) -> None:
    before = KeyedWatermarker({"2025-01": OLD_KEY}, "2025-01")
    old_output = before.embed(cue[: 12 * SR], SR, 99)
    after = KeyedWatermarker({"2025-01": OLD_KEY, "2026-01": NEW_KEY}, "2026-01")
    found = after.detect(old_output, SR)
    assert found.detected and found.payload == 99 and found.key_id == "2025-01"


def test_a_mark_made_with_another_key_is_not_detected(marked: np.ndarray) -> None:
    stranger = KeyedWatermarker({"other": b"somebody else's watermark key!!!"}, "other")
    found = stranger.detect(marked, SR)
    assert not found.detected and found.payload is None and found.key_id is None
    assert found.details["score"] < SYNC_THRESHOLD


def test_unmarked_audio_is_not_detected(cue: np.ndarray, marker: KeyedWatermarker) -> None:
    rng = np.random.default_rng(11)
    t = np.arange(15 * SR) / SR
    for audio in (cue, music(15.0, seed=3), rng.standard_normal((15 * SR, 2)).astype(np.float32) * 0.1,
                  (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), np.zeros(15 * SR, np.float32)):
        found = marker.detect(audio, SR)
        assert not found.detected and found.payload is None
        assert found.details["score"] < SYNC_THRESHOLD
        assert found.confidence < 0.5
        assert not any(segment.detected for segment in found.segments)


def test_the_false_positive_bound_meets_the_budget() -> None:
    # Per key: 8 sub-frame offsets x 210 phases tested (Hoeffding), 3 decoded, each passing 2^-24.
    assert false_positive_bound(1) == pytest.approx(8 * 210 * np.exp(-SYNC_THRESHOLD**2 / 2) * 3 * 2.0**-24)
    assert false_positive_bound(10) <= 1e-4
    assert false_positive_bound(10, threshold=0.0) <= 1e-4  # the check alone keeps ten keys within budget


def test_audio_too_short_for_a_payload_is_not_detected(marked: np.ndarray, marker: KeyedWatermarker) -> None:
    for seconds in (0.001, 0.5, 3.0):
        found = marker.detect(marked[: int(seconds * SR)], SR)
        assert not found.detected and found.payload is None and found.segments == ()


def test_segments_localise_the_marked_stretch(cue: np.ndarray, marker: KeyedWatermarker) -> None:
    other = music(30.0, seed=7)
    marked = marker.embed(cue[: 20 * SR], SR, 4242)
    spliced = np.concatenate([other[: 15 * SR], marked, other[15 * SR :]])
    found = marker.detect(spliced, SR)
    assert found.detected and found.payload == 4242
    ((start, end),) = found.seconds()
    assert 12.0 <= start <= 18.0 and 32.0 <= end <= 38.0
    assert all(0 <= s.confidence <= 1 and s.start < s.end <= 50.0 for s in found.segments)


@pytest.mark.parametrize(
    ("audio", "rate"),
    [
        (np.zeros((0, 2), np.float32), SR),
        (np.zeros((SR, 2, 1), np.float32), SR),
        (np.zeros(SR, np.int16), SR),
        (np.array([0.0, np.nan] * SR, np.float32), SR),
        (np.array([0.0, np.inf] * SR), SR),
        (np.zeros(SR, np.float32), 4000),
        (np.zeros(SR, np.float32), 48000.0),
        (np.zeros(SR, np.float32), True),
    ],
    ids=["empty", "three-dimensional", "integer-samples", "nan", "infinite", "rate-too-low", "float-rate",
         "bool-rate"],
)
def test_bad_audio_is_rejected_with_a_stable_code(marker: KeyedWatermarker, audio: np.ndarray, rate: int) -> None:
    for call in (lambda: marker.detect(audio, rate), lambda: marker.embed(audio, rate, 1)):
        with pytest.raises(WatermarkError) as error:
            call()
        assert error.value.code == "bad_audio"


@pytest.mark.parametrize("payload", [-1, 2**32, True, 1.5])
def test_payloads_outside_32_bits_are_rejected(marker: KeyedWatermarker, payload: object) -> None:
    with pytest.raises(WatermarkError) as error:
        marker.embed(np.zeros(SR, np.float32), SR, payload)  # type: ignore[arg-type]
    assert error.value.code == "payload_out_of_range"


@pytest.mark.parametrize(
    ("keys", "active"),
    [({}, "a"), ({"a": b"short"}, "a"), ({"a": b"k" * 32}, "b"), ({"": b"k" * 32}, ""), ({"a": "k" * 32}, "a")],
    ids=["no-keys", "short-secret", "unknown-active", "empty-id", "text-secret"],
)
def test_bad_key_configuration_is_rejected(keys: dict[str, bytes], active: str) -> None:
    with pytest.raises(WatermarkError) as error:
        KeyedWatermarker(keys, active)
    assert error.value.code == "bad_key"


def test_the_key_schedule_is_pinned() -> None:
    # Old outputs must stay decodable: the layout, signs and check derived from a key may never change.
    schedule = wk._schedule("pinned", b"0123456789abcdef0123456789abcdef")
    digest = hashlib.sha256()
    for array in (schedule.sync.astype("<i1"), schedule.bit.astype("<i2"), schedule.scramble.astype("<i1")):
        digest.update(array.tobytes())
    digest.update(schedule.check_key)
    assert (int((schedule.sync != 0).sum()), int((schedule.bit >= 0).sum())) == (2888, 8662)
    assert np.bincount(schedule.bit[schedule.bit >= 0]).min() >= 8662 // 192
    assert digest.hexdigest() == PINNED_SCHEDULE
    assert wk._check_bits(PAYLOAD, schedule.check_key) == PINNED_CHECK


def test_different_keys_give_unrelated_schedules() -> None:
    one = wk._schedule("one", b"1" * 32)
    two = wk._schedule("two", b"2" * 32)
    both = (one.sync != 0) & (two.sync != 0)
    agree = float(np.mean(one.sync[both] == two.sync[both]))
    assert 0.4 < agree < 0.6
    assert one.check_key != two.check_key


def naive_encode(bits: list[int]) -> list[int]:
    """Reference rate-1/3, K=9 convolutional encoder (generators 557, 663, 711 octal), newest bit in the MSB."""
    register, out = 0, []
    for bit in [*bits, *([0] * 8)]:
        register = (register >> 1) | (bit << 8)
        out += [bin(register & poly).count("1") % 2 for poly in (0o557, 0o663, 0o711)]
    return out


def test_the_convolutional_code_matches_a_naive_encoder_and_corrects_errors() -> None:
    rng = np.random.default_rng(3)
    for _ in range(5):
        info = rng.integers(0, 2, wk.INFO_BITS)
        coded = wk._encode(info)
        assert coded.tolist() == naive_encode(info.tolist())
        soft = (1.0 - 2.0 * coded) + rng.normal(0, 0.6, coded.size)  # about 5% hard errors
        flips = rng.choice(coded.size, 8, replace=False)  # plus 8 confidently wrong bits
        soft[flips] = -2.0 * (1.0 - 2.0 * coded[flips])
        assert np.array_equal(wk._viterbi(soft), info)


def test_the_resampler_is_accurate_in_the_watermark_band() -> None:
    def error(signal: np.ndarray, rate: int) -> float:
        inner = slice(rate // 50, -rate // 50)  # the tone starts and stops abruptly: skip 20 ms at either end
        expected = np.sin(2 * np.pi * 1234.5 * np.arange(signal.size) / rate)
        return float(np.max(np.abs(signal - expected)[inner]))

    tone = np.sin(2 * np.pi * 1234.5 * np.arange(3 * SR) / SR)
    low = wk._resample(tone, SR, 12000)
    assert low.size == 3 * 12000 and error(low, 12000) < 1e-4
    up = wk._resample(low, 12000, 44100)
    assert up.size == 3 * 44100 and error(up, 44100) < 1e-4
    odd = wk._resample(tone, SR, 22051)  # a rate with no common factor: chunks of 48000 input samples
    assert odd.size == -(-3 * SR * 22051 // SR) and error(odd, 22051) < 1e-4


PINNED_SCHEDULE = "7d06a83589f24f3effc0f0c15de6d5bd6d213d4e773410ecd8e7bfd622664c26"
PINNED_CHECK = 16470234
