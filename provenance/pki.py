"""Signing credentials for C2PA manifests: a development PKI, leaf-certificate checks and signing identities.

C2PA signs a claim with COSE (RFC 9052) using an X.509 certificate chain (RFC 5280), leaf first. c2pa-rs
0.91.3 (c2pa-python 0.38.1) accepts a leaf only if it has KeyUsage digitalSignature (or nonRepudiation)
without keyCertSign, an ExtendedKeyUsage containing emailProtection (documentSigning or the C2PA OID alone
fail its default validation), an AuthorityKeyIdentifier, is not a CA and is currently valid (C2PA 2.2
"Certificate Profile"; REFERENCE.md). :func:`check_leaf` names each violation with a stable string.

The development PKI (:func:`create_dev_pki`) is a self-signed root CA and a leaf it issued, written as four
files; third parties see our outputs as Trusted only when they add ``root.pem`` to their trust anchors
(c2pa-python >= 0.29 enforces trust). Production keys can live in a KMS/HSM: :func:`callback_identity`
wraps a signing callable, and for ECDSA it hands c2pa the raw ``r || s`` signature COSE specifies
(RFC 9053 section 2.1), converting from the DER encoding most KMS APIs return.

Pure and Django-free; raises :class:`PkiError` with a stable code, never returns a bare bool.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = [
    "CHAIN_FILE",
    "DEV_PKI_ALGS",
    "ROOT_CERT_FILE",
    "ROOT_KEY_FILE",
    "SIGNER_KEY_FILE",
    "SIGNING_ALGS",
    "PkiError",
    "PkiFiles",
    "SigningIdentity",
    "callback_identity",
    "check_leaf",
    "create_dev_pki",
    "fingerprint_sha256",
    "issue_leaf",
    "key_callback",
    "load_identity",
    "load_trust_anchors",
]

ROOT_CERT_FILE: Final = "root.pem"
ROOT_KEY_FILE: Final = "root.key"
CHAIN_FILE: Final = "chain.pem"
SIGNER_KEY_FILE: Final = "signer.key"
DEV_PKI_ALGS: Final = ("es256", "ed25519")
# Algorithms a signing identity may use (C2PA 2.2 "Digital Signatures"; checked with c2pa-python 0.38.1).
SIGNING_ALGS: Final = ("es256", "es384", "ps256", "ed25519")
# Raw signature length per ECDSA algorithm: r || s, each the curve order's byte length (RFC 9053 section 2.1).
_ECDSA_RAW_LENGTH: Final[Mapping[str, int]] = {"es256": 64, "es384": 96}
_ECDSA_HASH: Final[Mapping[str, type[hashes.HashAlgorithm]]] = {"es256": hashes.SHA256, "es384": hashes.SHA384}
_KEY_MODE: Final = 0o600
_CERT_MODE: Final = 0o644
# Tolerate clock skew between us and a validator when a certificate starts being valid.
_BACKDATE: Final = timedelta(minutes=5)
_MIN_RSA_BITS: Final = 2048
SigningKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey

# Stable problem strings returned by check_leaf / carried by PkiError("pki_invalid").
UNREADABLE_CERTIFICATE: Final = "unreadable_certificate"
LEAF_IS_CA: Final = "leaf_is_ca"
MISSING_DIGITAL_SIGNATURE: Final = "missing_digital_signature"
KEY_CERT_SIGN_ON_LEAF: Final = "key_cert_sign_on_leaf"
MISSING_EKU_EMAIL_PROTECTION: Final = "missing_eku_email_protection"
MISSING_AUTHORITY_KEY_IDENTIFIER: Final = "missing_authority_key_identifier"
EXPIRED: Final = "expired"
NOT_YET_VALID: Final = "not_yet_valid"
UNSUPPORTED_KEY: Final = "unsupported_key"


class PkiError(ValueError):
    """A signing credential is missing, unreadable or unfit for C2PA; `code` is stable, `details` names what."""

    def __init__(self, code: str, message: str, *, details: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = dict(details or {})


@dataclass(frozen=True)
class PkiFiles:
    """Where a development PKI lives and the fingerprints of what was written."""

    directory: Path
    root_cert: Path
    root_key: Path
    chain: Path
    signer_key: Path
    alg: str
    root_fingerprint_sha256: str
    leaf_fingerprint_sha256: str
    leaf_not_after: datetime
    backups: tuple[Path, ...] = ()
    rotated: bool = False

    @property
    def written(self) -> tuple[Path, ...]:
        """The files this call wrote (a leaf rotation leaves the root alone)."""
        if self.rotated:
            return (self.chain, self.signer_key)
        return (self.root_cert, self.root_key, self.chain, self.signer_key)


@dataclass(frozen=True)
class SigningIdentity:
    """What c2pa needs to sign: the algorithm, the chain (PEM, leaf first) and either a PEM key or a callback.

    `sign` gets the COSE Sig_structure bytes and returns the raw signature c2pa expects for `alg`: ``r || s``
    for ES256/ES384 (64/96 bytes), 64 bytes for Ed25519, RSASSA-PSS (SHA-256, MGF1-SHA-256, salt 32) for PS256.
    """

    alg: str
    chain_pem: str
    key_pem: str | None = field(default=None, repr=False)
    sign: Callable[[bytes], bytes] | None = field(default=None, repr=False)
    tsa_url: str | None = None

    def __post_init__(self) -> None:
        if self.alg not in SIGNING_ALGS:
            raise PkiError("pki_invalid", f"Signing algorithm {self.alg!r} is not one of {', '.join(SIGNING_ALGS)}.",
                           details={"problems": [UNSUPPORTED_KEY], "alg": self.alg})
        if (self.key_pem is None) == (self.sign is None):
            raise PkiError("pki_invalid", "A signing identity needs exactly one of a private key or a sign callback.",
                           details={"problems": ["key_or_callback"]})
        if self.tsa_url is not None and not self.tsa_url.startswith(("http://", "https://")):
            raise PkiError("pki_invalid", f"The timestamp authority URL {self.tsa_url!r} must be http(s).",
                           details={"problems": ["bad_tsa_url"], "tsa_url": self.tsa_url})

    @property
    def leaf(self) -> x509.Certificate:
        """The signing (leaf) certificate."""
        return x509.load_pem_x509_certificates(self.chain_pem.encode())[0]

    @property
    def subject(self) -> str:
        """The leaf's subject as ``CN=..., O=...`` in certificate order (how :mod:`credentials` reports signers)."""
        return ", ".join(attribute.rfc4514_string() for attribute in self.leaf.subject)


