"""Role-based DRF permissions shared by the apps."""

from __future__ import annotations

from typing import Any

from rest_framework import permissions
from rest_framework.request import Request

from clearcue.tenancy import principal_for


class IsStaffOrReadOnly(permissions.BasePermission):
    """Reads for any authenticated caller (querysets do the scoping); writes for platform staff."""

    message = "Only platform staff may change this."

    def has_permission(self, request: Request, view: Any) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return True
        return principal_for(request).is_staff


class HasRole(permissions.BasePermission):
    """Grants access to callers holding one of `view.required_roles` (staff always pass)."""

    message = "Your role does not allow this."

    def has_permission(self, request: Request, view: Any) -> bool:
        principal = principal_for(request)
        if principal.is_staff:
            return True
        roles = getattr(view, "required_roles", ())
        return any(principal.has_role(role) for role in roles)


class CatalogAccess(permissions.BasePermission):
    """Catalog reads for any member of any organization; writes for operator catalog admins and staff."""

    message = "Only catalog admins of the operator organization (or staff) may change the catalog."

    def has_permission(self, request: Request, view: Any) -> bool:
        principal = principal_for(request)
        if principal.is_staff:
            return True
        if not principal.memberships:
            return False
        if request.method in permissions.SAFE_METHODS:
            return True
        return is_operator_catalog_admin(request)


def is_operator_catalog_admin(request: Request) -> bool:
    """Whether the caller is a catalog admin of the operator organization (or staff)."""
    principal = principal_for(request)
    return principal.is_staff or any(
        m.role == "catalog_admin" and m.organization.is_operator for m in principal.memberships)
