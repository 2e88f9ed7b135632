"""provenance.watermark_audioseal: plumbing only. The published weights cannot be downloaded here, so these tests
use random weights built from the package's cards (which embed noise and detect nothing) and small fake
models whose outputs are known, to check shapes, payload packing, resampling, localisation and the pinned,
weights_only checkpoint loading. Nothing here shows that AudioSeal survives any edit."""

from __future__ import annotations

import os

os.environ.setdefault("NO_TORCH_COMPILE", "1")  # before audioseal is imported: no torch.compile recompiles

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from provenance.watermark import Detection, Watermarker, WatermarkError
from provenance.watermark_audioseal import (
    ALG,
    DETECTOR_CARD,
    GENERATOR_CARD,
    NBITS,
    UNTRAINED_ALG,
    AudioSealWatermarker,
    bits_to_payload,
    payload_to_bits,
    resample,
)

# audioseal's modules call torch.jit.script at import, which torch 2.13 deprecates; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")


@pytest.fixture(scope="module")
def untrained() -> AudioSealWatermarker:
    return AudioSealWatermarker.untrained_from_cards(seed=0)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def saved(untrained, tmp_path_factory) -> dict[str, object]:
    """The random state dicts saved as plain checkpoints: `from_checkpoints` keyword arguments, pinned by the
    files' real SHA-256."""
    directory = tmp_path_factory.mktemp("audioseal")
    arguments: dict[str, object] = {}
    for kind, model in (("generator", untrained.generator), ("detector", untrained.detector)):
        path = directory / f"{kind}.pth"
        torch.save(model.state_dict(), path)
        arguments[f"{kind}_path"] = path
        arguments[f"{kind}_sha256"] = sha256(path)
    return arguments


def sine(frequency: float, rate: int, seconds: float, amplitude: float = 0.3) -> np.ndarray:
    return amplitude * np.sin(2 * np.pi * frequency * np.arange(round(rate * seconds)) / rate)


def assert_code(error: pytest.ExceptionInfo[WatermarkError], code: str) -> None:
    assert error.value.code == code, error.value.message


# --- payload packing --------------------------------------------------------------------------------------


def test_payload_bits_are_most_significant_first():
    assert payload_to_bits(0x8001).tolist() == [1] + [0] * 14 + [1]
    assert payload_to_bits(0).tolist() == [0] * NBITS
    assert payload_to_bits(0xFFFF).tolist() == [1] * NBITS


@pytest.mark.parametrize("payload", [0, 1, 0x00FF, 0xBEEF, 0x7FFF, 0xFFFF, *range(1, 65536, 4099)])
def test_payload_round_trips_through_message_bits(payload):
    bits = payload_to_bits(payload)
    assert bits.dtype == np.int64 and bits.shape == (NBITS,)
    assert bits_to_payload(bits) == payload


@pytest.mark.parametrize("payload", [-1, 1 << 16, 1 << 32, True, 1.0, "7", None])
def test_payloads_outside_16_bits_are_refused(payload, untrained):
    with pytest.raises(WatermarkError) as error:
        payload_to_bits(payload)
    assert_code(error, "payload_out_of_range")
    with pytest.raises(WatermarkError) as error:
        untrained.embed(np.zeros(1600, dtype=np.float32), 16_000, payload)
    assert_code(error, "payload_out_of_range")


@pytest.mark.parametrize(
    "bits", [[0] * 15, [0] * 17, [2] + [0] * 15, [0.5] * 16, np.zeros((2, 8)), [[0] * 8, [1] * 9], ["1"] * 16]
)
def test_malformed_messages_are_refused(bits):
    with pytest.raises(WatermarkError) as error:
        bits_to_payload(bits)
    assert_code(error, "bad_message")


# --- the backend with random weights ----------------------------------------------------------------------


def test_it_conforms_to_the_watermarker_protocol(untrained):
    assert isinstance(untrained, Watermarker)
    assert untrained.payload_bits == 16


def test_random_weights_are_marked_as_such(untrained):
    assert untrained.untrained and untrained.alg == UNTRAINED_ALG != ALG
    assert "UNTRAINED" in repr(untrained)
    detection = untrained.detect(np.zeros(1600), 16_000)
    assert detection.details["untrained"] == 1.0 and detection.alg == UNTRAINED_ALG


