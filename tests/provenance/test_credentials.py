"""Content Credentials for outputs (provenance.credentials): the facts render, sign and read back intact."""

from __future__ import annotations

import hashlib
import io
import json
import random
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from provenance import credentials, pki
from provenance.credentials import CredentialError, ManifestFacts
from tests.licensing.c2pa_fixtures import flip_audio_byte, strip_manifest, wav_bytes
from tests.provenance.test_pki import issue_leaf_cert, load_root

PROMPT = "Night drive through rain, a slow synth pulse under distant brass"
FFMPEG = shutil.which("ffmpeg")


@pytest.fixture(scope="module")
def dev_pki(tmp_path_factory: pytest.TempPathFactory) -> pki.PkiFiles:
    return pki.create_dev_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def identity(dev_pki: pki.PkiFiles) -> pki.SigningIdentity:
    return pki.load_identity(dev_pki.chain, dev_pki.signer_key)


@pytest.fixture(scope="module")
def anchors(dev_pki: pki.PkiFiles) -> str:
    return pki.load_trust_anchors(dev_pki.root_cert)


def make_facts(media_type: str = "audio/wav", **changes: Any) -> ManifestFacts:
    """Facts as the seal step fills them, with every custom assertion; `changes` replace fields."""
    fields: dict[str, Any] = {
        "title": "Cue 14 - Night Drive",
        "media_type": media_type,
        "created_at": "2026-11-21T10:00:00+00:00",
        "software_agent": {"name": "Clearcue", "version": "0.1.0"},
        "model": {"slug": "orchestral", "name": "Orchestral", "version": "3", "engine": "transformer",
                  "model_card_sha256": "a" * 64, "checkpoint_sha256": "b" * 64,
                  "card_url": "https://clearcue.example/models/orchestral/3"},
        "prompt": {"text": PROMPT, "sha256": hashlib.sha256(PROMPT.encode()).hexdigest()},
        "soft_binding": {"alg": "com.clearcue.keyed.1", "value": "3q2+7w==", "start_ms": 0, "end_ms": 500},
        "training_mining": {"ai_inference": "allowed"},
        "license_terms": [{"license_id": "lic-7", "licensor": "Harbor Music", "licensee": "Client A",
                           "uses": ["sync", "broadcast"], "territories": ["EU"],
                           "attribution": "Contains material licensed from Harbor Music"}],
        "custom": {
            "attribution": {"top": [{"work": "harbor/12", "title": "Tide", "rights_holder": "Harbor", "share": 0.4}],
                            "contributors": 31, "digest": "c" * 64},
            "license-graph": {"digest": "d" * 64, "nodes": 40, "edges": 77},
            "training-manifest": {"merkle_root": "e" * 64, "works": 3000, "ledger_index": 5},
            "gate-decision": {"decisions": [{"stage": "pre", "allowed": True, "reasons": [], "policy_version": "2",
                                             "ledger_index": 9}]},
            "ledger": {"checkpoint": "clearcue.localhost/ledger\n12\nq80=\n\n\u2014 ledger AAAA\n",
                       "entries": [{"leaf_index": 9, "leaf_hash": "f" * 64, "inclusion_path": ["0" * 64]}]},
        },
    }
    fields.update(changes)
    return ManifestFacts(**fields)


def sign_with(identity: pki.SigningIdentity, data: bytes | None = None, media_type: str = "audio/wav",
              **changes: Any) -> credentials.Signed:
    manifest = credentials.build_manifest(make_facts(media_type, **changes))
    return credentials.sign(wav_bytes() if data is None else data, media_type, manifest, identity)


def _tone(seconds: float = 0.5, rate: int = 48_000) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


def flac_bytes() -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, _tone(), 48_000, format="FLAC")
    return buffer.getvalue()


