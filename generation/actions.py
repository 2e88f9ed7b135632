"""State changes in generation. Every one writes its ledger entry in the same transaction."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from clearcue.exceptions import DomainError
from generation.manifest import LEAF_FORMAT, root_of
from generation.models import GenerationModel, ManifestEntry, TrainingManifest
from generation.training import Selection
from licensing.actions import _bulk_insert, _LedgerPlan
from licensing.ledger import Actor, EntryDraft, format_time
from licensing.models import EntryType


def json_digest(value: Any) -> str:
    """SHA-256 of a JSON value in sorted-key compact form (for configs and cards, which may hold floats)."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def do_create_training_manifest(selection: Selection, *, name: str, actor: Actor) -> TrainingManifest:
    """Record a training set (`manifest.created`): its works, their clearing licenses, and the Merkle root."""
    if not selection.records:
        raise DomainError("manifest_empty", "No work is cleared for training under this selection.",
                          details={"criteria": selection.criteria, "denied": selection.denied})
    with transaction.atomic():
        if TrainingManifest.objects.filter(name=name).exists():
            raise DomainError("manifest_exists", f"A training manifest named {name!r} already exists.",
                              details={"name": name}, status=409)
        root = root_of(selection.records).hex()
        plan = _LedgerPlan()
        now = timezone.now()
        manifest = TrainingManifest.objects.create(
            name=name, territory=selection.territory, evaluated_at=selection.evaluated_at,
            ledger_size=selection.ledger_size, selection=selection.criteria, work_count=len(selection.records),
            merkle_root=root, leaf_format=LEAF_FORMAT, created_at=now, ledger_index=plan.reserve())
        _bulk_insert(ManifestEntry, [
            ManifestEntry(manifest=manifest, position=i, work=selection.works[r.work], work_key=r.work,
                          asset_sha256=r.sha256, license=selection.licenses[r.license], license_key=r.license,
                          basis=r.basis)
            for i, r in enumerate(selection.records)])
        plan.fill(manifest.ledger_index, EntryDraft(EntryType.MANIFEST_CREATED, {
            "name": name, "merkle_root": root, "leaf_format": LEAF_FORMAT, "work_count": manifest.work_count,
            "use": manifest.use, "territory": manifest.territory,
            "evaluated_at": format_time(selection.evaluated_at), "ledger_size": selection.ledger_size,
            "criteria": json.loads(json.dumps(selection.criteria)),
        }, "training_manifest", str(manifest.pk)))
        plan.commit(actor=actor)
    return manifest


def do_register_model(*, name: str, version: str, engine: str, config: dict[str, Any], checkpoint: bytes,
                      manifest: TrainingManifest, style_tags: Sequence[str], model_card: dict[str, Any],
                      actor: Actor) -> GenerationModel:
    """Register a generator (`model.registered`) with its checkpoint pinned by SHA-256 and its manifest."""
    digest = hashlib.sha256(checkpoint).hexdigest()
    with transaction.atomic():
        if GenerationModel.objects.filter(name=name, version=version).exists():
            raise DomainError("model_exists", f"Model {name}@{version} is already registered.",
                              details={"name": name, "version": version}, status=409)
        storage_name = f"models/{digest}.pt"
        if not default_storage.exists(storage_name):  # content-addressed: the same weights are stored once
            saved = default_storage.save(storage_name, ContentFile(checkpoint))
            if saved != storage_name:
                raise RuntimeError(f"storage renamed checkpoint {storage_name} to {saved}")
        plan = _LedgerPlan()
        model = GenerationModel.objects.create(
            name=name, version=version, engine=engine, config=config, checkpoint=storage_name,
            checkpoint_sha256=digest, checkpoint_size=len(checkpoint), manifest=manifest,
            style_tags=sorted(set(style_tags)), model_card=model_card, created_at=timezone.now(),
            ledger_index=plan.reserve())
        plan.fill(model.ledger_index, EntryDraft(EntryType.MODEL_REGISTERED, {
            "name": name, "version": version, "engine": engine, "checkpoint_sha256": digest,
            "checkpoint_size": len(checkpoint), "manifest_id": manifest.pk, "manifest_root": manifest.merkle_root,
            "manifest_ledger_index": manifest.ledger_index, "style_tags": model.style_tags,
            "config_sha256": json_digest(config), "model_card_sha256": json_digest(model_card),
        }, "generation_model", str(model.pk)))
        plan.commit(actor=actor)
    return model