def _now(now: datetime | None) -> datetime:
    return now if now is not None else datetime.now(UTC)


def fingerprint_sha256(cert: x509.Certificate | str | bytes) -> str:
    """SHA-256 of the certificate's DER, as colon-separated upper-case hex (the form `openssl x509` prints)."""
    if not isinstance(cert, x509.Certificate):
        cert = x509.load_pem_x509_certificate(cert.encode() if isinstance(cert, str) else cert)
    digest = hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest().upper()
    return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


def _alg_for_key(key: object) -> str | None:
    """The C2PA signing algorithm for a public or private key, or None if C2PA (or we) cannot use it."""
    if isinstance(key, ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey):
        return {"secp256r1": "es256", "secp384r1": "es384"}.get(key.curve.name)
    if isinstance(key, ed25519.Ed25519PublicKey | ed25519.Ed25519PrivateKey):
        return "ed25519"
    if isinstance(key, rsa.RSAPublicKey | rsa.RSAPrivateKey):
        return "ps256" if key.key_size >= _MIN_RSA_BITS else None
    return None


def _extension(cert: x509.Certificate, kind: type[x509.ExtensionType]) -> Any:
    try:
        return cert.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def check_leaf(cert_pem: str | bytes, *, now: datetime | None = None) -> list[str]:
    """Problems that make this (first) certificate unfit to sign C2PA claims; [] if it is fit.

    Stable strings: unreadable_certificate, leaf_is_ca, missing_digital_signature, key_cert_sign_on_leaf,
    missing_eku_email_protection, missing_authority_key_identifier, expired, not_yet_valid, unsupported_key.
    """
    try:
        cert = x509.load_pem_x509_certificates(cert_pem.encode() if isinstance(cert_pem, str) else cert_pem)[0]
        cert.extensions  # noqa: B018 - parses them: a malformed or duplicated extension raises here
    except (ValueError, IndexError):
        return [UNREADABLE_CERTIFICATE]
    problems: list[str] = []
    constraints = _extension(cert, x509.BasicConstraints)
    if constraints is not None and constraints.ca:
        problems.append(LEAF_IS_CA)
    usage = _extension(cert, x509.KeyUsage)
    if usage is None or not (usage.digital_signature or usage.content_commitment):
        problems.append(MISSING_DIGITAL_SIGNATURE)
    if usage is not None and usage.key_cert_sign:
        problems.append(KEY_CERT_SIGN_ON_LEAF)
    eku = _extension(cert, x509.ExtendedKeyUsage)
    if eku is None or ExtendedKeyUsageOID.EMAIL_PROTECTION not in eku:
        problems.append(MISSING_EKU_EMAIL_PROTECTION)
    if _extension(cert, x509.AuthorityKeyIdentifier) is None:
        problems.append(MISSING_AUTHORITY_KEY_IDENTIFIER)
    moment = _now(now)
    if moment > cert.not_valid_after_utc:
        problems.append(EXPIRED)
    if moment < cert.not_valid_before_utc:
        problems.append(NOT_YET_VALID)
    try:
        public_key = cert.public_key()
    except ValueError:  # a key type cryptography cannot even load
        public_key = None
    if _alg_for_key(public_key) is None:
        problems.append(UNSUPPORTED_KEY)
    return problems