def ffmpeg_bytes(tmp_path: Path, extension: str, codec: str) -> bytes:
    if FFMPEG is None:
        pytest.skip("ffmpeg is not installed")
    source, target = tmp_path / "tone.wav", tmp_path / f"tone.{extension}"
    soundfile.write(source, _tone(), 48_000)
    subprocess.run([FFMPEG, "-hide_banner", "-loglevel", "error", "-i", str(source), "-c:a", codec, "-b:a", "64k",
                    "-y", str(target)], check=True, timeout=30)
    return target.read_bytes()


def assert_every_assertion_present(report: credentials.CredentialReport) -> None:
    """What build_manifest wrote is what read returns."""
    base = {credentials._base_label(label) for label in report.assertions}
    assert {"c2pa.actions", "c2pa.soft-binding", "cawg.training-mining", "c2pa.training-mining",
            "cawg.metadata"} <= base
    assert {f"com.clearcue.{s}" for s in ("attribution", "license-graph", "training-manifest", "gate-decision",
                                          "ledger")} <= base
    actions = report.assertion("c2pa.actions")["actions"]
    assert [a["action"] for a in actions] == ["c2pa.created", "c2pa.watermarked"]
    created = actions[0]
    assert created["digitalSourceType"] == credentials.TRAINED_ALGORITHMIC_MEDIA
    assert created["softwareAgent"]["name"] == "Clearcue" and created["softwareAgent"]["version"] == "0.1.0"
    assert created["softwareAgent"]["com.clearcue.model"]["slug"] == "orchestral"
    assert len(created["parameters"]["ingredients"]) == 2  # ingredientIds became hashed ingredient links
    assert report.assertion("c2pa.soft-binding") == {
        "alg": "com.clearcue.keyed.1", "blocks": [{"scope": {"timespan": {"start": 0, "end": 500}},
                                                   "value": "3q2+7w=="}]}
    cawg = report.assertion("cawg.training-mining")["entries"]
    assert cawg["cawg.ai_generative_training"] == {"use": "notAllowed"} and cawg["cawg.ai_inference"] == {
        "use": "allowed"}
    assert report.assertion("c2pa.training-mining")["entries"]["c2pa.ai_training"] == {"use": "notAllowed"}
    metadata = report.assertion("cawg.metadata")
    assert metadata["dc:rights"] == "Contains material licensed from Harbor Music"
    assert metadata["clearcue:licenseTerms"][0]["license_id"] == "lic-7"
    model, prompt = report.ingredients
    assert model["relationship"] == prompt["relationship"] == "inputTo"
    assert model["data_types"][0]["type"] == "c2pa.types.model"
    assert model["metadata"]["com.clearcue.model"]["model_card_sha256"] == "a" * 64
    assert model["informational_URI"] == "https://clearcue.example/models/orchestral/3"
    assert prompt["data_types"] == [{"type": "c2pa.types.generator.prompt"}]
    assert prompt["metadata"]["com.clearcue.prompt"]["sha256"] == hashlib.sha256(PROMPT.encode()).hexdigest()
    assert report.ingredient_data[prompt["label"]] == PROMPT.encode()
    assert report.assertion("com.clearcue.ledger")["entries"][0]["leaf_index"] == 9


# --- sign and read ---------------------------------------------------------------------------------------------

def test_signed_wav_is_trusted_with_our_root_and_states_everything_we_wrote(identity: pki.SigningIdentity,
                                                                            anchors: str) -> None:
    signed = sign_with(identity)
    assert signed.manifest_id.startswith("urn:c2pa:") and signed.media_type == "audio/wav"
    assert signed.manifest_store[4:8] == b"jumb" and signed.manifest_store in signed.data
    report = credentials.read(signed.data, "audio/wav", anchors)
    assert report.state == "Trusted" and report.codes == () and report.manifest_id == signed.manifest_id
    assert report.signer_subject == identity.subject
    assert report.signer_issuer is not None and "Development Root CA" in report.signer_issuer
    assert report.signature_alg == "es256"
    assert_every_assertion_present(report)


