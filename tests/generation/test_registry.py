"""Model registry end to end: train on cleared works, manifest + model in the ledger, ship, re-register, summary."""

from __future__ import annotations

import hashlib
import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction

from clearcue.exceptions import DomainError
from generation import registry
from generation.manifest import ManifestRecord, MembershipProof, root_of, verify_membership
from generation.models import GenerationModel, ManifestEntry, TrainingManifest
from licensing import actions as licensing_actions
from licensing import rights
from licensing.ledger import Actor, verify_ledger
from licensing.models import EntryType, LedgerEntry, Work

pytestmark = pytest.mark.django_db
TRAIN = ["--steps", "30", "--d-model", "32", "--layers", "1", "--batch-size", "4", "--block-size", "64"]


@pytest.fixture
def catalog(operator_org, settings, tmp_path, ledger_key, data_dir):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.DATA_DIR = data_dir
    call_command("ingest_reference_catalog", only="josquin,leadSheet,lusitano", as_of_year=2026,
                 stdout=io.StringIO())
    return {w.source_key: w for w in Work.objects.all()}


def _train(version: str = "t1", *extra: str) -> GenerationModel:
    out = io.StringIO()
    call_command("train_model", "--model-version", version, "--seed", "3", *TRAIN, *extra, stdout=out)
    return GenerationModel.objects.get(name=registry.DEFAULT_NAME, version=version)


def test_train_model_trains_only_on_works_cleared_for_training_and_records_them(catalog):
    model = _train()
    manifest = model.manifest
    entries = list(manifest.entries.order_by("position"))
    allowed = set(rights.evaluate([w.pk for w in catalog.values()], "ai_training", "US").allowed_ids())
    assert entries and {e.work_id for e in entries} <= allowed
    reserved = [w for w in catalog.values() if w.rights_status == "reserved"]
    assert reserved and not {w.pk for w in reserved} & {e.work_id for e in entries}
    records = [ManifestRecord(e.work_key, e.asset_sha256, e.license_key, e.basis) for e in entries]
    assert root_of(records).hex() == manifest.merkle_root
    assert [e.work_key for e in entries] == sorted(e.work_key for e in entries)
    for entry in entries:
        assert entry.asset_sha256 == entry.work.asset_sha256
        assert entry.license.key == entry.license_key
    card = model.model_card
    assert card["training_data"]["works"] == manifest.work_count == len(entries)
    assert card["training_data"]["denied_by_reason"]["no_license"] == len(reserved)
    assert card["training"]["metrics"]["validation_loss"] is None or card["training"]["metrics"]["validation_loss"] > 0


def test_manifest_and_model_are_ledger_entries_that_verify(catalog, ledger_key):
    model = _train()
    manifest_entry = LedgerEntry.objects.get(leaf_index=model.manifest.ledger_index)
    model_entry = LedgerEntry.objects.get(leaf_index=model.ledger_index)
    assert manifest_entry.entry_type == EntryType.MANIFEST_CREATED
    assert model_entry.entry_type == EntryType.MODEL_REGISTERED
    payload = json.loads(bytes(model_entry.payload))
    assert payload["data"]["checkpoint_sha256"] == model.checkpoint_sha256
    assert payload["data"]["manifest_root"] == model.manifest.merkle_root
    assert json.loads(bytes(manifest_entry.payload))["data"]["work_count"] == model.manifest.work_count
    assert verify_ledger(verifier_keys=[ledger_key[1]]).ok


def test_the_registered_checkpoint_is_pinned_and_loads_into_a_working_engine(catalog):
    model = _train()
    engine = registry.engine_for(model)
    assert engine.style_tags == tuple(model.style_tags)
    plan = engine.plan("A quiet, tender morning by the sea.")
    composition = engine.compose(plan, seed=1)
    assert composition.material


def test_training_is_reproducible_for_a_seed(catalog):
    first = _train("a")
    second = _train("b")
    assert first.checkpoint_sha256 == second.checkpoint_sha256
    assert first.manifest.merkle_root == second.manifest.merkle_root


def test_a_second_registration_of_the_same_version_is_refused(catalog):
    _train()
    with pytest.raises(CommandError, match="model_exists"):
        _train()


