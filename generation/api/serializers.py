"""Serializers of the model registry API (shape only; no rules)."""

from __future__ import annotations

from rest_framework import serializers

from generation.models import GenerationModel, ManifestEntry, TrainingManifest


class TrainingManifestSerializer(serializers.ModelSerializer[TrainingManifest]):
    """A training manifest's header: how works were chosen, how many, and the Merkle root."""

    class Meta:
        model = TrainingManifest
        fields = ["id", "name", "use", "territory", "evaluated_at", "ledger_size", "selection", "work_count",
                  "merkle_root", "leaf_format", "created_at", "ledger_index"]


class ManifestEntrySerializer(serializers.ModelSerializer[ManifestEntry]):
    """One training work: the leaf at `position`."""

    work_id = serializers.IntegerField()
    license_id = serializers.IntegerField()

    class Meta:
        model = ManifestEntry
        fields = ["position", "work_id", "work_key", "asset_sha256", "license_id", "license_key", "basis"]


class GenerationModelSerializer(serializers.ModelSerializer[GenerationModel]):
    """A registered model with its pinned checkpoint, manifest and model card."""

    manifest = TrainingManifestSerializer(read_only=True)
    slug = serializers.CharField(read_only=True)

    class Meta:
        model = GenerationModel
        fields = ["id", "slug", "name", "version", "engine", "config", "checkpoint_sha256", "checkpoint_size",
                  "style_tags", "model_card", "manifest", "created_at", "ledger_index"]


class MembershipProofSerializer(serializers.Serializer[dict[str, object]]):
    """Presence or absence proof of a work in a manifest (verify with generation.manifest.verify_membership)."""

    work = serializers.CharField()
    size = serializers.IntegerField()
    included = serializers.BooleanField()
    leaves = serializers.ListField(child=serializers.DictField())
    merkle_root = serializers.CharField()