@pytest.mark.parametrize(("media_type", "make"), [
    ("audio/flac", lambda tmp: flac_bytes()),
    ("audio/mpeg", lambda tmp: ffmpeg_bytes(tmp, "mp3", "libmp3lame")),
    ("audio/mp4", lambda tmp: ffmpeg_bytes(tmp, "m4a", "aac")),
])
def test_flac_mp3_and_m4a_outputs_sign_and_validate(identity: pki.SigningIdentity, anchors: str, tmp_path: Path,
                                                    media_type: str, make: Callable[[Path], bytes]) -> None:
    signed = sign_with(identity, make(tmp_path), media_type)
    report = credentials.read(signed.data, media_type, anchors)
    assert report.state == "Trusted", report.codes
    assert_every_assertion_present(report)


def test_without_our_root_an_intact_output_is_valid_but_untrusted(identity: pki.SigningIdentity) -> None:
    report = credentials.read(sign_with(identity).data, "audio/wav", None)
    assert report.state == "Valid" and report.codes == ("signingCredential.untrusted",)
    assert_every_assertion_present(report)


def test_a_flipped_audio_byte_makes_the_output_invalid(identity: pki.SigningIdentity, anchors: str) -> None:
    report = credentials.read(flip_audio_byte(sign_with(identity).data), "audio/wav", anchors)
    assert report.state == "Invalid" and "assertion.dataHash.mismatch" in report.codes
    assert report.summary()["title"] == "Cue 14 - Night Drive"  # what it claims still shows


def test_a_flipped_flac_sample_byte_makes_the_output_invalid(identity: pki.SigningIdentity, anchors: str) -> None:
    signed = bytearray(sign_with(identity, flac_bytes(), "audio/flac").data)
    signed[-20] ^= 0xFF  # inside the last audio frame; the manifest sits in a metadata block up front
    report = credentials.read(bytes(signed), "audio/flac", anchors)
    assert report.state == "Invalid" and "assertion.dataHash.mismatch" in report.codes


def test_an_unsigned_or_stripped_file_has_no_credentials(identity: pki.SigningIdentity, anchors: str) -> None:
    assert credentials.read(wav_bytes(), "audio/wav", anchors).state == "Absent"
    stripped = strip_manifest(sign_with(identity).data)
    report = credentials.read(stripped, "audio/x-wav", anchors)
    assert report.state == "Absent" and report.manifest_id is None and report.summary()["title"] is None


def test_summary_is_compact_and_json_able(identity: pki.SigningIdentity, anchors: str) -> None:
    summary = credentials.read(sign_with(identity).data, "audio/wav", anchors).summary()
    json.dumps(summary)
    assert summary["state"] == "Trusted" and summary["created"] == "2026-11-21T10:00:00+00:00"
    assert summary["generator"] == {"name": "Clearcue", "version": "0.1.0"}
    assert summary["model"] == {"slug": "orchestral", "name": "Orchestral", "version": "3", "engine": "transformer"}
    assert summary["training_mining"] == {"data_mining": "notAllowed", "ai_inference": "allowed",
                                          "ai_generative_training": "notAllowed", "ai_training": "notAllowed"}
    assert summary["soft_binding"] == {"alg": "com.clearcue.keyed.1", "value": "3q2+7w==", "start_ms": 0,
                                       "end_ms": 500}
    assert set(summary["custom"]) == {"attribution", "license-graph", "training-manifest", "gate-decision", "ledger"}


def test_each_signature_gets_its_own_manifest_id_unless_one_is_given(identity: pki.SigningIdentity,
                                                                     anchors: str) -> None:
    manifest = credentials.build_manifest(make_facts())
    first = credentials.sign(wav_bytes(), "audio/wav", manifest, identity)
    second = credentials.sign(wav_bytes(), "audio/wav", manifest, identity)
    assert first.manifest_id != second.manifest_id
    label = "urn:c2pa:12345678-1234-4234-8234-123456789abc"
    chosen = credentials.sign(wav_bytes(), "audio/wav", {**manifest, "label": label}, identity)
    assert chosen.manifest_id == label == credentials.read(chosen.data, "audio/wav", anchors).manifest_id
    with pytest.raises(CredentialError) as error:
        credentials.sign(wav_bytes(), "audio/wav", {**manifest, "label": "my-label"}, identity)
    assert error.value.code == "manifest_rejected"


