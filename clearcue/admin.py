"""Admin console for tenancy and access. Writes go through actions, like everywhere else."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest

from clearcue import actions
from clearcue.models import ApiKey, Membership, Organization, User

admin.site.site_header = "Clearcue console"
admin.site.site_title = "Clearcue"

admin.site.register(User, UserAdmin)


class MembershipInline(admin.TabularInline):
    """Members of an organization."""

    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    """Tenants."""

    list_display = ["name", "slug", "is_operator", "created_at"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    """Memberships, with an action that issues API keys."""

    list_display = ["user", "organization", "role", "is_active", "created_at"]
    list_filter = ["role", "is_active", "organization"]
    search_fields = ["user__username", "organization__name"]
    autocomplete_fields = ["user", "organization"]
    actions = ["issue_api_key"]

    @admin.action(description="Issue an API key (shown once)")
    def issue_api_key(self, request: HttpRequest, queryset: QuerySet[Membership]) -> None:
        """Issue one key per selected membership and show each plaintext once, in a message."""
        for membership in queryset.select_related("user", "organization"):
            issued = actions.do_create_api_key(membership=membership, name="admin-issued", actor=request.user)
            messages.warning(request, f"Key for {membership}: {issued.plaintext}  (shown once; copy it now)")


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """API keys: inspect and revoke; the secret itself is never visible."""

    list_display = ["name", "prefix", "membership", "created_at", "last_used_at", "expires_at", "revoked_at"]
    list_filter = ["revoked_at", "membership__role"]
    search_fields = ["prefix", "name", "membership__user__username"]
    readonly_fields = [f.name for f in ApiKey._meta.fields]
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # keys are issued from a membership, so the plaintext can be shown once

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description="Revoke selected keys")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        """Revoke each selected key."""
        for api_key in queryset:
            actions.do_revoke_api_key(api_key=api_key, actor=request.user)
        messages.success(request, f"Revoked {queryset.count()} key(s).")
