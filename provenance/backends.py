"""The configured provenance backends: the watermarker, the C2PA signing identity and the trust anchors.

Settings decide (clearcue/settings.py, "Provenance"); each is built once per process. Missing material is a
`DomainError` with a stable code that names the command that makes it, so sealing fails closed and says why.
"""

from __future__ import annotations

import base64
import binascii
import importlib
import os
import secrets
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from django.conf import settings

from clearcue.exceptions import DomainError

if TYPE_CHECKING:
    from provenance.pki import SigningIdentity
    from provenance.watermark import Watermarker

KEY_BYTES = 32


def parse_watermark_keys(text: str) -> dict[str, bytes]:
    """Keys from "<id>:<base64>" items separated by commas or newlines (order kept: the last one embeds)."""
    keys: dict[str, bytes] = {}
    for raw in text.replace(",", "\n").splitlines():
        item = raw.strip()
        if not item or item.startswith("#"):
            continue
        key_id, sep, encoded = item.replace(" ", ":", 1).partition(":")
        if not sep or not key_id or len(key_id) > 64:
            raise DomainError("watermark_key_invalid", "Each watermark key is '<key id>:<base64 secret>'.",
                              status=503)
        try:
            secret = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise DomainError("watermark_key_invalid", f"Watermark key {key_id!r} is not base64.", status=503) from None
        if len(secret) < 16:
            raise DomainError("watermark_key_invalid", f"Watermark key {key_id!r} is shorter than 128 bits.",
                              status=503)
        keys.pop(key_id, None)
        keys[key_id] = secret
    return keys


def new_watermark_key(path: Path) -> str:
    """Append a fresh random key to the key file (made 0600) and return its id; it becomes the embedding key."""
    path.parent.mkdir(parents=True, exist_ok=True)
    key_id = f"wm-{secrets.token_hex(4)}"
    line = f"{key_id}:{base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()}\n"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as handle:
        handle.write(line)
    return key_id


def watermark_keys() -> dict[str, bytes]:
    """The configured keyed-watermark secrets (setting, or the key file made by `init_watermark_key`)."""
    if settings.WATERMARK_KEYS:
        keys = parse_watermark_keys(settings.WATERMARK_KEYS)
    elif settings.WATERMARK_KEYS_PATH.exists():
        keys = parse_watermark_keys(settings.WATERMARK_KEYS_PATH.read_text(encoding="utf-8"))
    else:
        keys = {}
    if not keys:
        raise DomainError("watermark_key_missing", "No watermark key is configured: run "
                          "`manage.py init_watermark_key` or set CLEARCUE_WATERMARK_KEYS.", status=503)
    return keys


@cache
def watermarker() -> Watermarker:
    """The configured watermark backend (built once per process)."""
    if settings.WATERMARK_BACKEND == "audioseal":
        from provenance.watermark_audioseal import AudioSealWatermarker

        paths = (settings.AUDIOSEAL_GENERATOR, settings.AUDIOSEAL_GENERATOR_SHA256, settings.AUDIOSEAL_DETECTOR,
                 settings.AUDIOSEAL_DETECTOR_SHA256)
        if not all(paths):
            raise DomainError("audioseal_not_configured", "CLEARCUE_WATERMARK_BACKEND=audioseal needs "
                              "CLEARCUE_AUDIOSEAL_GENERATOR/_DETECTOR and their _SHA256 (see provenance/AUDIOSEAL.md).",
                              status=503)
        return AudioSealWatermarker.from_checkpoints(  # type: ignore[no-any-return]
            generator_path=Path(paths[0]), generator_sha256=paths[1],
            detector_path=Path(paths[2]), detector_sha256=paths[3])
    from provenance.watermark_keyed import KeyedWatermarker

    keys = watermark_keys()
    return KeyedWatermarker(keys, active_key_id=list(keys)[-1])


def active_key_id(marker: Watermarker) -> str:
    """The key id the backend embeds with ("" for backends without platform keys)."""
    return str(getattr(marker, "active_key_id", ""))


@cache
def signing_identity() -> SigningIdentity:
    """The C2PA signing identity: a factory's (KMS/HSM) or the chain and key files (`init_pki`)."""
    from provenance import pki

    if settings.C2PA_SIGNER_FACTORY:
        module, _, name = settings.C2PA_SIGNER_FACTORY.rpartition(".")
        identity = getattr(importlib.import_module(module), name)()
        if not isinstance(identity, pki.SigningIdentity):
            raise DomainError("pki_invalid", "CLEARCUE_C2PA_SIGNER_FACTORY did not return a SigningIdentity.",
                              status=503)
        return identity
    try:
        return pki.load_identity(settings.C2PA_CERT_CHAIN_PATH, settings.C2PA_SIGNING_KEY_PATH,
                                 tsa_url=settings.C2PA_TSA_URL)
    except pki.PkiError as error:
        hint = " Run `manage.py init_pki` for a development PKI." if error.code == "pki_missing" else ""
        raise DomainError(error.code, error.message + hint, status=503) from error


@cache
def trust_anchors() -> str | None:
    """The PEM roots our verifier trusts, or None when none are configured (then nothing is Trusted)."""
    from provenance import pki

    if not settings.C2PA_TRUST_ANCHORS_PATH.exists():
        return None
    try:
        return pki.load_trust_anchors(settings.C2PA_TRUST_ANCHORS_PATH)
    except pki.PkiError as error:
        raise DomainError(error.code, error.message, status=503) from error


def reset() -> None:
    """Forget the cached backends (after keys or certificates change; tests)."""
    watermarker.cache_clear()
    signing_identity.cache_clear()
    trust_anchors.cache_clear()
