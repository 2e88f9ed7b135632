"""Who is calling, for which organizations, in which roles: the one place that scopes querysets.

Every client-facing queryset goes through `scope_queryset`, so object-level isolation between tenants is
a rule of the API layer, not a habit of each view. Objects of other tenants are invisible (404), never
merely forbidden (403), so their existence is not revealed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TypeVar

from django.db.models import Model, QuerySet
from rest_framework.request import Request

from clearcue.exceptions import DomainError
from clearcue.models import ApiKey, Membership, Organization, Role

# Roles that may read across organizations when held in the operator organization.
CROSS_TENANT_READ_ROLES = frozenset({Role.COMPLIANCE_AUDITOR})

M = TypeVar("M", bound=Model)


@dataclass(frozen=True)
class Principal:
    """The caller: a user, the memberships this request may act through, and staff status."""

    user_id: int | None
    is_staff: bool = False
    memberships: tuple[Membership, ...] = field(default_factory=tuple)
    api_key: ApiKey | None = None

    def org_ids(self, roles: Iterable[str] | None = None) -> set[int]:
        """Organizations where the caller holds any of `roles` (any role when None)."""
        wanted = None if roles is None else set(roles)
        return {m.organization_id for m in self.memberships if wanted is None or m.role in wanted}

    def has_role(self, role: str, organization_id: int | None = None) -> bool:
        """Whether the caller holds `role` (in the given organization, if one is named)."""
        return any(
            m.role == role and (organization_id is None or m.organization_id == organization_id)
            for m in self.memberships
        )

    @property
    def reads_all_tenants(self) -> bool:
        """Staff, and auditors of the operator organization, read across tenants."""
        if self.is_staff:
            return True
        return any(m.role in CROSS_TENANT_READ_ROLES and m.organization.is_operator for m in self.memberships)


ANONYMOUS = Principal(user_id=None)


def principal_for(request: Request) -> Principal:
    """Build (once per request) the principal: an API key acts through its one membership only."""
    cached = getattr(request, "_clearcue_principal", None)
    if cached is not None:
        return cached
    user = request.user
    if not user or not user.is_authenticated:
        principal = ANONYMOUS
    elif isinstance(request.auth, ApiKey):
        principal = Principal(
            user_id=user.pk,
            is_staff=user.is_staff,
            memberships=(request.auth.membership,),
            api_key=request.auth,
        )
    else:
        memberships = tuple(
            Membership.objects.filter(user=user, is_active=True).select_related("organization")
        )
        principal = Principal(user_id=user.pk, is_staff=user.is_staff, memberships=memberships)
    request._clearcue_principal = principal  # type: ignore[attr-defined]
    return principal


def scope_queryset(
    queryset: QuerySet[M],
    principal: Principal,
    *,
    org_field: str = "organization",
    roles: Iterable[str] | None = None,
    cross_tenant: bool = True,
) -> QuerySet[M]:
    """Restrict `queryset` to rows whose `org_field` is an organization the caller may read.

    `roles` limits which memberships count (None: any role). `cross_tenant=False` keeps even staff and
    operator auditors inside their own organizations (for writes or private data).
    """
    if cross_tenant and principal.reads_all_tenants:
        return queryset
    org_ids = principal.org_ids(roles)
    if not org_ids:
        return queryset.none()
    return queryset.filter(**{f"{org_field}__in": org_ids})


def operator_organization() -> Organization:
    """The organization that runs Clearcue (licensee of the platform's own licenses); a clear error if none."""
    operator = Organization.objects.filter(is_operator=True).first()
    if operator is None:
        raise DomainError("no_operator", "No operator organization exists; create one first (make demo does).",
                          status=409)
    return operator
