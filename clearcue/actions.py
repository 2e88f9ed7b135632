"""State changes for tenancy and access. Views, admin and commands call these; nothing else writes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.text import slugify

from clearcue import apikeys
from clearcue.exceptions import DomainError
from clearcue.models import ApiKey, Membership, Organization, Role, User


@dataclass(frozen=True)
class IssuedKey:
    """An API key row plus its plaintext, which exists only in this return value."""

    api_key: ApiKey
    plaintext: str


def do_create_organization(*, name: str, slug: str | None = None, is_operator: bool = False,
                           actor: User | None) -> Organization:
    """Create a tenant."""
    slug = slug or slugify(name)
    if not slug:
        raise DomainError("invalid_slug", "An organization needs a name or slug made of letters or digits.")
    with transaction.atomic():
        if Organization.objects.filter(slug=slug).exists():
            raise DomainError("organization_exists", f"An organization with slug {slug!r} already exists.",
                              details={"slug": slug}, status=409)
        if is_operator and Organization.objects.filter(is_operator=True).exists():
            raise DomainError("operator_exists", "There is already an operator organization.", status=409)
        return Organization.objects.create(name=name, slug=slug, is_operator=is_operator)


def do_add_membership(*, user: User, organization: Organization, role: str, actor: User | None) -> Membership:
    """Give `user` a role in `organization` (idempotent: an existing membership is reactivated)."""
    if role not in Role.values:
        raise DomainError("invalid_role", f"Unknown role {role!r}.", details={"allowed": list(Role.values)})
    with transaction.atomic():
        membership, created = Membership.objects.select_for_update().get_or_create(
            user=user, organization=organization, role=role
        )
        if not created and not membership.is_active:
            Membership.objects.filter(pk=membership.pk).update(is_active=True)
            membership.is_active = True
        return membership


def do_create_api_key(*, membership: Membership, name: str, actor: User,
                      expires_at: datetime | None = None) -> IssuedKey:
    """Issue an API key for a membership; the plaintext is returned once and never stored."""
    if not membership.is_active:
        raise DomainError("membership_inactive", "Cannot issue a key for an inactive membership.",
                          details={"membership_id": membership.pk}, status=409)
    if expires_at is not None and expires_at <= timezone.now():
        raise DomainError("invalid_expiry", "expires_at must be in the future.")
    new = apikeys.generate()
    with transaction.atomic():
        api_key = ApiKey.objects.create(
            membership=membership, name=name, prefix=new.prefix, secret_sha256=new.secret_sha256,
            created_by=actor, expires_at=expires_at,
        )
    return IssuedKey(api_key=api_key, plaintext=new.plaintext)


def do_revoke_api_key(*, api_key: ApiKey, actor: User) -> ApiKey:
    """Revoke a key from now on; revoking twice keeps the first revocation time."""
    with transaction.atomic():
        ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
        api_key.refresh_from_db(fields=["revoked_at"])
    return api_key


def do_touch_api_key(*, api_key: ApiKey, resolution_seconds: int) -> None:
    """Record that a key was used, at most once per `resolution_seconds` (a conditional update)."""
    now = timezone.now()
    stale = Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - timedelta(seconds=resolution_seconds))
    if ApiKey.objects.filter(stale, pk=api_key.pk).update(last_used_at=now):
        api_key.last_used_at = now