def _chain_problems(chain: Sequence[x509.Certificate]) -> list[str]:
    """Each certificate must be issued (name and signature) by the next one; a broken chain never validates."""
    for cert, issuer in itertools.pairwise(chain):
        if cert.issuer != issuer.subject:
            return ["chain_not_linked"]
        try:
            cert.verify_directly_issued_by(issuer)
        except (ValueError, TypeError, InvalidSignature):
            return ["chain_not_linked"]
    return []


def _load_chain(pem: bytes, source: str) -> list[x509.Certificate]:
    try:
        chain = x509.load_pem_x509_certificates(pem)
    except ValueError:
        chain = []
    if not chain:
        raise PkiError("pki_invalid", f"{source} holds no PEM certificate.",
                       details={"problems": [UNREADABLE_CERTIFICATE], "source": source})
    return chain


def _chain_pem(chain: Sequence[x509.Certificate]) -> str:
    return "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in chain)


def _public_der(key: object) -> bytes:
    if isinstance(key, ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey):
        return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return b""


def _key_pem(key: CertificateIssuerPrivateKeyTypes) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _identity_problems(chain: Sequence[x509.Certificate], alg: str | None, now: datetime | None) -> list[str]:
    leaf_pem = chain[0].public_bytes(serialization.Encoding.PEM)
    problems = check_leaf(leaf_pem, now=now) + _chain_problems(chain)
    if alg is not None and UNSUPPORTED_KEY not in problems and _alg_for_key(chain[0].public_key()) != alg:
        problems.append("alg_mismatch")
    return problems


def load_identity(chain_path: Path | str, key_path: Path | str, tsa_url: str | None = None, *,
                  now: datetime | None = None) -> SigningIdentity:
    """A signing identity from a PEM chain (leaf first) and a PEM private key, checked for C2PA fitness.

    Raises PkiError ``pki_missing`` (a file is absent) or ``pki_invalid`` with ``details["problems"]``.
    """
    chain_path, key_path = Path(chain_path), Path(key_path)
    try:
        chain_bytes, key_bytes = chain_path.read_bytes(), key_path.read_bytes()
    except FileNotFoundError as exc:
        raise PkiError("pki_missing", f"Signing credential file {exc.filename} does not exist; run "
                       "`manage.py init_pki` or point the settings at the right files.",
                       details={"path": str(exc.filename)}) from None
    chain = _load_chain(chain_bytes, str(chain_path))
    problems = _identity_problems(chain, None, now)
    key: SigningKey | None = None
    try:
        loaded = serialization.load_pem_private_key(key_bytes, password=None)
    except (ValueError, TypeError):
        problems.append("unreadable_key")
    else:
        if isinstance(loaded, SigningKey) and _alg_for_key(loaded) is not None:
            key = loaded
        elif UNSUPPORTED_KEY not in problems:
            problems.append(UNSUPPORTED_KEY)
    if key is not None and _public_der(key.public_key()) != _public_der(chain[0].public_key()):
        problems.append("key_mismatch")
    alg = _alg_for_key(key)
    if problems or alg is None or key is None:
        raise PkiError("pki_invalid", f"The signing credential in {chain_path} cannot sign C2PA manifests: "
                       f"{', '.join(problems)}.",
                       details={"problems": problems, "chain": str(chain_path), "key": str(key_path)})
    return SigningIdentity(alg=alg, chain_pem=_chain_pem(chain), key_pem=_key_pem(key).decode(), tsa_url=tsa_url)