@pytest.mark.parametrize(
    ("rate", "shape", "dtype"),
    [
        (44_100, (22_050,), np.float32),
        (48_000, (24_000, 2), np.float64),
        (16_000, (8_000, 1), np.float32),
        (22_050, (300, 2), np.float32),
        (96_000, (48_000, 6), np.float32),
    ],
)
def test_embed_and_detect_keep_shape_dtype_and_duration(untrained, rate, shape, dtype):
    audio = (np.random.default_rng(1).standard_normal(shape) * 0.1).astype(dtype)
    marked = untrained.embed(audio, rate, 0xBEEF)
    assert marked.shape == audio.shape and marked.dtype == audio.dtype
    assert np.all(np.isfinite(marked)) and np.abs(marked).max() <= 1.0
    detection = untrained.detect(marked, rate)
    assert isinstance(detection, Detection)
    assert detection.segments[0].start == 0.0
    assert detection.segments[-1].end == pytest.approx(shape[0] / rate)
    assert all(0.0 <= s.confidence <= 1.0 for s in detection.segments)
    assert 0.0 <= detection.confidence <= 1.0
    assert detection.payload is None or 0 <= detection.payload < 1 << 16


def test_bad_audio_and_rates_are_refused(untrained):
    with pytest.raises(WatermarkError) as error:
        untrained.embed(np.zeros((10, 2, 2)), 16_000, 1)
    assert_code(error, "bad_audio")
    with pytest.raises(WatermarkError) as error:
        untrained.detect(np.array([0.0, np.nan]), 16_000)
    assert_code(error, "bad_audio")
    for rate in (0, 500, 44_100.0, True, 10_000_000):
        with pytest.raises(WatermarkError) as error:
            untrained.embed(np.zeros(100), rate, 1)
        assert_code(error, "bad_sample_rate")


# --- fake models: what the plumbing does with known outputs -----------------------------------------------


class FakeGenerator(torch.nn.Module):
    """A 'watermark' of a 1 kHz sine at 16 kHz (amplitude 0.01) or, with `scale`, a scaled copy of the input;
    records every message it is given."""

    def __init__(self, scale: float | None = None) -> None:
        super().__init__()
        self.scale = scale
        self.messages: list[list[int]] = []

    def get_watermark(self, x, sample_rate=None, message=None):
        assert x.ndim == 3 and x.shape[:2] == (1, 1) and x.dtype == torch.float32
        assert sample_rate == 16_000 and message.shape == (1, NBITS) and message.dtype == torch.int64
        self.messages.append(message[0].tolist())
        if self.scale is not None:
            return x * self.scale
        t = torch.arange(x.shape[-1], dtype=torch.float32) / 16_000
        return (0.01 * torch.sin(2 * torch.pi * 1000 * t)).reshape(1, 1, -1)


class FakeDetector(torch.nn.Module):
    """Flags samples whose magnitude exceeds 0.1 and reads `payload` there (its inverse elsewhere), so the
    expected localisation and message are known, and every output depends only on its own sample."""

    normalizer = None

    def __init__(self, payload: int, strength: float = 4.0) -> None:
        super().__init__()
        self.signs = torch.from_numpy(payload_to_bits(payload) * 2.0 - 1.0).float()
        self.strength = strength

    def detector(self, x):
        level = (x[0].abs() - 0.1) * 200  # (1, T): > 0 where watermarked
        presence = torch.cat([torch.zeros_like(level), level], dim=0)  # (2, T) logits
        bits = self.signs[:, None] * self.strength * torch.sign(level)  # (16, T)
        return torch.cat([presence, bits], dim=0)[None]  # (1, 18, T)


def stepped(rate: int, seconds: float = 4.0, loud: tuple[float, float] = (1.0, 3.0)) -> np.ndarray:
    """Quiet audio (0.02) with a loud stretch (0.3) between `loud` seconds, as a low sine."""
    t = np.arange(round(rate * seconds)) / rate
    level = np.where((t >= loud[0]) & (t < loud[1]), 0.3, 0.02)
    return level * np.sign(np.sin(2 * np.pi * 5 * t) + 1e-9)


def test_the_watermark_is_computed_at_16k_and_added_at_the_input_rate():
    generator = FakeGenerator()
    backend = AudioSealWatermarker(generator, FakeDetector(0))
    marked = backend.embed(np.zeros(48_000, dtype=np.float64), 48_000, 0xBEEF)
    assert generator.messages == [payload_to_bits(0xBEEF).tolist()]
    interior = slice(2_000, 46_000)
    np.testing.assert_allclose(marked[interior], sine(1000, 48_000, 1.0, 0.01)[interior], atol=2e-4)


