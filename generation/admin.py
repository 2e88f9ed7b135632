"""Admin console pages of the model registry: read-only (models and manifests are written by commands)."""

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from generation.models import GenerationModel, ManifestEntry, TrainingManifest
from licensing.admin import ReadOnlyAdmin


@admin.register(GenerationModel)
class GenerationModelAdmin(ReadOnlyAdmin):
    """Registered models with their pinned checkpoint and the EU AI Act training-content summary."""

    list_display = ["name", "version", "engine", "checkpoint_sha256", "manifest", "created_at", "ledger_index"]
    search_fields = ["name", "version", "checkpoint_sha256"]
    readonly_fields = ["training_summary"]

    @admin.display(description="EU AI Act training-content summary")
    def training_summary(self, obj: GenerationModel) -> str:
        url = reverse("generationmodel-training-summary", args=[obj.pk])
        return format_html('<a href="{}?view=html">{}</a> (JSON: <a href="{}">{}</a>)', url, "page", url, "data")


@admin.register(TrainingManifest)
class TrainingManifestAdmin(ReadOnlyAdmin):
    """Training manifests: how works were chosen and the Merkle root over them."""

    list_display = ["name", "territory", "evaluated_at", "ledger_size", "work_count", "merkle_root"]
    search_fields = ["name", "merkle_root"]


@admin.register(ManifestEntry)
class ManifestEntryAdmin(ReadOnlyAdmin):
    """One training work of a manifest and the license that cleared it."""

    list_display = ["manifest", "position", "work_key", "license_key", "basis"]
    list_filter = ["manifest", "basis"]
    search_fields = ["work_key", "license_key", "asset_sha256"]
    list_select_related = ["manifest"]
