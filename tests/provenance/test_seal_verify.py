"""Sealing and verification end to end: a cleared job is watermarked and signed; the sealed files validate as
Trusted with our root; a byte flip makes them Invalid; a metadata-stripped MP3 still resolves to the job through
the watermark; the soft-binding resolution API answers per spec; bad uploads get 413/415/422 and never a 500.

One studio per module (building it trains a model): the module's tests share a sealed job and only read.
"""

from __future__ import annotations

import hashlib
import io
import json

import numpy as np
import pytest
from django.core.management import call_command
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from generation.models import Job, JobOutput, JobState
from licensing.models import EntryType, LedgerEntry
from provenance import credentials, media
from provenance.backends import trust_anchors, watermarker
from provenance.models import Credential, WatermarkPayload
from provenance.watermark import binding_value
from tests.generation import studio

pytestmark = pytest.mark.django_db

FORMATS = ["wav", "flac", "mp3", "m4a", "midi"]


@pytest.fixture
def sealed(operator_org, org_a, org_b, settings, tmp_path, ledger_key, data_dir, client_a,
           django_capture_on_commit_callbacks):
    """A completed commercial job of client A with every audio format, its outputs and their bytes."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.DATA_DIR = data_dir
    world = studio.build(operator_org, org_a, org_b)
    body = studio.request(world.model, formats=FORMATS, params={"duration": 12},
                          training_mining={"ai_inference": "allowed"})
    with django_capture_on_commit_callbacks(execute=True):
        response = client_a.api.post("/api/v1/jobs/", body, format="json", HTTP_IDEMPOTENCY_KEY="seal-1")
    job = Job.objects.get(pk=response.json()["id"])
    assert job.state == JobState.COMPLETED, (job.outcome_code, job.outcome_message)
    outputs = {o.kind: o for o in JobOutput.objects.filter(job=job)}
    files = {kind: output.file.open("rb").read() for kind, output in outputs.items()}
    return job, outputs, files


def upload(persona, data, content_type="audio/wav"):
    return persona.api.post("/api/v1/verify", data=data, content_type=content_type)


def stripped_mp3(wav: bytes) -> bytes:
    """The cue decoded and re-encoded to MP3 (64 kbps): no metadata survives."""
    decoded = media.decode(wav)
    return media.encode(decoded.audio, decoded.sample_rate, "mp3", bitrate_kbps=64)


def flip_audio_byte(signed: bytes) -> bytes:
    at = signed.index(b"data") + 8 + 5000
    return signed[:at] + bytes([signed[at] ^ 0x01]) + signed[at + 1:]


def test_every_audio_output_is_watermarked_signed_and_bound_in_the_ledger(sealed):
    job, outputs, files = sealed
    payload = WatermarkPayload.objects.get(job=job)
    sealed_entry = LedgerEntry.objects.get(entry_type=EntryType.OUTPUT_SEALED, subject_id=str(job.pk))
    seal = json.loads(bytes(sealed_entry.payload))["data"]["seal"]
    assert seal["watermark"]["value"] == payload.value and seal["binding"] == "sha256+c2pa+watermark"
    for kind in ("wav", "flac", "mp3", "m4a"):
        credential = Credential.objects.get(output=outputs[kind])
        assert credential.watermark == payload and seal["credentials"][kind] == credential.manifest_id
        report = credentials.read(files[kind], outputs[kind].media_type, trust_anchors())
        assert report.state == "Trusted", (kind, report.codes)
        assert report.manifest_id == credential.manifest_id
        assert report.training_mining() == {"data_mining": "notAllowed", "ai_inference": "allowed",
                                            "ai_generative_training": "notAllowed", "ai_training": "notAllowed"}
        assert report.assertion("c2pa.training-mining") and report.assertion("cawg.training-mining")
        binding = report.assertion("c2pa.soft-binding")
        assert binding["alg"] == payload.alg and binding["blocks"][0]["value"] == binding_value(payload.value)
        assert report.assertion("com.clearcue.training-manifest")["merkle_root"] == job.model.manifest.merkle_root
        assert {i.get("relationship") for i in report.ingredients} == {"inputTo"} and len(report.ingredients) == 2
        actions = [a["action"] for a in report.assertion("c2pa.actions")["actions"]]
        assert actions[:1] == ["c2pa.created"] and "c2pa.watermarked" in actions
        assert "MSA-A-2026" in json.dumps(report.assertion("cawg.metadata"))  # the client's contract terms
        ledger = report.assertion("com.clearcue.ledger")
        assert ledger["checkpoint"]["tree_size"] > max(e["leaf_index"] for e in ledger["entries"])
        detection = watermarker().detect(media.decode(files[kind]).audio, media.decode(files[kind]).sample_rate)
        assert detection.detected and detection.payload == payload.value, kind
    assert not hasattr(outputs["midi"], "credential") or not Credential.objects.filter(output=outputs["midi"]).exists()


def test_without_our_root_the_manifest_is_valid_but_untrusted_and_a_byte_flip_makes_it_invalid(sealed):
    _, _outputs, files = sealed
    untrusted = credentials.read(files["wav"], "audio/wav", None)
    assert untrusted.state == "Valid" and "signingCredential.untrusted" in untrusted.codes
    tampered = credentials.read(flip_audio_byte(files["wav"]), "audio/wav", trust_anchors())
    assert tampered.state == "Invalid" and "assertion.dataHash.mismatch" in tampered.codes


def test_the_owner_gets_the_full_report_with_proofs_rights_and_coverage(sealed, client_a):
    job, _outputs, files = sealed
    response = upload(client_a, files["wav"])
    assert response.status_code == 200, response.json()
    report = response.json()
    assert report["c2pa"]["state"] == "Trusted" and report["full"]
    assert report["resolved_by"] == ["sha256", "manifest", "watermark"]
    assert report["job"]["id"] == job.pk and report["output"]["kind"] == "wav" and not report["conflict"]
    assert report["watermark"]["detected"] and report["watermark"]["seconds"]
    assert report["ledger"]["verified"] and {e["entry_type"] for e in report["ledger"]["entries"]} >= {
        "job.submitted", "gate.decided", "watermark.allocated"}
    assert report["rights"]["at_generation"]["allowed"] and report["rights"]["now"]["allowed"]
    assert report["indemnification"]["covered"] and report["indemnification"]["tier"] == "standard"
    assert any(t["kind"] == "client_contract" and t["reference"] == "MSA-A-2026" for t in report["license_terms"])


def test_a_metadata_stripped_mp3_still_resolves_to_the_job_through_the_watermark(sealed, client_a):
    job, _, files = sealed
    copy = stripped_mp3(files["wav"])
    report = upload(client_a, copy, "audio/mpeg").json()
    assert report["c2pa"]["state"] == "Absent"
    assert report["resolved_by"] == ["watermark"] and report["job"]["id"] == job.pk
    assert report["indemnification"]["covered"]
    assert next(r["code"] for r in report["indemnification"]["reasons"]) == "watermark_copy"


def test_a_tampered_file_verifies_as_invalid_and_is_not_covered(sealed, client_a):
    _, _, files = sealed
    report = upload(client_a, flip_audio_byte(files["wav"])).json()
    assert report["c2pa"]["state"] == "Invalid" and report["clearcue_output"]
    assert not report["indemnification"]["covered"]
    assert "manifest_invalid" in [r["code"] for r in report["indemnification"]["reasons"]]


def test_other_tenants_and_the_public_learn_only_what_the_file_shows(sealed, client_b, anon, auditor):
    job, _, files = sealed
    for caller in (client_b, anon):
        api = caller.api if hasattr(caller, "api") else caller
        report = api.post("/api/v1/verify", data=files["wav"], content_type="audio/wav").json()
        assert report["clearcue_output"] and not report["full"]
        assert "job" not in report and "indemnification" not in report and "payload" not in report["watermark"]
    assert upload(auditor, files["wav"]).json()["job"]["id"] == job.pk


def test_soft_binding_resolution_api_answers_per_spec(sealed, anon):
    job, outputs, files = sealed
    payload = WatermarkPayload.objects.get(job=job)
    manifest_ids = sorted(Credential.objects.filter(watermark=payload).values_list("manifest_id", flat=True))
    algs = anon.get("/api/v1/softbinding/services/supportedAlgorithms").json()
    assert algs == {"watermarks": [{"alg": payload.alg}], "fingerprints": []}
    value = binding_value(payload.value)
    found = anon.get("/api/v1/softbinding/matches/byBinding", {"alg": payload.alg, "value": value}).json()
    assert sorted(m["manifestId"] for m in found["matches"]) == manifest_ids
    assert all(m["similarityScore"] == 100 for m in found["matches"])
    limited = anon.post("/api/v1/softbinding/matches/byBinding?maxResults=1", {"alg": payload.alg, "value": value},
                        format="json").json()
    assert len(limited["matches"]) == 1
    by_content = anon.post("/api/v1/softbinding/matches/byContent", data=stripped_mp3(files["wav"]),
                           content_type="audio/mpeg")
    assert by_content.status_code == 200 and by_content.json()["matches"]
    assert {m["manifestId"] for m in by_content.json()["matches"]} <= set(manifest_ids)
    manifest_id = Credential.objects.get(output=outputs["wav"]).manifest_id
    store = anon.get(f"/api/v1/softbinding/manifests/{manifest_id}")
    assert store.status_code == 200 and store["Content-Type"] == "application/c2pa"
    report = credentials.read_store(store.content, "audio/wav", files["wav"], trust_anchors())
    assert report.state == "Trusted" and report.manifest_id == manifest_id


@pytest.mark.parametrize(("path", "params", "status", "code"), [
    ("matches/byBinding", {"alg": "com.clearcue.audio-watermark.keyed.1", "value": "not base64!"}, 400,
     "bad_binding_value"),
    ("matches/byBinding", {"alg": "com.example.other.1", "value": "AAAAAQ=="}, 400, "unsupported_algorithm"),
    ("matches/byBinding", {"value": "AAAAAQ=="}, 400, "alg_required"),
    ("matches/byBinding", {"alg": "com.clearcue.audio-watermark.keyed.1", "value": "AAAAAQ==", "maxResults": "0"},
     400, "invalid_max_results"),
    ("manifests/urn:c2pa:00000000-0000-0000-0000-000000000000", {}, 404, "manifest_not_found"),
    ("manifests/not-a-urn", {}, 400, "invalid_manifest_id"),
])
def test_soft_binding_errors_have_the_spec_status_and_a_stable_code(db, anon, path, params, status, code):
    response = anon.get(f"/api/v1/softbinding/{path}", params)
    assert response.status_code == status and response.json()["error"]["code"] == code


def test_an_unknown_binding_value_matches_nothing(db, anon):
    found = anon.get("/api/v1/softbinding/matches/byBinding",
                     {"alg": "com.clearcue.audio-watermark.keyed.1", "value": "AAAAAQ=="})
    assert found.status_code == 200 and found.json() == {"matches": []}


def test_bad_uploads_get_clear_codes(db, anon, settings):
    assert anon.post("/api/v1/verify", data=b"hello, not audio", content_type="audio/wav").json()["error"][
        "code"] == "unsupported_media_type"
    truncated = b"RIFF\x24\x00\x00\x00WAVEfmt "
    response = anon.post("/api/v1/verify", data=truncated, content_type="audio/wav")
    assert response.status_code == 422 and response.json()["error"]["code"] == "undecodable_media"
    assert anon.post("/api/v1/verify", data=b"", content_type="audio/wav").json()["error"]["code"] == "file_required"
    settings.VERIFY_MAX_BYTES = 2048
    response = anon.post("/api/v1/verify", data=b"RIFF" + bytes(4096), content_type="audio/wav")
    assert response.status_code == 413 and response.json()["error"]["code"] == "media_too_large"
    response = anon.post("/api/v1/softbinding/matches/byContent", data=b"%PDF-1.7 ...", content_type="application/pdf")
    assert response.status_code == 415


def test_multipart_upload_works_like_a_raw_body(sealed, client_a):
    job, _, files = sealed
    response = client_a.api.post("/api/v1/verify", {"file": io.BytesIO(files["flac"])}, format="multipart")
    assert response.status_code == 200 and response.json()["job"]["id"] == job.pk


def test_the_cli_verifies_a_sealed_file_and_fails_a_tampered_one(sealed, tmp_path):
    job, _, files = sealed
    good, bad = tmp_path / "cue.wav", tmp_path / "tampered.wav"
    good.write_bytes(files["wav"])
    bad.write_bytes(flip_audio_byte(files["wav"]))
    out = io.StringIO()
    call_command("verify", str(good), stdout=out)
    assert "C2PA: Trusted" in out.getvalue() and f"job {job.pk}" in out.getvalue() and "COVERED" in out.getvalue()
    with pytest.raises(SystemExit) as exit_info:
        call_command("verify", str(bad), stdout=io.StringIO())
    assert exit_info.value.code == 1


WAV_HEADER = (b"RIFF\x00\x10\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\x80\xbb\x00\x00"
              b"\x00\x77\x01\x00\x02\x00\x10\x00data")


@hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.one_of(st.binary(max_size=4096), st.binary(max_size=4096).map(lambda b: WAV_HEADER + b),
                      st.binary(max_size=2048).map(lambda b: b"fLaC" + b), st.binary(max_size=2048).map(
                          lambda b: b"ID3\x04\x00\x00\x00\x00\x00\x00" + b)))
def test_the_upload_path_never_crashes_on_arbitrary_bytes(db, anon, body):
    response = anon.post("/api/v1/verify", data=body, content_type="application/octet-stream")
    assert response.status_code in (200, 400, 413, 415, 422), response.content[:300]
    if response.status_code != 200:
        assert response.json()["error"]["code"]
    else:
        assert not response.json()["clearcue_output"]


def test_verification_of_the_sealed_file_names_its_sha(sealed, client_a):
    _, outputs, files = sealed
    report = upload(client_a, files["wav"]).json()
    assert report["sha256"] == hashlib.sha256(files["wav"]).hexdigest() == outputs["wav"].sha256


def test_by_content_ranks_an_unconfirmed_hint_below_what_the_audio_carries(sealed, anon):
    job, _, files = sealed
    payload = WatermarkPayload.objects.get(job=job)
    silence = media.encode(np.zeros((48_000 * 12, 2), dtype="float32"), 48_000, "wav")
    query = f"?hintAlg={payload.alg}&hintValue={binding_value(payload.value).replace('+', '%2B')}"
    hinted = anon.post("/api/v1/softbinding/matches/byContent" + query, data=silence, content_type="audio/wav")
    assert hinted.status_code == 200 and hinted.json()["matches"]
    assert all(m["similarityScore"] == 50 for m in hinted.json()["matches"])
    confirmed = anon.post("/api/v1/softbinding/matches/byContent" + query, data=files["wav"], content_type="audio/wav")
    assert all(m["similarityScore"] > 50 for m in confirmed.json()["matches"])
    bad = anon.post(f"/api/v1/softbinding/matches/byContent?hintAlg={payload.alg}&hintValue=%%%",
                    data=silence, content_type="audio/wav")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "bad_binding_value"


def test_a_payload_is_allocated_once_per_job_and_can_never_be_edited(sealed):
    from django.db import DatabaseError, transaction

    from licensing.ledger import Actor
    from provenance.actions import do_allocate_payload

    job, _, _ = sealed
    first = WatermarkPayload.objects.get(job=job)
    again = do_allocate_payload(job, alg=first.alg, bits=first.bits, key_id=first.key_id, actor=Actor.system("t"))
    assert again.pk == first.pk  # a re-run of the seal step reuses the payload
    assert LedgerEntry.objects.filter(entry_type=EntryType.WATERMARK_ALLOCATED, subject_id=str(job.pk)).count() == 1
    with pytest.raises(DatabaseError), transaction.atomic():
        WatermarkPayload.objects.filter(pk=first.pk).update(value=first.value + 1)
    with pytest.raises(DatabaseError), transaction.atomic():
        Credential.objects.filter(watermark=first).delete()


def test_a_job_that_cannot_be_watermarked_fails_closed_and_releases_nothing(
        operator_org, org_a, org_b, settings, tmp_path, ledger_key, data_dir, client_a,
        django_capture_on_commit_callbacks):
    from provenance import backends

    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.DATA_DIR = data_dir
    world = studio.build(operator_org, org_a, org_b)
    settings.WATERMARK_KEYS = None
    settings.WATERMARK_KEYS_PATH = tmp_path / "missing.keys"
    backends.reset()
    try:
        with django_capture_on_commit_callbacks(execute=True):
            response = client_a.api.post("/api/v1/jobs/", studio.request(world.model), format="json",
                                         HTTP_IDEMPOTENCY_KEY="no-key")
        job = Job.objects.get(pk=response.json()["id"])
    finally:
        backends.reset()
    assert job.state == JobState.FAILED and job.outcome_code == "watermark_key_missing"
    assert not JobOutput.objects.filter(job=job).exists() and not WatermarkPayload.objects.filter(job=job).exists()
    assert client_a.api.get(f"/api/v1/jobs/{job.pk}/outputs/wav/").status_code == 409


def test_training_mining_choices_are_validated_before_anything_is_stored(sealed, client_a):
    job, _, _ = sealed
    body = studio.request(job.model, training_mining={"ai_training": "maybe", "scraping": "allowed"})
    response = client_a.api.post("/api/v1/jobs/", body, format="json", HTTP_IDEMPOTENCY_KEY="tm-bad")
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_training_mining"
    assert response.json()["error"]["details"] == {"uses": ["scraping"], "choices": ["maybe"]}
    assert not Job.objects.filter(idempotency_key="tm-bad").exists()
    listed = client_a.api.get(f"/api/v1/jobs/{job.pk}/").json()
    assert listed["training_mining"] == {"ai_inference": "allowed"}
    assert {o["kind"]: bool(o["manifest_id"]) for o in listed["outputs"]} == {
        "wav": True, "flac": True, "mp3": True, "m4a": True, "midi": False}