def test_the_music_above_8_khz_keeps_its_bandwidth():
    backend = AudioSealWatermarker(FakeGenerator(), FakeDetector(0))
    rate = 48_000
    audio = np.stack([sine(15_000, rate, 1.0), sine(12_000, rate, 1.0)], axis=1)
    marked = backend.embed(audio, rate, 7)
    added = (marked - audio)[4_000:-4_000]  # what embedding changed: the resampled 16 kHz watermark only
    spectrum = np.abs(np.fft.rfft(added * np.hanning(len(added))[:, None], axis=0)) ** 2
    frequencies = np.fft.rfftfreq(len(added), 1 / rate)
    assert spectrum[frequencies > 8_500].sum() < 1e-6 * spectrum.sum()
    np.testing.assert_allclose(added[:, 0], added[:, 1])  # the same watermark on every channel


@pytest.mark.parametrize("rate", [44_100, 16_000])
def test_detection_localises_segments_and_reads_the_payload_there(rate):
    backend = AudioSealWatermarker(FakeGenerator(), FakeDetector(0xBEEF))
    detection = backend.detect(stepped(rate), rate)
    assert detection.detected and detection.payload == 0xBEEF
    assert [s.detected for s in detection.segments] == [False, True, True, False]
    assert detection.seconds() == [(1.0, 3.0)]
    assert detection.confidence > 0.99
    assert detection.details["flagged_fraction"] == pytest.approx(0.5, abs=0.01)


def test_uncertain_bits_mean_no_payload():
    backend = AudioSealWatermarker(FakeGenerator(), FakeDetector(0xBEEF, strength=0.05), bit_margin=0.05)
    detection = backend.detect(stepped(16_000), 16_000)
    assert detection.seconds() == [(1.0, 3.0)]  # present...
    assert not detection.detected and detection.payload is None  # ...but the message is not trusted
    assert detection.details["bit_margin_min"] < 0.05


def test_quiet_audio_is_not_detected():
    backend = AudioSealWatermarker(FakeGenerator(), FakeDetector(0xBEEF))
    detection = backend.detect(np.full(32_000, 0.02), 16_000)
    assert not detection.detected and detection.payload is None and detection.seconds() == []


def test_chunked_processing_matches_one_pass():
    audio = stepped(16_000, seconds=3.7)
    one_pass = AudioSealWatermarker(FakeGenerator(scale=0.5), FakeDetector(0x1234), chunk_seconds=10)
    chunked = AudioSealWatermarker(FakeGenerator(scale=0.5), FakeDetector(0x1234), chunk_seconds=1)
    np.testing.assert_allclose(chunked.embed(audio, 16_000, 1), one_pass.embed(audio, 16_000, 1), atol=1e-6)
    assert len(chunked.generator.messages) > 1
    split, whole = chunked.detect(audio, 16_000), one_pass.detect(audio, 16_000)
    assert (split.detected, split.payload, split.seconds()) == (whole.detected, whole.payload, whole.seconds())
    assert split.details == pytest.approx(whole.details)


# --- checkpoints ------------------------------------------------------------------------------------------


def _weights_equal(left: torch.nn.Module, right: torch.nn.Module, atol: float = 0.0) -> bool:
    a, b = left.state_dict(), right.state_dict()
    return a.keys() == b.keys() and all(torch.allclose(a[k], b[k], atol=atol, rtol=0) for k in a)


def test_pinned_checkpoints_load_through_the_real_path(saved, untrained):
    backend = AudioSealWatermarker.from_checkpoints(**saved)
    assert backend.alg == ALG and not backend.untrained
    assert _weights_equal(backend.generator, untrained.generator)
    assert _weights_equal(backend.detector, untrained.detector)
    audio = sine(440, 22_050, 0.5)
    np.testing.assert_array_equal(backend.embed(audio, 22_050, 9), untrained.embed(audio, 22_050, 9))


