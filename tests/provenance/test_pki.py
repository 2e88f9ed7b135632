"""The development PKI, leaf checks and signing identities (provenance.pki) and the init_pki command."""

from __future__ import annotations

import stat
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from django.core.management import CommandError, call_command

from provenance import pki

NOW = datetime.now(UTC)


def _key_pem(key: Any) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def issue_leaf_cert(root: x509.Certificate, root_key: Any, leaf_key: Any | None = None, *, ca: bool = False,
                    digital_signature: bool = True, key_cert_sign: bool = False,
                    eku: list[x509.ObjectIdentifier] | None = None, aki: bool = True,
                    not_before: datetime | None = None, not_after: datetime | None = None) -> tuple[Any, str]:
    """A leaf issued by `root`, fit for C2PA unless an argument breaks it; returns (leaf key, leaf PEM)."""
    leaf_key = leaf_key if leaf_key is not None else ec.generate_private_key(ec.SECP256R1())
    usage = x509.KeyUsage(digital_signature=digital_signature, content_commitment=False, key_encipherment=False,
                          data_encipherment=False, key_agreement=False, key_cert_sign=key_cert_sign, crl_sign=False,
                          encipher_only=False, decipher_only=False)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test Leaf"),
                                 x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Clearcue Tests")]))
        .issuer_name(root.subject)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or NOW - timedelta(hours=1))
        .not_valid_after(not_after or NOW + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.ExtendedKeyUsage(eku if eku is not None else [ExtendedKeyUsageOID.EMAIL_PROTECTION]),
                       critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(leaf_key.public_key()), critical=False)
    )
    if aki:
        ski = root.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        builder = builder.add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski),
                                        critical=False)
    hash_algorithm = None if isinstance(root_key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return leaf_key, _pem(builder.sign(root_key, hash_algorithm))


def load_root(files: pki.PkiFiles) -> tuple[x509.Certificate, Any]:
    """The dev PKI's root certificate and key."""
    root = x509.load_pem_x509_certificate(files.root_cert.read_bytes())
    return root, serialization.load_pem_private_key(files.root_key.read_bytes(), None)


@pytest.fixture(scope="module")
def dev_pki(tmp_path_factory: pytest.TempPathFactory) -> pki.PkiFiles:
    return pki.create_dev_pki(tmp_path_factory.mktemp("pki"))


# --- create_dev_pki / issue_leaf ---------------------------------------------------------------------------

@pytest.mark.parametrize("alg", ["es256", "ed25519"])
def test_dev_pki_writes_root_and_signer_with_keys_readable_only_by_owner(tmp_path: Path, alg: str) -> None:
    files = pki.create_dev_pki(tmp_path / "pki", alg=alg, organization="Clearcue Studio")
    assert {p.name for p in (tmp_path / "pki").iterdir()} == {"root.pem", "root.key", "chain.pem", "signer.key"}
    for key in (files.root_key, files.signer_key):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
        assert b"BEGIN PRIVATE KEY" in key.read_bytes()  # PKCS#8
    chain = x509.load_pem_x509_certificates(files.chain.read_bytes())
    root = x509.load_pem_x509_certificate(files.root_cert.read_bytes())
    assert len(chain) == 2 and chain[1] == root and chain[0].issuer == root.subject
    assert pki.check_leaf(files.chain.read_text()) == []
    identity = pki.load_identity(files.chain, files.signer_key)
    assert identity.alg == alg and identity.sign is None and "O=Clearcue Studio" in identity.subject
    assert files.root_fingerprint_sha256 == pki.fingerprint_sha256(root)


def test_dev_root_is_a_critical_ca_that_only_signs_certificates(dev_pki: pki.PkiFiles) -> None:
    root = x509.load_pem_x509_certificate(dev_pki.root_cert.read_bytes())
    constraints = root.extensions.get_extension_for_class(x509.BasicConstraints)
    usage = root.extensions.get_extension_for_class(x509.KeyUsage)
    assert constraints.critical and constraints.value.ca
    assert usage.critical and usage.value.key_cert_sign and usage.value.crl_sign and not usage.value.digital_signature
    root.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)


def test_dev_leaf_carries_what_c2pa_validators_demand(dev_pki: pki.PkiFiles) -> None:
    leaf = x509.load_pem_x509_certificates(dev_pki.chain.read_bytes())[0]
    usage = leaf.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature and not usage.value.key_cert_sign
    assert ExtendedKeyUsageOID.EMAIL_PROTECTION in leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)
    leaf.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    assert leaf.not_valid_before_utc <= datetime.now(UTC) <= leaf.not_valid_after_utc