def test_a_withheld_prompt_is_stated_by_its_digest_only(identity: pki.SigningIdentity, anchors: str) -> None:
    digest = hashlib.sha256(PROMPT.encode()).hexdigest()
    manifest = credentials.build_manifest(make_facts(prompt={"sha256": digest}))
    assert credentials.RESOURCES_KEY not in manifest and PROMPT not in json.dumps(manifest)
    report = credentials.read(credentials.sign(wav_bytes(), "audio/wav", manifest, identity).data, "audio/wav",
                              anchors)
    assert report.state == "Trusted" and report.ingredient_data == {}
    assert report.ingredients[1]["metadata"]["com.clearcue.prompt"] == {"sha256": digest, "embedded": False}


# --- other identities -----------------------------------------------------------------------------------------

def test_ed25519_pki_signs_and_validates(tmp_path: Path) -> None:
    files = pki.create_dev_pki(tmp_path, alg="ed25519")
    signed = sign_with(pki.load_identity(files.chain, files.signer_key))
    report = credentials.read(signed.data, "audio/wav", pki.load_trust_anchors(files.root_cert))
    assert report.state == "Trusted" and report.signature_alg == "ed25519"


@pytest.mark.parametrize("encoding", ["raw", "der"])
def test_a_callback_holding_the_es256_key_in_memory_signs_valid_credentials(dev_pki: pki.PkiFiles, anchors: str,
                                                                           encoding: str) -> None:
    key = serialization.load_pem_private_key(dev_pki.signer_key.read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    payloads: list[bytes] = []

    def kms(payload: bytes) -> bytes:
        payloads.append(payload)
        if encoding == "der":
            return key.sign(payload, ec.ECDSA(hashes.SHA256()))
        return pki.key_callback(dev_pki.signer_key.read_text())(payload)

    identity = pki.callback_identity(dev_pki.chain.read_text(), "es256", kms)
    report = credentials.read(sign_with(identity).data, "audio/wav", anchors)
    assert report.state == "Trusted" and len(payloads) == 1
    assert_every_assertion_present(report)


def test_an_ed25519_callback_signs_valid_credentials(tmp_path: Path) -> None:
    files = pki.create_dev_pki(tmp_path, alg="ed25519")
    identity = pki.callback_identity(files.chain.read_text(), "ed25519", pki.key_callback(files.signer_key.read_text()))
    report = credentials.read(sign_with(identity).data, "audio/wav", pki.load_trust_anchors(files.root_cert))
    assert report.state == "Trusted"


def test_a_ps256_callback_signs_valid_credentials(dev_pki: pki.PkiFiles, anchors: str) -> None:
    root, root_key = load_root(dev_pki)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    _, leaf_pem = issue_leaf_cert(root, root_key, key)

    def hsm(payload: bytes) -> bytes:
        return key.sign(payload, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32), hashes.SHA256())

    identity = pki.callback_identity(leaf_pem + root.public_bytes(serialization.Encoding.PEM).decode(), "ps256", hsm)
    assert credentials.read(sign_with(identity).data, "audio/wav", anchors).state == "Trusted"


def test_a_failing_callback_is_reported_with_its_own_error(dev_pki: pki.PkiFiles) -> None:
    def broken(payload: bytes) -> bytes:
        raise TimeoutError("KMS did not answer")

    identity = pki.callback_identity(dev_pki.chain.read_text(), "es256", broken)
    with pytest.raises(CredentialError) as error:
        sign_with(identity)
    assert error.value.code == "signing_failed" and "KMS did not answer" in error.value.message
    assert isinstance(error.value.__cause__, TimeoutError)


def test_a_callback_signing_with_the_wrong_key_fails_to_sign(dev_pki: pki.PkiFiles) -> None:
    other = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    identity = pki.callback_identity(dev_pki.chain.read_text(), "es256", pki.key_callback(other))
    with pytest.raises(CredentialError) as error:
        sign_with(identity)
    assert error.value.code == "signing_failed"