def test_a_changed_checkpoint_is_rejected(saved, tmp_path):
    changed = tmp_path / "generator.pth"
    data = bytearray(saved["generator_path"].read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit inside a tensor: still a loadable file, but not the pinned one
    changed.write_bytes(bytes(data))
    with pytest.raises(WatermarkError) as error:
        AudioSealWatermarker.from_checkpoints(**{**saved, "generator_path": changed})
    assert_code(error, "checkpoint_mismatch")
    assert saved["generator_sha256"] in error.value.message


def test_checkpoint_configuration_errors_have_their_own_codes(saved, tmp_path):
    cases = [
        ({"generator_sha256": "ab" * 31}, "bad_checkpoint_sha256"),
        ({"generator_path": tmp_path / "absent.pth"}, "checkpoint_missing"),
        ({"generator_card": "audioseal_wm_64bits"}, "unknown_card"),
        ({"generator_card": "../../etc/passwd"}, "unknown_card"),
        ({"generator_card": DETECTOR_CARD}, "unknown_card"),  # a detector card for the generator
        ({"generator_path": saved["detector_path"], "generator_sha256": saved["detector_sha256"]},
         "checkpoint_incompatible"),
    ]  # fmt: skip
    for change, code in cases:
        with pytest.raises(WatermarkError) as error:
            AudioSealWatermarker.from_checkpoints(**{**saved, **change})
        assert_code(error, code)


def test_the_pin_may_be_given_in_upper_case(saved):
    upper = {**saved, "generator_sha256": saved["generator_sha256"].upper()}
    assert not AudioSealWatermarker.from_checkpoints(**upper).untrained


def _published_format(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A state dict in the published checkpoints' layout: weight-norm g/v pairs, no `inner_conv` level."""
    published = {}
    for key, value in model.state_dict().items():
        if key.endswith(".inner_conv.weight"):
            prefix = key[: -len(".inner_conv.weight")]
            norm = value.flatten(1).norm(dim=1).reshape(-1, *([1] * (value.ndim - 1)))
            published[f"{prefix}.weight_g"] = norm.clone()
            published[f"{prefix}.weight_v"] = value * 3.0  # weight norm is scale-free in v
        elif key.endswith(".inner_conv.bias"):
            published[key.replace(".inner_conv.bias", ".bias")] = value.clone()
        else:
            published[key] = value.clone()
    return published


def test_published_checkpoint_layout_loads_with_weights_only(untrained, tmp_path):
    """The published files pickle an OmegaConf `xp.cfg` beside the weights; it is stubbed, never unpickled."""
    xp_cfg = OmegaConf.create({"seanet": {"ratios": [8, 5, 4, 2], "activation": "ELU"}, "sample_rate": 16000})
    arguments = {}
    for kind, model, count in (("generator", untrained.generator, 101), ("detector", untrained.detector, 54)):
        state = _published_format(model)
        assert len(state) == count  # the tensor counts of generator_base.pth / detector_base.pth
        path = tmp_path / f"{kind}_base.pth"
        torch.save({"xp.cfg": xp_cfg, "model": state}, path)
        arguments |= {f"{kind}_path": path, f"{kind}_sha256": sha256(path)}
    backend = AudioSealWatermarker.from_checkpoints(
        **arguments, generator_card=GENERATOR_CARD, detector_card=DETECTOR_CARD
    )
    assert _weights_equal(backend.generator, untrained.generator, atol=1e-5)
    assert _weights_equal(backend.detector, untrained.detector, atol=1e-5)


class _Exploit:
    """Pickles as a call to os.system: what a hostile checkpoint looks like."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_checkpoint_that_would_run_code_is_refused_unopened(untrained, tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "generator.pth"
    torch.save({"model": untrained.generator.state_dict(), "extra": _Exploit(marker)}, path)
    with pytest.raises(WatermarkError) as error:
        AudioSealWatermarker.from_checkpoints(
            generator_path=path, generator_sha256=sha256(path), detector_path=path, detector_sha256=sha256(path)
        )
    assert_code(error, "checkpoint_unsafe")
    assert not marker.exists()


# --- resampling -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("low", "high"), [(16_000, 44_100), (16_000, 48_000), (16_000, 22_050), (16_000, 44_056)])
def test_resampling_down_and_back_preserves_a_tone(low, high):
    tone = sine(1000, high, 0.5)
    down = resample(tone, high, low)
    assert down.shape == (int(np.ceil(len(tone) * low / high)),)
    back = resample(down, low, high, length=len(tone))
    interior = slice(2_000, -2_000)
    np.testing.assert_allclose(back[interior], tone[interior], atol=1e-3)
    np.testing.assert_allclose(down[800:-800], sine(1000, low, 0.5)[: len(down)][800:-800], atol=1e-3)


def test_resampling_down_removes_what_the_lower_rate_cannot_carry():
    tone = sine(12_000, 48_000, 0.5)  # above 8 kHz: would alias to 4 kHz
    down = resample(tone, 48_000, 16_000)
    assert np.sqrt(np.mean(down[500:-500] ** 2)) < 1e-3 * np.sqrt(np.mean(tone**2))


def test_resampling_keeps_channels_and_handles_unusual_ratios():
    stereo = np.stack([sine(500, 16_000, 0.1), -sine(500, 16_000, 0.1)], axis=1)
    up = resample(stereo, 16_000, 192_001)  # a ratio too fine for a phase table: kernels computed per output
    assert up.shape == (int(np.ceil(1600 * 192_001 / 16_000)), 2)
    np.testing.assert_allclose(up[:, 0], -up[:, 1])
    np.testing.assert_allclose(up[3000:-3000, 0], sine(500, 192_001, 0.1)[3000 : len(up) - 3000], atol=2e-3)
    same = resample(stereo, 16_000, 16_000, length=10)
    np.testing.assert_array_equal(same, stereo[:10])