def test_create_dev_pki_refuses_to_overwrite_unless_asked(tmp_path: Path) -> None:
    first = pki.create_dev_pki(tmp_path)
    with pytest.raises(pki.PkiError) as error:
        pki.create_dev_pki(tmp_path)
    assert error.value.code == "pki_exists" and str(first.root_key) in error.value.details["paths"]
    assert pki.fingerprint_sha256(first.root_cert.read_bytes()) == first.root_fingerprint_sha256
    second = pki.create_dev_pki(tmp_path, overwrite=True)
    assert second.root_fingerprint_sha256 != first.root_fingerprint_sha256


def test_create_dev_pki_rejects_unknown_algorithm_and_empty_validity(tmp_path: Path) -> None:
    for kwargs in ({"alg": "rsa"}, {"leaf_days": 0}, {"organization": " "}):
        with pytest.raises(pki.PkiError) as error:
            pki.create_dev_pki(tmp_path, **kwargs)
        assert error.value.code == "pki_invalid_request"
    assert list(tmp_path.iterdir()) == []


def test_leaf_never_outlives_its_root(tmp_path: Path) -> None:
    files = pki.create_dev_pki(tmp_path, root_days=10, leaf_days=365)
    root = x509.load_pem_x509_certificate(files.root_cert.read_bytes())
    assert files.leaf_not_after == root.not_valid_after_utc


def test_issue_leaf_rotates_the_signer_and_keeps_root_and_backups(tmp_path: Path) -> None:
    first = pki.create_dev_pki(tmp_path, alg="ed25519")
    old_chain, old_key, old_root = first.chain.read_bytes(), first.signer_key.read_bytes(), first.root_cert.read_bytes()
    rotated = pki.issue_leaf(tmp_path, leaf_days=30)
    assert rotated.rotated and rotated.alg == "ed25519" and rotated.written == (rotated.chain, rotated.signer_key)
    assert first.root_cert.read_bytes() == old_root and rotated.root_fingerprint_sha256 == first.root_fingerprint_sha256
    assert first.signer_key.read_bytes() != old_key and rotated.leaf_fingerprint_sha256 != first.leaf_fingerprint_sha256
    backup_chain, backup_key = rotated.backups
    assert backup_chain.read_bytes() == old_chain and backup_key.read_bytes() == old_key
    assert backup_chain.name.startswith("chain.") and backup_key.suffix == ".key"
    assert stat.S_IMODE(backup_key.stat().st_mode) == 0o600 and stat.S_IMODE(rotated.signer_key.stat().st_mode) == 0o600
    assert pki.load_identity(rotated.chain, rotated.signer_key).alg == "ed25519"
    again = pki.issue_leaf(tmp_path)  # same second: backups get distinct names
    assert len(set(again.backups) | set(rotated.backups)) == 4
    assert not list(tmp_path.glob(".*"))  # no staged files left behind


def test_issue_leaf_needs_an_existing_root(tmp_path: Path) -> None:
    with pytest.raises(pki.PkiError) as error:
        pki.issue_leaf(tmp_path)
    assert error.value.code == "pki_missing"


# --- check_leaf ------------------------------------------------------------------------------------------------

BAD_LEAVES: dict[str, dict[str, Any]] = {
    "leaf_is_ca": {"ca": True},
    "missing_eku_email_protection": {"eku": [ExtendedKeyUsageOID.CODE_SIGNING]},
    "missing_authority_key_identifier": {"aki": False},
    "missing_digital_signature": {"digital_signature": False},
    "key_cert_sign_on_leaf": {"key_cert_sign": True},
    "expired": {"not_before": NOW - timedelta(days=10), "not_after": NOW - timedelta(days=1)},
    "not_yet_valid": {"not_before": NOW + timedelta(days=1), "not_after": NOW + timedelta(days=10)},
    "unsupported_key": {"leaf_key": ed448.Ed448PrivateKey.generate()},
}


@pytest.mark.parametrize("problem", sorted(BAD_LEAVES))
def test_check_leaf_names_each_problem(dev_pki: pki.PkiFiles, problem: str) -> None:
    root, root_key = load_root(dev_pki)
    _, leaf_pem = issue_leaf_cert(root, root_key, **BAD_LEAVES[problem])
    assert pki.check_leaf(leaf_pem) == [problem]


def test_check_leaf_accepts_a_fit_leaf_and_flags_unreadable_input(dev_pki: pki.PkiFiles) -> None:
    root, root_key = load_root(dev_pki)
    assert pki.check_leaf(issue_leaf_cert(root, root_key)[1]) == []
    assert pki.check_leaf("not a certificate") == ["unreadable_certificate"]
    assert pki.check_leaf(b"") == ["unreadable_certificate"]


