"""Configured backends: watermark keys (parsing, creation, rotation) and failing closed when material is missing."""

from __future__ import annotations

import io
import stat

import pytest
from django.core.management import CommandError, call_command

from clearcue.exceptions import DomainError
from generation.engines import synth
from generation.engines.score import TimedNote
from provenance import backends
from provenance.backends import parse_watermark_keys
from provenance.watermark_keyed import KeyedWatermarker


@pytest.fixture
def fresh_backends():
    backends.reset()
    yield
    backends.reset()


@pytest.mark.parametrize(("text", "code"), [
    ("k1:not base64!", "watermark_key_invalid"),
    ("k1:" + "QUJD", "watermark_key_invalid"),  # 3 bytes: too short
    ("no-separator", "watermark_key_invalid"),
])
def test_malformed_watermark_keys_are_refused_with_a_code(text, code):
    with pytest.raises(DomainError) as error:
        parse_watermark_keys(text)
    assert error.value.code == code


def test_keys_keep_their_order_so_the_last_one_embeds():
    keys = parse_watermark_keys("a:" + "A" * 44 + ",\n# comment\nb " + "B" * 44)
    assert list(keys) == ["a", "b"] and len(keys["a"]) == 33


def test_init_watermark_key_writes_a_private_file_and_rotation_keeps_old_keys_detecting(tmp_path):
    path = tmp_path / "keys" / "watermark.keys"
    first = io.StringIO()
    call_command("init_watermark_key", path=str(path), stdout=first, stderr=io.StringIO())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with pytest.raises(CommandError):
        call_command("init_watermark_key", path=str(path), stdout=io.StringIO(), stderr=io.StringIO())
    call_command("init_watermark_key", path=str(path), rotate=True, stdout=io.StringIO(), stderr=io.StringIO())
    keys = parse_watermark_keys(path.read_text())
    old_id, new_id = list(keys)
    assert old_id == first.getvalue().strip()
    notes = [TimedNote("strings", 48 + (i * 5) % 24, i * 0.5, 1.0, 80) for i in range(24)]
    audio = synth.render(notes, sample_rate=48_000, duration=12.0)
    marked_before = KeyedWatermarker({old_id: keys[old_id]}, old_id).embed(audio, 48_000, 0xC0FFEE)
    rotated = KeyedWatermarker(keys, active_key_id=new_id)
    found = rotated.detect(marked_before, 48_000)
    assert found.detected and found.payload == 0xC0FFEE and found.key_id == old_id


def test_without_a_watermark_key_nothing_can_be_sealed(settings, tmp_path, fresh_backends):
    settings.WATERMARK_KEYS = None
    settings.WATERMARK_KEYS_PATH = tmp_path / "missing.keys"
    with pytest.raises(DomainError) as error:
        backends.watermarker()
    assert error.value.code == "watermark_key_missing" and error.value.status == 503


def test_without_a_signing_certificate_nothing_can_be_sealed(settings, tmp_path, fresh_backends):
    settings.C2PA_SIGNER_FACTORY = None
    settings.C2PA_CERT_CHAIN_PATH = tmp_path / "none.pem"
    with pytest.raises(DomainError) as error:
        backends.signing_identity()
    assert error.value.code == "pki_missing" and "init_pki" in error.value.message


def test_the_audioseal_backend_needs_its_pinned_checkpoints(settings, fresh_backends):
    settings.WATERMARK_BACKEND = "audioseal"
    settings.AUDIOSEAL_GENERATOR = None
    with pytest.raises(DomainError) as error:
        backends.watermarker()
    assert error.value.code == "audioseal_not_configured"
