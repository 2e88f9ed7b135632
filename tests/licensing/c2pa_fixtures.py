"""Throwaway C2PA signing material for tests: an ES256 root + leaf, a small WAV, and signed copies of it.

Everything is generated per test session in memory; nothing here is a real credential. The leaf carries what
c2pa-rs requires of a signing certificate (REFERENCE.md, "C2PA with c2pa-python 0.38.1"): KeyUsage
digitalSignature without keyCertSign, EKU emailProtection, an AuthorityKeyIdentifier, not a CA, valid now.
"""

from __future__ import annotations

import io
import json
import math
import struct
import wave
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

WAV_MIME = "audio/wav"
GENERATED = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
CLAIM_GENERATOR = {"name": "clearcue-tests", "version": "0.1.0"}


@dataclass(frozen=True)
class SigningMaterial:
    """PEM strings for a throwaway signing chain: the chain is leaf first, then the root."""

    root_pem: str
    chain_pem: str
    key_pem: str


def _name(common_name: str) -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Clearcue Test Fixtures"),
        x509.NameAttribute(NameOID.COUNTRY_NAME, "DE"),
    ])


@cache
def signing_material() -> SigningMaterial:
    """An ES256 CA root and a leaf it issued; generated once per test session."""
    now = datetime.now(UTC)
    root_key = ec.generate_private_key(ec.SECP256R1())
    root_name = _name("Clearcue Test Root CA")
    root_ski = x509.SubjectKeyIdentifier.from_public_key(root_key.public_key())
    root = (
        x509.CertificateBuilder()
        .subject_name(root_name)
        .issuer_name(root_name)
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(root_ski, critical=False)
        .sign(root_key, hashes.SHA256())
    )

    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_name("Clearcue Test Signer"))
        .issuer_name(root_name)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=7))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(leaf_key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(root_ski), critical=False)
        .sign(root_key, hashes.SHA256())
    )

    root_pem = root.public_bytes(serialization.Encoding.PEM).decode()
    leaf_pem = leaf.public_bytes(serialization.Encoding.PEM).decode()
    key_pem = leaf_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return SigningMaterial(root_pem=root_pem, chain_pem=leaf_pem + root_pem, key_pem=key_pem)


@cache
def wav_bytes(seconds: float = 0.5, rate: int = 16_000) -> bytes:
    """A short mono 16-bit sine WAV, written with the stdlib `wave` module."""
    frames = int(seconds * rate)
    samples = (int(12_000 * math.sin(2 * math.pi * 440 * n / rate)) for n in range(frames))
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"".join(struct.pack("<h", s) for s in samples))
    return buffer.getvalue()


def training_mining(prefix: str, uses: Mapping[str, str | tuple[str, str]]) -> dict[str, Any]:
    """A training-mining assertion; `prefix` is "cawg" or "c2pa", each use maps to "allowed"/"notAllowed" or
    ("constrained", constraint_info)."""
    entries: dict[str, dict[str, str]] = {}
    for name, choice in uses.items():
        if isinstance(choice, tuple):
            entries[f"{prefix}.{name}"] = {"use": choice[0], "constraint_info": choice[1]}
        else:
            entries[f"{prefix}.{name}"] = {"use": choice}
    return {"label": f"{prefix}.training-mining", "data": {"entries": entries}}


def manifest(assertions: Sequence[Mapping[str, Any]], *, title: str = "Cue 14 - Night Drive") -> dict[str, Any]:
    """A manifest definition with the required `c2pa.created` action followed by `assertions`."""
    return {
        "claim_generator_info": [CLAIM_GENERATOR],
        "title": title,
        "format": WAV_MIME,
        "assertions": [
            {
                "label": "c2pa.actions",
                "data": {"actions": [{"action": "c2pa.created", "digitalSourceType": GENERATED}]},
            },
            *assertions,
        ],
    }


def sign_wav(assertions: Sequence[Mapping[str, Any]], *, source: bytes | None = None) -> bytes:
    """`source` (default: the fixture WAV) signed with a manifest carrying `assertions`."""
    import c2pa

    material = signing_material()
    info = c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, material.chain_pem.encode(), material.key_pem.encode(), None)
    signer = c2pa.Signer.from_info(info)
    context = c2pa.Context.from_dict({"trust": {"trust_anchors": material.root_pem}})
    builder = c2pa.Builder(json.dumps(manifest(assertions)), context)
    src = io.BytesIO(source if source is not None else wav_bytes())
    dst = io.BytesIO()
    builder.sign(signer, WAV_MIME, src, dst)
    return dst.getvalue()


def flip_audio_byte(signed: bytes) -> bytes:
    """A copy of a signed WAV with one byte of the audio samples changed (the manifest left intact)."""
    data_at = signed.index(b"data") + 8  # chunk id + 32-bit size, then the samples
    tampered = bytearray(signed)
    tampered[data_at + 100] ^= 0xFF
    return bytes(tampered)


def strip_manifest(signed: bytes) -> bytes:
    """A copy of a signed WAV with its RIFF `C2PA` chunk removed and the RIFF size fixed up."""
    if signed[:4] != b"RIFF" or signed[8:12] != b"WAVE":
        raise ValueError("not a RIFF/WAVE file")
    out = bytearray(signed[:12])
    position = 12
    while position + 8 <= len(signed):
        chunk_id = signed[position:position + 4]
        size = struct.unpack("<I", signed[position + 4:position + 8])[0]
        end = position + 8 + size + (size & 1)
        if chunk_id != b"C2PA":
            out += signed[position:end]
        position = end
    struct.pack_into("<I", out, 4, len(out) - 8)
    return bytes(out)