def _raw_signature(sign: Callable[[bytes], bytes], alg: str) -> Callable[[bytes], bytes]:
    """`sign` made to return what COSE wants: a DER ECDSA signature becomes ``r || s`` (RFC 9053 section 2.1)."""
    length = _ECDSA_RAW_LENGTH.get(alg)
    if length is None:
        return sign

    def raw(payload: bytes) -> bytes:
        signature = sign(payload)
        if len(signature) == length:
            return signature
        r, s = decode_dss_signature(signature)  # raises ValueError when it is neither raw nor DER
        half = length // 2
        return r.to_bytes(half, "big") + s.to_bytes(half, "big")

    return raw


def callback_identity(chain_pem: str, alg: str, sign: Callable[[bytes], bytes], *, tsa_url: str | None = None,
                      now: datetime | None = None) -> SigningIdentity:
    """A signing identity whose key stays elsewhere (KMS/HSM): `sign(payload)` returns its signature.

    For ES256/ES384 `sign` may return DER (AWS/GCP KMS) or raw ``r || s``; the identity always hands c2pa the
    raw form. The chain is checked like :func:`load_identity` (``pki_invalid`` with problems, incl.
    ``alg_mismatch`` when the leaf's key is not an `alg` key).
    """
    if alg not in SIGNING_ALGS:
        raise PkiError("pki_invalid", f"Signing algorithm {alg!r} is not one of {', '.join(SIGNING_ALGS)}.",
                       details={"problems": [UNSUPPORTED_KEY], "alg": alg})
    chain = _load_chain(chain_pem.encode(), "the certificate chain")
    problems = _identity_problems(chain, alg, now)
    if problems:
        raise PkiError("pki_invalid", f"The certificate chain cannot sign C2PA manifests: {', '.join(problems)}.",
                       details={"problems": problems})
    return SigningIdentity(alg=alg, chain_pem=_chain_pem(chain), sign=_raw_signature(sign, alg), tsa_url=tsa_url)


def key_callback(key_pem: str | bytes) -> Callable[[bytes], bytes]:
    """A sign callback backed by a private key held in memory, returning what c2pa expects for its algorithm.

    The reference for what a KMS/HSM callback must produce (see :class:`SigningIdentity`).
    """
    key = serialization.load_pem_private_key(key_pem.encode() if isinstance(key_pem, str) else key_pem, None)
    alg = _alg_for_key(key)
    if isinstance(key, ec.EllipticCurvePrivateKey) and alg is not None and alg in _ECDSA_HASH:
        algorithm = ec.ECDSA(_ECDSA_HASH[alg]())
        ecdsa_key = key
        return _raw_signature(lambda payload: ecdsa_key.sign(payload, algorithm), alg)
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign
    if isinstance(key, rsa.RSAPrivateKey) and alg == "ps256":
        pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=hashes.SHA256.digest_size)
        rsa_key = key
        return lambda payload: rsa_key.sign(payload, pss, hashes.SHA256())
    raise PkiError("pki_invalid", "The key cannot sign C2PA manifests (use P-256, P-384, Ed25519 or RSA-2048+).",
                   details={"problems": [UNSUPPORTED_KEY]})


