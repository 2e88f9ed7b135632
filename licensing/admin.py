"""Admin console for the catalog, licenses, opt-outs, catalog imports and the ledger.

Every write goes through an action: licenses and opt-outs are never edited here (revoke / withdraw are
admin actions that record new events), and a catalog upload creates a CatalogImport processed by the
`ingest` queue, whose page shows a live progress bar and the downloadable error report.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from clearcue.exceptions import DomainError
from clearcue.models import Membership
from clearcue.tenancy import operator_organization
from licensing import actions, importer
from licensing.ledger import Actor
from licensing.models import (
    CatalogImport,
    Checkpoint,
    Collection,
    ImportStatus,
    LedgerEntry,
    License,
    OptOut,
    Party,
    Work,
)
from licensing.terms import Reservation, ReservedUse, Source, Subject, SubjectKind, reserved_of, uses_of


def _actor(request: HttpRequest) -> Actor:
    membership = Membership.objects.filter(user=request.user, is_active=True).select_related("organization").first()
    return Actor.of(request.user, membership.organization if membership else None)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written only by actions: visible, searchable, never edited or deleted here."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Party)
class PartyAdmin(ReadOnlyAdmin):
    """Rights holders, licensors, creators."""

    list_display = ["name", "kind", "ipi", "isni", "organization", "ledger_index"]
    list_filter = ["kind"]
    search_fields = ["name", "ipi", "isni", "key"]


@admin.register(Collection)
class CollectionAdmin(ReadOnlyAdmin):
    """Catalog collections."""

    list_display = ["slug", "name", "owner", "ledger_index"]
    search_fields = ["slug", "name"]


@admin.register(Work)
class WorkAdmin(ReadOnlyAdmin):
    """Works, with hashes, ISCC codes, style tags and the rights their assets state."""

    list_display = ["title", "collection", "format", "rights_status", "rights_holder", "iscc_code", "ledger_index"]
    list_filter = ["collection", "rights_status", "format", "media_type"]
    search_fields = ["title", "source_key", "asset_sha256", "iscc_code", "iscc_data", "iscc_instance"]
    list_select_related = ["collection", "rights_holder"]


@admin.register(License)
class LicenseAdmin(ReadOnlyAdmin):
    """Licenses: immutable; revoking records a revocation (effective now) in the ledger."""

    list_display = ["name", "licensor", "licensee", "basis", "scope", "uses", "valid_from", "valid_until",
                    "revoked", "ledger_index"]
    list_filter = ["basis", "scope", "licensee"]
    search_fields = ["name", "key", "document_ref", "licensor__name"]
    list_select_related = ["licensor", "licensee", "revocation"]
    actions = ["revoke"]

    @admin.display(description="uses")
    def uses(self, obj: License) -> str:
        return ", ".join(uses_of(obj.uses_mask))

    @admin.display(description="revoked", boolean=True)
    def revoked(self, obj: License) -> bool:
        return hasattr(obj, "revocation")

    @admin.action(description="Revoke selected licenses (effective now)")
    def revoke(self, request: HttpRequest, queryset: QuerySet[License]) -> None:
        done = 0
        for license in queryset:
            try:
                actions.do_revoke_license(license, effective_at=None, reason=f"revoked in the console by "
                                          f"{request.user.get_username()}", actor=_actor(request))
                done += 1
            except DomainError as exc:
                messages.error(request, f"{license}: {exc.message}")
        messages.success(request, f"Revoked {done} license(s).")


class OptOutForm(forms.Form):
    """A direct opt-out registered from the console."""

    subject_kind = forms.ChoiceField(choices=[(k.value, k.value) for k in SubjectKind])
    subject = forms.CharField(max_length=500, help_text="Work id, party id, ISCC, scheme:value or creator name.")
    reserved = forms.MultipleChoiceField(choices=[(u.value, u.value) for u in ReservedUse],
                                         widget=forms.CheckboxSelectMultiple)
    effective_from = forms.DateTimeField(required=False, help_text="Default: now. Format 2026-11-21 10:00.")
    statement = forms.CharField(widget=forms.Textarea, required=False, help_text="Kept verbatim as evidence.")


@admin.register(OptOut)
class OptOutAdmin(ReadOnlyAdmin):
    """The opt-out registry: register (a form), withdraw (an action); both recorded in the ledger."""

    list_display = ["id", "subject_kind", "subject_work", "subject_party", "subject_value", "reserved", "source",
                    "effective_from", "withdrawn", "ledger_index"]
    list_filter = ["source", "subject_kind"]
    search_fields = ["subject_value", "policy_url"]
    actions = ["withdraw"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.is_staff

    @admin.display(description="reserved")
    def reserved(self, obj: OptOut) -> str:
        return ", ".join(reserved_of(obj.reserved_mask))

    @admin.display(description="withdrawn", boolean=True)
    def withdrawn(self, obj: OptOut) -> bool:
        return hasattr(obj, "withdrawal")

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: dict[str, Any] | None = None
                 ) -> HttpResponse:
        form = OptOutForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            moment = data["effective_from"]
            reservation = Reservation(
                subject=Subject(SubjectKind(data["subject_kind"]), data["subject"]),
                uses=frozenset(ReservedUse(u) for u in data["reserved"]), source=Source.DIRECT,
                evidence={"console": {"statement": data["statement"], "by": request.user.get_username()}},
                effective_from=moment.astimezone(UTC) if moment else None)
            try:
                optout = actions.do_register_optouts([reservation], actor=_actor(request))[0]
            except DomainError as exc:
                form.add_error(None, f"{exc.code}: {exc.message}")
            else:
                messages.success(request, f"Opt-out {optout.pk} registered (ledger entry {optout.ledger_index}).")
                return HttpResponseRedirect(reverse("admin:licensing_optout_changelist"))
        context = {**self.admin_site.each_context(request), "form": form, "title": "Register an opt-out",
                   "opts": self.model._meta}
        return TemplateResponse(request, "admin/licensing/form.html", context)

    @admin.action(description="Withdraw selected opt-outs (effective now)")
    def withdraw(self, request: HttpRequest, queryset: QuerySet[OptOut]) -> None:
        for optout in queryset:
            try:
                actions.do_withdraw_optout(optout, effective_at=None, reason="withdrawn in the console",
                                           actor=_actor(request))
            except DomainError as exc:
                messages.error(request, f"{optout}: {exc.message}")


class CatalogUploadForm(forms.Form):
    """Upload a catalog file (CSV or JSON Lines) with optional assets."""

    file = forms.FileField(help_text="CSV or JSON Lines, one work per row (see the README).")
    collection = forms.SlugField(max_length=100)
    collection_name = forms.CharField(max_length=300, required=False)
    assets = forms.FileField(required=False, help_text="ZIP of asset files named by the 'asset' column.")
    assets_dir = forms.CharField(max_length=1000, required=False,
                                 help_text="Or a directory on the server (staff only).")


@admin.register(CatalogImport)
class CatalogImportAdmin(admin.ModelAdmin):
    """Catalog uploads: the upload form, a live progress bar, and the error report of rejected rows."""

    list_display = ["id", "collection_slug", "status", "progress_bar", "rows_created", "rows_updated",
                    "rows_unchanged", "rows_rejected", "created_at"]
    list_filter = ["status", "collection_slug"]
    readonly_fields = [f.name for f in CatalogImport._meta.fields]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="progress")
    def progress_bar(self, obj: CatalogImport) -> str:
        p = importer.progress(obj)
        return format_html('<progress max="100" value="{}"></progress> {}%', p.percent, p.percent)

    def get_urls(self) -> list[URLPattern]:
        extra = [
            path("<int:pk>/progress/", self.admin_site.admin_view(self.progress_view),
                 name="licensing_catalogimport_progress"),
            path("<int:pk>/errors.csv", self.admin_site.admin_view(self.errors_view),
                 name="licensing_catalogimport_errors"),
        ]
        return extra + super().get_urls()

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: dict[str, Any] | None = None
                 ) -> HttpResponse:
        form = CatalogUploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            if data["assets_dir"] and not request.user.is_superuser:
                raise PermissionDenied("Only superusers may import from a server directory.")
            upload = data["file"]
            fmt = "jsonl" if upload.name.lower().endswith((".jsonl", ".ndjson")) else "csv"
            try:
                catalog_import = actions.do_create_catalog_import(
                    organization=operator_organization(), user=request.user, data=upload.read(), file_format=fmt,
                    collection_slug=data["collection"], collection_name=data["collection_name"],
                    assets_zip=data["assets"].read() if data["assets"] else None, assets_dir=data["assets_dir"])
            except DomainError as exc:
                form.add_error(None, f"{exc.code}: {exc.message}")
            else:
                return HttpResponseRedirect(reverse("admin:licensing_catalogimport_change", args=[catalog_import.pk]))
        context = {**self.admin_site.each_context(request), "form": form, "title": "Upload a catalog",
                   "opts": self.model._meta, "multipart": True}
        return TemplateResponse(request, "admin/licensing/form.html", context)

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict[str, Any] | None = None) -> HttpResponse:
        catalog_import = CatalogImport.objects.get(pk=object_id)
        context = {**self.admin_site.each_context(request), "title": f"Catalog import {catalog_import.pk}",
                   "opts": self.model._meta, "import": catalog_import, "progress": importer.progress(catalog_import),
                   "errors": catalog_import.row_errors.all()[:50]}
        return TemplateResponse(request, "admin/licensing/catalog_import.html", context)

    def progress_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        from django.http import JsonResponse

        catalog_import = CatalogImport.objects.get(pk=pk)
        p = importer.progress(catalog_import)
        return JsonResponse({"status": catalog_import.status, "percent": p.percent, "rows_done": p.rows_done,
                             "total_rows": p.total_rows, "rows_per_second": p.rows_per_second,
                             "eta_seconds": p.eta_seconds, "rows_created": catalog_import.rows_created,
                             "rows_updated": catalog_import.rows_updated,
                             "rows_unchanged": catalog_import.rows_unchanged,
                             "rows_rejected": catalog_import.rows_rejected,
                             "licenses_created": catalog_import.licenses_created,
                             "finished": catalog_import.status in (ImportStatus.COMPLETED, ImportStatus.FAILED)})

    def errors_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        catalog_import = CatalogImport.objects.get(pk=pk)
        response = HttpResponse(importer.error_report_csv(catalog_import), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="import-{pk}-errors.csv"'
        return response


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    """The append-only ledger, entry by entry."""

    list_display = ["leaf_index", "entry_type", "created_at", "actor_name", "subject_type", "subject_id"]
    list_filter = ["entry_type"]
    search_fields = ["subject_id", "request_id", "actor_name"]


@admin.register(Checkpoint)
class CheckpointAdmin(ReadOnlyAdmin):
    """Signed checkpoints of the ledger."""

    list_display = ["tree_size", "key_name", "created_at"]
