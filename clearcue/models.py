"""Tenancy and access: users, organizations (tenants), memberships with roles, API keys."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models import Q


class User(AbstractUser):
    """A person. `is_staff` marks platform staff (operators of Clearcue itself)."""

    class Meta:
        db_table = "clearcue_user"


class Organization(models.Model):
    """A tenant: a client company, a catalog owner, a rights holder, or the platform operator."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    # The operator organization runs Clearcue; its compliance auditors may read across tenants.
    is_operator = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["slug"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_operator"], condition=Q(is_operator=True), name="clearcue_single_operator_org"
            )
        ]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    """What a member may do inside their organization."""

    CATALOG_ADMIN = "catalog_admin", "Catalog admin"
    COMPLIANCE_AUDITOR = "compliance_auditor", "Compliance auditor"
    CLIENT = "client", "Client"
    RIGHTS_HOLDER = "rights_holder", "Rights holder"


class Membership(models.Model):
    """A user's role in one organization; API keys hang off a membership."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=32, choices=Role.choices)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["organization__slug", "user__username", "role"]
        constraints = [
            models.UniqueConstraint(fields=["user", "organization", "role"], name="clearcue_unique_membership")
        ]

    def __str__(self) -> str:
        return f"{self.user.username}@{self.organization.slug} ({self.role})"


class ApiKey(models.Model):
    """An API key of one membership. Only a SHA-256 digest of the secret is stored; the key is shown once."""

    membership = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    # Public, unique part of the key ("cc_<prefix>_<secret>"), used to find the row without the secret.
    prefix = models.CharField(max_length=16, unique=True)
    secret_sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, related_name="+")
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} (cc_{self.prefix}_…)"