def load_trust_anchors(path: Path | str) -> str:
    """The PEM bundle of trust anchors in `path`, re-encoded; PkiError if missing, empty or not certificates."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except (FileNotFoundError, IsADirectoryError):
        raise PkiError("pki_missing", f"Trust anchor file {path} does not exist.",
                       details={"path": str(path)}) from None
    if not data.strip():
        raise PkiError("pki_invalid", f"Trust anchor file {path} is empty.",
                       details={"path": str(path), "problems": ["empty"]})
    return _chain_pem(_load_chain(data, str(path)))


# --- development PKI ---------------------------------------------------------------------------------------

def _generate_key(alg: str) -> ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey:
    if alg == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    return ec.generate_private_key(ec.SECP256R1())


def _signature_hash(key: CertificateIssuerPrivateKeyTypes) -> hashes.SHA256 | None:
    # Ed25519 signs the message itself; x509 builders take no hash for it.
    return None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()


def _name(common_name: str, organization: str) -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
    ])


def _key_usage(*, digital_signature: bool = False, key_cert_sign: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature, content_commitment=False, key_encipherment=False,
        data_encipherment=False, key_agreement=False, key_cert_sign=key_cert_sign, crl_sign=key_cert_sign,
        encipher_only=False, decipher_only=False,
    )


def _root_certificate(key: CertificateIssuerPrivateKeyTypes, organization: str, days: int,
                      now: datetime) -> x509.Certificate:
    name = _name(f"{organization} C2PA Development Root CA", organization)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(key_cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, _signature_hash(key))
    )


def _leaf_certificate(leaf_key: CertificateIssuerPrivateKeyTypes, root: x509.Certificate,
                      root_key: CertificateIssuerPrivateKeyTypes, organization: str, days: int,
                      now: datetime) -> x509.Certificate:
    root_ski = _extension(root, x509.SubjectKeyIdentifier)
    authority = (x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(root_ski) if root_ski is not None
                 else x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()))
    # A leaf must not outlive its issuer: validators reject the chain from the root's expiry on.
    not_after = min(now + timedelta(days=days), root.not_valid_after_utc)
    return (
        x509.CertificateBuilder()
        .subject_name(_name(f"{organization} Content Credentials Signer", organization))
        .issuer_name(root.subject)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(digital_signature=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(leaf_key.public_key()), critical=False)
        .add_extension(authority, critical=False)
        .sign(root_key, _signature_hash(root_key))
    )


def _write(path: Path, data: bytes, mode: int) -> None:
    """Write `path` atomically with `mode` from the start (a key is never readable by others, even briefly)."""
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _paths(directory: Path) -> tuple[Path, Path, Path, Path]:
    return (directory / ROOT_CERT_FILE, directory / ROOT_KEY_FILE, directory / CHAIN_FILE,
            directory / SIGNER_KEY_FILE)


def _check_days(**days: int) -> None:
    for name, value in days.items():
        if value < 1:
            raise PkiError("pki_invalid_request", f"{name} must be at least 1 (got {value}).", details={name: value})


def create_dev_pki(directory: Path | str, *, organization: str = "Clearcue", alg: str = "es256",
                   root_days: int = 3650, leaf_days: int = 365, overwrite: bool = False,
                   now: datetime | None = None) -> PkiFiles:
    """Write a development root CA (root.pem, root.key) and a C2PA signing leaf (chain.pem, signer.key).

    Keys are PKCS#8 PEM, mode 0600. Raises PkiError ``pki_exists`` if any of the four files exists and
    `overwrite` is False; ``pki_invalid_request`` for an unknown `alg` or non-positive validity.
    """
    if alg not in DEV_PKI_ALGS:
        raise PkiError("pki_invalid_request", f"alg must be one of {', '.join(DEV_PKI_ALGS)} (got {alg!r}).",
                       details={"alg": alg})
    _check_days(root_days=root_days, leaf_days=leaf_days)
    if not organization.strip():
        raise PkiError("pki_invalid_request", "organization must not be empty.", details={"organization": ""})
    directory = Path(directory)
    root_path, root_key_path, chain_path, signer_key_path = _paths(directory)
    existing = [str(p) for p in _paths(directory) if p.exists()]
    if existing and not overwrite:
        raise PkiError("pki_exists", f"{', '.join(existing)} already exist; refusing to overwrite signing keys "
                       "(pass overwrite/--force, or rotate only the leaf).", details={"paths": existing})
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    moment = _now(now)
    root_key, leaf_key = _generate_key(alg), _generate_key(alg)
    root = _root_certificate(root_key, organization, root_days, moment)
    leaf = _leaf_certificate(leaf_key, root, root_key, organization, leaf_days, moment)
    _write(root_key_path, _key_pem(root_key), _KEY_MODE)
    _write(root_path, root.public_bytes(serialization.Encoding.PEM), _CERT_MODE)
    _write(signer_key_path, _key_pem(leaf_key), _KEY_MODE)
    _write(chain_path, _chain_pem([leaf, root]).encode(), _CERT_MODE)
    return PkiFiles(directory=directory, root_cert=root_path, root_key=root_key_path, chain=chain_path,
                    signer_key=signer_key_path, alg=alg, root_fingerprint_sha256=fingerprint_sha256(root),
                    leaf_fingerprint_sha256=fingerprint_sha256(leaf), leaf_not_after=leaf.not_valid_after_utc)


def _backup_path(path: Path, stamp: str) -> Path:
    candidate = path.with_name(f"{path.stem}.{stamp}{path.suffix}")
    counter = 1
    while candidate.exists():
        candidate = path.with_name(f"{path.stem}.{stamp}-{counter}{path.suffix}")
        counter += 1
    return candidate


def issue_leaf(directory: Path | str, *, organization: str | None = None, leaf_days: int = 365,
               now: datetime | None = None) -> PkiFiles:
    """Rotate the signing key: a new leaf from the existing root; root.pem stays, the old chain.pem and
    signer.key are kept as ``chain.<UTC stamp>.pem`` / ``signer.<UTC stamp>.key``.

    Raises PkiError ``pki_missing`` without root.pem/root.key, ``pki_invalid`` if the root cannot issue.
    """
    _check_days(leaf_days=leaf_days)
    directory = Path(directory)
    root_path, root_key_path, chain_path, signer_key_path = _paths(directory)
    try:
        root_pem, root_key_pem = root_path.read_bytes(), root_key_path.read_bytes()
    except FileNotFoundError as exc:
        raise PkiError("pki_missing", f"{exc.filename} does not exist; create the PKI first (`manage.py init_pki`).",
                       details={"path": str(exc.filename)}) from None
    root = _load_chain(root_pem, str(root_path))[0]
    try:
        root_key = serialization.load_pem_private_key(root_key_pem, password=None)
    except (ValueError, TypeError):
        raise PkiError("pki_invalid", f"{root_key_path} is not a readable unencrypted PEM private key.",
                       details={"problems": ["unreadable_key"], "path": str(root_key_path)}) from None
    alg = _alg_for_key(root_key)
    moment = _now(now)
    problems = []
    constraints = _extension(root, x509.BasicConstraints)
    if constraints is None or not constraints.ca:
        problems.append("root_not_ca")
    if moment > root.not_valid_after_utc:
        problems.append("root_expired")
    if alg not in DEV_PKI_ALGS:
        problems.append(UNSUPPORTED_KEY)
    if _public_der(root_key.public_key()) != _public_der(root.public_key()):
        problems.append("key_mismatch")
    if problems or alg is None or not isinstance(root_key, ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey):
        raise PkiError("pki_invalid", f"The root in {directory} cannot issue a signing certificate: "
                       f"{', '.join(problems)}.", details={"problems": problems, "path": str(root_path)})
    if organization is None:
        names = root.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
        organization = str(names[0].value) if names else "Clearcue"
    leaf_key = _generate_key(alg)
    leaf = _leaf_certificate(leaf_key, root, root_key, organization, leaf_days, moment)
    # Write the new files beside the old ones first, so a failure leaves the working credential in place.
    staged_chain, staged_key = chain_path.with_name(".chain.new"), signer_key_path.with_name(".signer.new")
    _write(staged_key, _key_pem(leaf_key), _KEY_MODE)
    _write(staged_chain, _chain_pem([leaf, root]).encode(), _CERT_MODE)
    stamp = moment.strftime("%Y%m%dT%H%M%SZ")
    backups = []
    for current in (chain_path, signer_key_path):
        if current.exists():
            backup = _backup_path(current, stamp)
            os.replace(current, backup)
            backups.append(backup)
    os.replace(staged_key, signer_key_path)
    os.replace(staged_chain, chain_path)
    return PkiFiles(directory=directory, root_cert=root_path, root_key=root_key_path, chain=chain_path,
                    signer_key=signer_key_path, alg=alg, root_fingerprint_sha256=fingerprint_sha256(root),
                    leaf_fingerprint_sha256=fingerprint_sha256(leaf), leaf_not_after=leaf.not_valid_after_utc,
                    backups=tuple(backups), rotated=True)