def test_check_leaf_uses_the_given_time(dev_pki: pki.PkiFiles) -> None:
    leaf_pem = dev_pki.chain.read_text()
    assert pki.check_leaf(leaf_pem, now=NOW + timedelta(days=400)) == ["expired"]
    assert pki.check_leaf(leaf_pem, now=NOW - timedelta(days=1)) == ["not_yet_valid"]


# --- load_identity / callback_identity ------------------------------------------------------------------------

def test_load_identity_reports_missing_files(tmp_path: Path, dev_pki: pki.PkiFiles) -> None:
    with pytest.raises(pki.PkiError) as error:
        pki.load_identity(tmp_path / "chain.pem", dev_pki.signer_key)
    assert error.value.code == "pki_missing" and error.value.details["path"].endswith("chain.pem")


def test_load_identity_refuses_an_unfit_leaf_with_its_problems(tmp_path: Path, dev_pki: pki.PkiFiles) -> None:
    root, root_key = load_root(dev_pki)
    key, leaf_pem = issue_leaf_cert(root, root_key, eku=[ExtendedKeyUsageOID.CODE_SIGNING], aki=False)
    (tmp_path / "chain.pem").write_text(leaf_pem + _pem(root))
    (tmp_path / "signer.key").write_text(_key_pem(key))
    with pytest.raises(pki.PkiError) as error:
        pki.load_identity(tmp_path / "chain.pem", tmp_path / "signer.key")
    assert error.value.code == "pki_invalid"
    assert error.value.details["problems"] == ["missing_eku_email_protection", "missing_authority_key_identifier"]


@pytest.mark.parametrize(("mutation", "problem"), [
    ("other-key", "key_mismatch"),
    ("garbage-key", "unreadable_key"),
    ("foreign-root", "chain_not_linked"),
    ("garbage-chain", "unreadable_certificate"),
])
def test_load_identity_refuses_mismatched_material(tmp_path: Path, dev_pki: pki.PkiFiles, mutation: str,
                                                   problem: str) -> None:
    chain, key = dev_pki.chain.read_text(), dev_pki.signer_key.read_text()
    if mutation == "other-key":
        key = _key_pem(ec.generate_private_key(ec.SECP256R1()))
    elif mutation == "garbage-key":
        key = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
    elif mutation == "foreign-root":
        other = pki.create_dev_pki(tmp_path / "other")
        leaf = chain.split("-----END CERTIFICATE-----")[0] + "-----END CERTIFICATE-----\n"
        chain = leaf + other.root_cert.read_text()
    else:
        chain = "nothing here"
    (tmp_path / "chain.pem").write_text(chain)
    (tmp_path / "signer.key").write_text(key)
    with pytest.raises(pki.PkiError) as error:
        pki.load_identity(tmp_path / "chain.pem", tmp_path / "signer.key")
    assert error.value.code == "pki_invalid" and problem in error.value.details["problems"]


def test_signing_identity_needs_exactly_one_key_source_and_an_http_tsa(dev_pki: pki.PkiFiles) -> None:
    chain = dev_pki.chain.read_text()
    with pytest.raises(pki.PkiError):
        pki.SigningIdentity(alg="es256", chain_pem=chain)
    with pytest.raises(pki.PkiError):
        pki.SigningIdentity(alg="es256", chain_pem=chain, key_pem="k", sign=lambda b: b)
    with pytest.raises(pki.PkiError) as error:
        pki.load_identity(dev_pki.chain, dev_pki.signer_key, tsa_url="ftp://tsa.example")
    assert error.value.details["problems"] == ["bad_tsa_url"]
    identity = pki.load_identity(dev_pki.chain, dev_pki.signer_key, tsa_url="http://timestamp.example")
    assert identity.tsa_url == "http://timestamp.example" and "PRIVATE KEY" not in repr(identity)


def test_callback_identity_checks_the_chain_and_the_algorithm(dev_pki: pki.PkiFiles) -> None:
    chain = dev_pki.chain.read_text()
    with pytest.raises(pki.PkiError) as error:
        pki.callback_identity(chain, "ed25519", lambda payload: b"x" * 64)
    assert error.value.details["problems"] == ["alg_mismatch"]
    with pytest.raises(pki.PkiError):
        pki.callback_identity(chain, "es512", lambda payload: b"")
    identity = pki.callback_identity(chain, "es256", pki.key_callback(dev_pki.signer_key.read_text()))
    assert identity.key_pem is None and identity.sign is not None