# --- detached stores ------------------------------------------------------------------------------------------

def test_a_detached_store_validates_against_the_signed_file_only(identity: pki.SigningIdentity,
                                                                 anchors: str) -> None:
    signed = sign_with(identity)
    report = credentials.read_store(signed.manifest_store, "audio/wav", signed.data, anchors)
    assert report.state == "Trusted" and report.manifest_id == signed.manifest_id
    stripped = credentials.read_store(signed.manifest_store, "audio/wav", strip_manifest(signed.data), anchors)
    assert stripped.state == "Invalid" and "assertion.dataHash.mismatch" in stripped.codes
    assert stripped.summary()["soft_binding"]["value"] == "3q2+7w=="
    with pytest.raises(CredentialError) as error:
        credentials.read_store(b"not jumbf", "audio/wav", signed.data, anchors)
    assert error.value.code == "c2pa_unreadable"


# --- refusals ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("changes", "code"), [
    ({"media_type": "audio/ogg"}, "c2pa_unsupported_format"),
    ({"training_mining": {"ai_training": "maybe"}}, "invalid_facts"),
    ({"training_mining": {"ai_dreaming": "allowed"}}, "invalid_facts"),
    ({"prompt": {"text": "other text", "sha256": "0" * 64}}, "invalid_facts"),
    ({"soft_binding": {"alg": "x", "value": "not base64!", "start_ms": 0, "end_ms": 1}}, "invalid_facts"),
    ({"soft_binding": {"alg": "x", "value": "AA==", "start_ms": 9, "end_ms": 1}}, "invalid_facts"),
    ({"created_at": "yesterday"}, "invalid_facts"),
    ({"custom": {"Bad Label": {}}}, "invalid_facts"),
    ({"custom": {"ledger": {"entries": []}}}, "invalid_facts"),
    ({"custom": {"attribution": {"digest": float("nan")}}}, "invalid_facts"),
])
def test_build_manifest_refuses_bad_facts_with_a_code(changes: dict[str, Any], code: str) -> None:
    with pytest.raises(CredentialError) as error:
        credentials.build_manifest(make_facts(**changes))
    assert error.value.code == code


def test_model_without_digests_is_refused() -> None:
    with pytest.raises(CredentialError) as error:
        credentials.build_manifest(make_facts(model={"slug": "m", "version": "1", "engine": "e",
                                                     "model_card_sha256": "A" * 64, "checkpoint_sha256": "b" * 64}))
    assert error.value.details["field"] == "model.model_card_sha256"


def test_a_manifest_past_the_cap_is_refused(identity: pki.SigningIdentity) -> None:
    huge = {"digest": "c" * 64, "top": [{"work": f"w{i}", "share": 0.001} for i in range(20_000)]}
    with pytest.raises(CredentialError) as error:
        credentials.build_manifest(make_facts(custom={"attribution": huge}))
    assert error.value.code == "manifest_too_large" and error.value.details["size"] > credentials.MAX_MANIFEST_BYTES
    small = credentials.build_manifest(make_facts())
    with pytest.raises(CredentialError) as error:
        credentials.sign(wav_bytes(), "audio/wav", small, identity, max_bytes=1024)
    assert error.value.code == "manifest_too_large"


def test_sign_refuses_unsupported_types_and_unreadable_audio(identity: pki.SigningIdentity) -> None:
    manifest = credentials.build_manifest(make_facts())
    with pytest.raises(CredentialError) as error:
        credentials.sign(b"OggS....", "audio/ogg", manifest, identity)
    assert error.value.code == "c2pa_unsupported_format"
    with pytest.raises(CredentialError) as error:
        credentials.sign(b"garbage" * 20, "audio/wav", manifest, identity)
    assert error.value.code == "c2pa_unreadable"


