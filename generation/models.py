"""Model registry: training manifests (the exact works a model learned from) and registered generation models.

Both are append-only: a manifest or a model, once recorded in the ledger, is never edited (a retrained
model is a new version with a new manifest).
"""

from __future__ import annotations

from django.db import models

from licensing.models import APPEND_ONLY_TRIGGERS


class TrainingManifest(models.Model):
    """The set of works a model was trained on, each with the license that cleared it, as a Merkle tree."""

    name = models.CharField(max_length=200, unique=True)
    use = models.CharField(max_length=40, default="ai_training")
    territory = models.CharField(max_length=8)
    evaluated_at = models.DateTimeField()  # the moment rights were evaluated ("now" at selection)
    ledger_size = models.BigIntegerField()  # ledger tree size the evaluation saw
    selection = models.JSONField(default=dict)  # how works were chosen (collections, formats, criteria)
    work_count = models.PositiveIntegerField()
    merkle_root = models.CharField(max_length=64)  # hex RFC 9162 root over the sorted records
    leaf_format = models.CharField(max_length=60)
    created_at = models.DateTimeField()
    ledger_index = models.BigIntegerField()

    class Meta:
        triggers = APPEND_ONLY_TRIGGERS

    def __str__(self) -> str:
        return f"{self.name} ({self.work_count} works, root {self.merkle_root[:12]}…)"


class ManifestEntry(models.Model):
    """One training work of a manifest, at its position in work-key order (the Merkle leaf index)."""

    manifest = models.ForeignKey(TrainingManifest, on_delete=models.PROTECT, related_name="entries")
    position = models.PositiveIntegerField()
    work = models.ForeignKey("licensing.Work", on_delete=models.PROTECT, related_name="manifest_entries")
    work_key = models.CharField(max_length=420)
    asset_sha256 = models.CharField(max_length=64)
    license = models.ForeignKey("licensing.License", on_delete=models.PROTECT, related_name="manifest_entries")
    license_key = models.CharField(max_length=400)
    basis = models.CharField(max_length=20)

    class Meta:
        triggers = APPEND_ONLY_TRIGGERS
        constraints = [
            models.UniqueConstraint(fields=["manifest", "position"], name="generation_manifestentry_position"),
            models.UniqueConstraint(fields=["manifest", "work"], name="generation_manifestentry_work"),
        ]
        indexes = [models.Index(fields=["work", "manifest"], name="generation_manifest_by_work")]

    def __str__(self) -> str:
        return f"{self.manifest_id}#{self.position} {self.work_key}"


class GenerationModel(models.Model):
    """A generator registered for jobs: engine, config, pinned checkpoint, its training manifest and model card."""

    name = models.CharField(max_length=100)
    version = models.CharField(max_length=40)
    engine = models.CharField(max_length=60)
    config = models.JSONField(default=dict)
    checkpoint = models.FileField(upload_to="models/", max_length=300)
    checkpoint_sha256 = models.CharField(max_length=64)
    checkpoint_size = models.BigIntegerField()
    manifest = models.ForeignKey(TrainingManifest, on_delete=models.PROTECT, related_name="models")
    style_tags = models.JSONField(default=list)  # tags the model can condition on
    model_card = models.JSONField(default=dict)
    created_at = models.DateTimeField()
    ledger_index = models.BigIntegerField()

    class Meta:
        triggers = APPEND_ONLY_TRIGGERS
        constraints = [models.UniqueConstraint(fields=["name", "version"], name="generation_model_name_version")]

    def __str__(self) -> str:
        return f"{self.name} {self.version}"

    @property
    def slug(self) -> str:
        """`name@version`, how jobs and the API name a model."""
        return f"{self.name}@{self.version}"