def _verify_es256(public_key: ec.EllipticCurvePublicKey, payload: bytes, raw: bytes) -> None:
    signature = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    public_key.verify(signature, payload, ec.ECDSA(hashes.SHA256()))


@pytest.mark.parametrize("encoding", ["der", "raw"])
def test_callback_identity_hands_c2pa_raw_r_s_for_es256(dev_pki: pki.PkiFiles, encoding: str) -> None:
    key = serialization.load_pem_private_key(dev_pki.signer_key.read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    sign: Callable[[bytes], bytes]
    if encoding == "der":  # what AWS/GCP KMS return
        def sign(payload: bytes) -> bytes:
            return key.sign(payload, ec.ECDSA(hashes.SHA256()))
    else:
        sign = pki.key_callback(dev_pki.signer_key.read_text())
    identity = pki.callback_identity(dev_pki.chain.read_text(), "es256", sign)
    assert identity.sign is not None
    raw = identity.sign(b"payload")
    assert len(raw) == 64
    _verify_es256(key.public_key(), b"payload", raw)


def test_key_callback_signs_ed25519_with_64_byte_signatures(tmp_path: Path) -> None:
    files = pki.create_dev_pki(tmp_path, alg="ed25519")
    key = serialization.load_pem_private_key(files.signer_key.read_bytes(), None)
    assert isinstance(key, ed25519.Ed25519PrivateKey)
    signature = pki.key_callback(files.signer_key.read_text())(b"payload")
    assert len(signature) == 64
    key.public_key().verify(signature, b"payload")


# --- trust anchors ---------------------------------------------------------------------------------------------

def test_load_trust_anchors_returns_the_pem_bundle(tmp_path: Path, dev_pki: pki.PkiFiles) -> None:
    other = pki.create_dev_pki(tmp_path / "other")
    bundle = tmp_path / "anchors.pem"
    bundle.write_text("# our roots\n" + dev_pki.root_cert.read_text() + other.root_cert.read_text())
    anchors = pki.load_trust_anchors(bundle)
    assert len(x509.load_pem_x509_certificates(anchors.encode())) == 2 and not anchors.startswith("#")


@pytest.mark.parametrize(("content", "code"), [(None, "pki_missing"), ("", "pki_invalid"), ("  \n", "pki_invalid"),
                                               ("hello", "pki_invalid")])
def test_load_trust_anchors_refuses_missing_empty_or_non_certificates(tmp_path: Path, content: str | None,
                                                                      code: str) -> None:
    path = tmp_path / "anchors.pem"
    if content is not None:
        path.write_text(content)
    with pytest.raises(pki.PkiError) as error:
        pki.load_trust_anchors(path)
    assert error.value.code == code


# --- init_pki ----------------------------------------------------------------------------------------------------

def test_init_pki_writes_the_pki_and_prints_the_root_fingerprint(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                                                  ) -> None:
    call_command("init_pki", "--dir", str(tmp_path), "--alg", "ed25519", "--organization", "Studio")
    out = capsys.readouterr().out
    root = tmp_path / "root.pem"
    assert pki.fingerprint_sha256(root.read_bytes()) in out
    for name in ("root.pem", "root.key", "chain.pem", "signer.key"):
        assert f"wrote {tmp_path / name}" in out
    assert stat.S_IMODE((tmp_path / "signer.key").stat().st_mode) == 0o600
    assert pki.load_identity(tmp_path / "chain.pem", tmp_path / "signer.key").alg == "ed25519"


def test_init_pki_refuses_to_overwrite_then_rotates_or_forces(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                                               ) -> None:
    call_command("init_pki", "--dir", str(tmp_path))
    root = (tmp_path / "root.pem").read_bytes()
    key = (tmp_path / "signer.key").read_bytes()
    with pytest.raises(CommandError, match="pki_exists"):
        call_command("init_pki", "--dir", str(tmp_path))
    assert (tmp_path / "signer.key").read_bytes() == key
    capsys.readouterr()
    call_command("init_pki", "--dir", str(tmp_path), "--rotate-leaf")
    out = capsys.readouterr().out
    assert "kept" in out and (tmp_path / "root.pem").read_bytes() == root
    assert (tmp_path / "signer.key").read_bytes() != key
    call_command("init_pki", "--dir", str(tmp_path), "--force")
    assert (tmp_path / "root.pem").read_bytes() != root


def test_init_pki_defaults_to_the_configured_directory(tmp_path: Path, settings: Any) -> None:
    settings.CLEARCUE_PKI_DIR = tmp_path / "configured"
    call_command("init_pki")
    assert (tmp_path / "configured" / "chain.pem").exists()