def test_facts_round_trip_through_plain_json() -> None:
    facts = make_facts()
    again = ManifestFacts.from_dict(json.loads(json.dumps(facts.to_dict())))
    assert credentials.build_manifest(again) == credentials.build_manifest(facts)
    with pytest.raises(CredentialError) as error:
        ManifestFacts.from_dict({"title": "x"})
    assert error.value.code == "invalid_facts"


@pytest.mark.parametrize(("data", "media_type", "code"), [
    (b"", "audio/wav", "c2pa_unreadable"),
    (b"garbage" * 100, "audio/wav", "c2pa_unreadable"),
    (b"\x00" * 64, "audio/mp4", "c2pa_unreadable"),
    (b"anything", "audio/ogg", "c2pa_unsupported_format"),
    (b"anything", "text/plain", "c2pa_unsupported_format"),
])
def test_read_turns_garbage_into_credential_errors(data: bytes, media_type: str, code: str) -> None:
    with pytest.raises(CredentialError) as error:
        credentials.read(data, media_type, None)
    assert error.value.code == code


def test_a_file_that_only_links_a_remote_manifest_is_absent_and_never_fetched(identity: pki.SigningIdentity) -> None:
    import c2pa

    assert identity.key_pem is not None
    signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, identity.chain_pem.encode(),
                                                       identity.key_pem.encode(), None))
    withheld = make_facts(prompt={"sha256": hashlib.sha256(PROMPT.encode()).hexdigest()})
    builder = c2pa.Builder(json.dumps(credentials.build_manifest(withheld)))
    builder.set_remote_url("https://manifests.example/m.c2pa")
    builder.set_no_embed()
    linked = io.BytesIO()
    builder.sign(signer, "audio/wav", io.BytesIO(wav_bytes()), linked)
    report = credentials.read(linked.getvalue(), "audio/wav", None)
    assert report.state == "Absent" and report.remote_url == "https://manifests.example/m.c2pa"


@pytest.mark.parametrize(("data", "media_type"), [(b"RIFF\x04\x00\x00\x00WAVE", "audio/wav"),
                                                 (b"fLaC" + bytes(50), "audio/flac")])
def test_a_bare_container_header_reads_as_absent(data: bytes, media_type: str) -> None:
    assert credentials.read(data, media_type, None).state == "Absent"


def test_read_of_truncated_or_damaged_outputs_never_raises_anything_else(identity: pki.SigningIdentity,
                                                                         anchors: str) -> None:
    signed = sign_with(identity).data
    chunk = signed.index(b"C2PA")
    rng = random.Random(7)
    cases = [signed[:n] for n in (8, 12, 44, chunk, chunk + 8, chunk + 100, len(signed) - 1)]
    for _ in range(25):  # byte flips anywhere, mostly inside the manifest store
        damaged = bytearray(signed)
        damaged[rng.randrange(chunk, len(signed)) if rng.random() < 0.8 else rng.randrange(len(signed))] ^= 0xFF
        cases.append(bytes(damaged))
    for data in cases:
        try:
            report = credentials.read(data, "audio/wav", anchors)
        except CredentialError as error:
            assert error.code == "c2pa_unreadable"
        else:
            assert report.state in ("Invalid", "Absent", "Valid", "Trusted")
            json.dumps(report.summary())


def test_c2pa_refuses_to_sign_with_a_leaf_validators_would_refuse(dev_pki: pki.PkiFiles) -> None:
    """load_identity catches this earlier (check_leaf); an identity built by hand fails at signing, not later."""
    root, root_key = load_root(dev_pki)
    key, leaf_pem = issue_leaf_cert(root, root_key, eku=[x509.ObjectIdentifier("1.3.6.1.5.5.7.3.36")])  # docSigning
    identity = pki.SigningIdentity(alg="es256", chain_pem=leaf_pem + root.public_bytes(
        serialization.Encoding.PEM).decode(), key_pem=key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode())
    with pytest.raises(CredentialError) as error:
        sign_with(identity)
    assert error.value.code == "signing_failed" and "signingCredential.invalid" in error.value.message
