"""Read-only admin pages for watermark payloads and the credentials signed into sealed files."""

from __future__ import annotations

from django.contrib import admin

from licensing.admin import ReadOnlyAdmin
from provenance.models import Credential, WatermarkPayload


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
