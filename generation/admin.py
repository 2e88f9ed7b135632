"""Admin console pages of the model registry and jobs: read-only (commands, the API and the pipeline write)."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from generation.models import (
    Clearance,
    Entitlement,
    GateDecision,
    GatePolicy,
    GenerationModel,
    Job,
    JobState,
    ManifestEntry,
    TrainingManifest,
)
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


class GateDecisionInline(admin.TabularInline):  # type: ignore[type-arg]
    """A job's gate decisions, with their reasons."""

    model = GateDecision
    fields = ["stage", "allowed", "reason_codes", "policy_version", "ledger_size", "elapsed_ms", "ledger_index"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Job | None = None) -> bool:
        return False

    @admin.display(description="reasons")
    def reason_codes(self, obj: GateDecision) -> str:
        return ", ".join(f"{r['code']} ({r['severity']})" for r in obj.reasons) or "—"


@admin.register(Job)
class JobAdmin(ReadOnlyAdmin):
    """Generation jobs: state and its explanation, progress, per-step timings, decisions and sealed outputs."""

    list_display = ["id", "organization", "state", "progress_bar", "outcome_code", "model", "territory", "use",
                    "step_timings", "created_at"]
    list_filter = ["state", "use", "organization"]
    search_fields = ["=id", "idempotency_key", "outcome_code", "description"]
    list_select_related = ["organization", "model"]
    inlines = [GateDecisionInline]
    readonly_fields = ["progress_bar", "step_timings", "reports"]
    exclude = ["progress"]  # shown as the bar

    @admin.display(description="progress")
    def progress_bar(self, obj: Job) -> str:
        return format_html('<progress max="100" value="{}"></progress> {}%', obj.progress, obj.progress)

    @admin.display(description="audit report and license chain")
    def reports(self, obj: Job) -> str:
        # Only a completed job was sealed: the others have no license chain, and their report says little.
        if obj.state != JobState.COMPLETED:
            return "—"
        report = reverse("job-audit-report", args=[obj.pk])
        graph = reverse("job-license-graph", args=[obj.pk])
        return format_html('<a id="job-audit-report" href="{}">audit report</a> (<a id="job-audit-report-pdf" '
                           'href="{}?format=pdf">PDF</a>) &middot; <a id="job-license-graph" href="{}?view=svg">'
                           "license-chain picture</a>", report, report, graph)

    @admin.display(description="steps (seconds)")
    def step_timings(self, obj: Job) -> str:
        parts = [f"{step} {info['seconds']:.2f}" if "seconds" in info else f"{step} …"
                 for step, info in obj.steps.items()]
        return ", ".join(parts) or "—"


@admin.register(GateDecision)
class GateDecisionAdmin(ReadOnlyAdmin):
    """Every gate decision with the policy version, manifest root and ledger size it was evaluated against."""

    list_display = ["id", "job", "stage", "allowed", "policy_version", "manifest_root", "ledger_size", "elapsed_ms",
                    "decided_at", "ledger_index"]
    list_filter = ["stage", "allowed", "policy_version"]
    list_select_related = ["job"]


@admin.register(Entitlement)
class EntitlementAdmin(ReadOnlyAdmin):
    """Client contracts (granted through the API by compliance; append-only)."""

    list_display = ["organization", "reference", "territories", "commercial_use", "indemnification_tier",
                    "monthly_quota", "valid_from", "valid_until", "ledger_index"]
    list_filter = ["organization", "indemnification_tier"]


@admin.register(GatePolicy)
class GatePolicyAdmin(ReadOnlyAdmin):
    """Gate policy versions (the highest is in force)."""

    list_display = ["version", "training_changes", "grace_days", "memorization_threshold", "name_fuzzy_threshold",
                    "created_at", "ledger_index"]


@admin.register(Clearance)
class ClearanceAdmin(ReadOnlyAdmin):
    """Per-model clearance state the gate reads (a cache of rights evaluation, kept current from the ledger)."""

    list_display = ["manifest", "territory", "counts", "as_of_size", "computed_at", "refreshed_at", "full_seconds"]
    list_select_related = ["manifest"]
