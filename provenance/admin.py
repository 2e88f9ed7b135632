"""Read-only admin pages: watermark payloads, credentials, license-chain graphs, attributions, impact reports."""

from __future__ import annotations

from django.contrib import admin

from licensing.admin import ReadOnlyAdmin
from provenance.models import (
    Attribution,
    AttributionWork,
    Credential,
    ImpactReport,
    LicenseGraph,
    TrainingGraph,
    WatermarkPayload,
)


@admin.register(WatermarkPayload)
class WatermarkPayloadAdmin(ReadOnlyAdmin):
    """Payloads embedded in sealed audio, each resolving to one job."""

    list_display = ["serial", "hex_value", "alg", "key_id", "job", "created_at", "ledger_index"]
    list_filter = ["alg", "key_id"]
    search_fields = ["=value", "=job__id"]
    raw_id_fields = ["job"]

    @admin.display(description="payload", ordering="value")
    def hex_value(self, obj: WatermarkPayload) -> str:
        return f"{obj.value:#010x}"


@admin.register(Credential)
class CredentialAdmin(ReadOnlyAdmin):
    """C2PA manifests signed into sealed output files (served by the soft-binding resolution API)."""

    list_display = ["manifest_id", "media_type", "output", "signer", "created_at"]
    list_filter = ["media_type"]
    search_fields = ["manifest_id", "=output__job__id"]
    raw_id_fields = ["output", "watermark"]
    exclude = ["store"]
    readonly_fields = ["store_sha256", "summary"]


@admin.register(TrainingGraph)
class TrainingGraphAdmin(ReadOnlyAdmin):
    """Digests of training manifests' license-chain graphs (computed once per manifest)."""

    list_display = ["manifest", "digest", "works", "licenses", "parties", "links", "seconds", "created_at"]


@admin.register(LicenseGraph)
class LicenseGraphAdmin(ReadOnlyAdmin):
    """Output graphs of sealed jobs, as their manifests state them."""

    list_display = ["job", "digest", "counts", "created_at", "ledger_index"]
    search_fields = ["=job__id", "digest"]
    raw_id_fields = ["job", "training"]


class AttributionWorkInline(admin.TabularInline):  # type: ignore[type-arg]
    model = AttributionWork
    fields = ["work", "license", "holder", "ppm", "similarity_micro", "style_reference"]
    readonly_fields = fields
    raw_id_fields = ["work", "license", "holder"]
    can_delete = False
    extra = 0
    ordering = ["-ppm"]

    def has_add_permission(self, request: object, obj: object = None) -> bool:
        return False


@admin.register(Attribution)
class AttributionAdmin(ReadOnlyAdmin):
    """Influence distributions of sealed outputs over their models' training works (parts per million)."""

    list_display = ["job", "method", "digest", "created_at", "ledger_index"]
    list_filter = ["method"]
    search_fields = ["=job__id", "digest"]
    raw_id_fields = ["job"]
    inlines = [AttributionWorkInline]


@admin.register(ImpactReport)
class ImpactReportAdmin(ReadOnlyAdmin):
    """What each revocation and opt-out touched: models, jobs, outputs (written automatically)."""

    list_display = ["created_at", "trigger_type", "trigger_index", "subject", "works", "models_count", "jobs",
                    "outputs"]
    list_filter = ["trigger_type"]