def test_manifests_and_models_are_append_only(catalog):
    model = _train()
    for statement in ("UPDATE generation_generationmodel SET version = 'x'",
                      "DELETE FROM generation_manifestentry",
                      "UPDATE generation_trainingmanifest SET merkle_root = 'x'"):
        with pytest.raises(Exception), transaction.atomic(), connection.cursor() as cursor:  # noqa: B017
            cursor.execute(statement)
    assert GenerationModel.objects.get(pk=model.pk).version == "t1"


def test_an_exported_model_registers_elsewhere_only_if_the_catalog_reproduces_its_manifest(catalog, tmp_path):
    model = _train()
    shipped = tmp_path / "shipped"
    registry.export_model(model, shipped)
    meta = json.loads((shipped / "model.json").read_text())
    meta["version"] = "shipped"
    (shipped / "model.json").write_text(json.dumps(meta))
    manifest = json.loads((shipped / "manifest.json").read_text())
    manifest["name"] = "shipped-manifest"
    (shipped / "manifest.json").write_text(json.dumps(manifest))
    again = registry.register_shipped(shipped, actor=Actor.system("tests"))
    assert again.manifest.merkle_root == model.manifest.merkle_root
    assert again.checkpoint_sha256 == model.checkpoint_sha256
    assert registry.register_shipped(shipped, actor=Actor.system("tests")).pk == again.pk  # idempotent

    # Once one training work is revoked, the catalog no longer reproduces the manifest: refused.
    entry = model.manifest.entries.order_by("position").first()
    licensing_actions.do_revoke_license(entry.license, effective_at=None, reason="test",
                                        actor=Actor.system("tests"))
    meta["version"] = "after-revocation"
    (shipped / "model.json").write_text(json.dumps(meta))
    manifest["name"] = "after-revocation"
    (shipped / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(DomainError) as exc:
        registry.register_shipped(shipped, actor=Actor.system("tests"))
    assert exc.value.code == "manifest_not_reproduced"
    assert entry.work_key in exc.value.details["works"]


def test_a_tampered_shipped_checkpoint_is_refused(catalog, tmp_path):
    model = _train()
    shipped = tmp_path / "shipped"
    registry.export_model(model, shipped)
    data = bytearray((shipped / "checkpoint.pt").read_bytes())
    data[-100] ^= 1
    (shipped / "checkpoint.pt").write_bytes(bytes(data))
    meta = json.loads((shipped / "model.json").read_text())
    meta["version"] = "tampered"
    (shipped / "model.json").write_text(json.dumps(meta))
    with pytest.raises(DomainError) as exc:
        registry.register_shipped(shipped, actor=Actor.system("tests"))
    assert exc.value.code == "checkpoint_sha256_mismatch"


def test_the_api_serves_models_manifest_records_and_membership_proofs(catalog, client_a):
    model = _train()
    api = client_a.api
    listed = api.get("/api/v1/models/").json()
    assert listed["results"][0]["checkpoint_sha256"] == model.checkpoint_sha256
    manifest_id = model.manifest_id
    records = api.get(f"/api/v1/training-manifests/{manifest_id}/records/?page_size=500").json()["results"]
    assert len(records) == model.manifest.work_count
    inside = records[0]["work_key"]
    proof = api.get(f"/api/v1/training-manifests/{manifest_id}/proof/", {"work": inside}).json()
    root = bytes.fromhex(proof.pop("merkle_root"))
    assert verify_membership(MembershipProof.from_json(proof), root) is True
    reserved = next(w for w in catalog.values() if w.rights_status == "reserved")
    outside = f"{reserved.collection.slug}/{reserved.source_key}"
    proof = api.get(f"/api/v1/training-manifests/{manifest_id}/proof/", {"work": outside}).json()
    root = bytes.fromhex(proof.pop("merkle_root"))
    assert verify_membership(MembershipProof.from_json(proof), root) is False
    assert api.get(f"/api/v1/training-manifests/{manifest_id}/proof/").json()["error"]["code"] == "missing_work"


def test_the_training_content_summary_follows_the_eu_template(catalog, client_a):
    model = _train()
    api = client_a.api
    data = api.get(f"/api/v1/models/{model.pk}/training-summary/").json()
    assert set(data) >= {"1_general_information", "2_list_of_data_sources", "3_data_processing_aspects"}
    general = data["1_general_information"]
    assert general["model_name"] == model.name and general["training_data_size"]["symbolic_music_works"] > 0
    tdm = data["3_data_processing_aspects"]["3_1_respect_of_reservation_of_rights_from_text_and_data_mining_exception"]
    assert tdm["works_excluded_by_reason"]["no_license"] > 0
    sources = data["2_list_of_data_sources"]
    assert sources["2_3_data_crawled_and_scraped_from_online_sources"]["used"] is False
    collections = sources["2_2_private_non_publicly_available_datasets_obtained_from_third_parties"]["collections"]
    assert sum(c["works"] for c in collections) == model.manifest.work_count
    page = api.get(f"/api/v1/models/{model.pk}/training-summary/", {"view": "html"})
    assert page.status_code == 200 and b"Public summary of training content" in page.content
    assert model.manifest.merkle_root.encode() in page.content


def test_opt_outs_in_force_at_selection_are_counted_in_the_summary(catalog, client_a):
    from licensing.terms import Reservation, ReservedUse, Source, Subject, SubjectKind

    work = next(w for w in catalog.values() if w.rights_status == "open_license")
    licensing_actions.do_register_optouts(
        [Reservation(Subject(SubjectKind.WORK, str(work.pk)), frozenset({ReservedUse.AI_TRAINING}), Source.DIRECT,
                     {"request": "test"})], actor=Actor.system("tests"))
    model = _train()
    assert not ManifestEntry.objects.filter(manifest=model.manifest, work=work).exists()
    data = client_a.api.get(f"/api/v1/models/{model.pk}/training-summary/").json()
    tdm = data["3_data_processing_aspects"]["3_1_respect_of_reservation_of_rights_from_text_and_data_mining_exception"]
    assert tdm["opt_outs_by_source"] == {"direct": 1}
    assert tdm["works_excluded_by_reason"]["opted_out"] == 1


def test_manifest_needs_cleared_works(operator_org, ledger_key):
    with pytest.raises(CommandError, match="manifest_empty"):
        call_command("train_model", "--model-version", "x", *TRAIN, stdout=io.StringIO())
    assert not TrainingManifest.objects.exists()


def test_shipped_reference_model_files_are_pinned():
    meta = json.loads((registry.SHIPPED_DIR / "model.json").read_text())
    data = (registry.SHIPPED_DIR / meta["checkpoint"]).read_bytes()
    assert hashlib.sha256(data).hexdigest() == meta["checkpoint_sha256"]
    assert len(data) < 8_000_000
    manifest = json.loads((registry.SHIPPED_DIR / "manifest.json").read_text())
    records = [ManifestRecord.from_json(r) for r in manifest["records"]]
    assert root_of(records).hex() == manifest["merkle_root"] == meta["model_card"]["training_data"]["manifest_root"]
    assert len(records) == manifest["work_count"] > 1000
    # Trained past one epoch with style-tag dropout, so cues without a known style tag (STYLE_none) are in
    # distribution; the config that decided the weights is the one in the card and in the checkpoint.
    training = meta["model_card"]["training"]
    assert training["config"] == meta["config"]
    from generation.engines.reference.model import load_checkpoint

    _, payload = load_checkpoint(data, meta["checkpoint_sha256"])
    assert payload["training"]["config"] == meta["config"]
    assert meta["config"]["style_dropout"] > 0 and training["metrics"]["epochs"] >= 1





def test_the_admin_console_lists_models_and_manifests_read_only(catalog, staff):
    from django.test import Client

    model = _train()
    client = Client()
    client.force_login(staff.user)
    for url in ("/admin/generation/generationmodel/", "/admin/generation/trainingmanifest/",
                "/admin/generation/manifestentry/", f"/admin/generation/generationmodel/{model.pk}/change/"):
        response = client.get(url)
        assert response.status_code == 200, url
    page = client.get(f"/admin/generation/generationmodel/{model.pk}/change/").content.decode()
    assert f"/api/v1/models/{model.pk}/training-summary/?view=html" in page
    assert client.get("/admin/generation/generationmodel/add/").status_code == 403
