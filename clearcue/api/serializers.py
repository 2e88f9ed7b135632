"""Serializers for tenancy and access."""

from __future__ import annotations

from rest_framework import serializers

from clearcue.models import ApiKey, Membership, Organization, Role


class OrganizationSerializer(serializers.ModelSerializer):
    """A tenant."""

    class Meta:
        model = Organization
        fields = ["id", "name", "slug", "is_operator", "created_at"]
        read_only_fields = ["id", "created_at"]
        # Uniqueness is a domain rule answered by the action with a 409 and a stable code.
        validators: list[object] = []
        extra_kwargs = {"slug": {"validators": []}, "is_operator": {"validators": []}}


class MembershipSerializer(serializers.ModelSerializer):
    """A user's role in an organization."""

    username = serializers.CharField(source="user.username", read_only=True)
    organization_slug = serializers.CharField(source="organization.slug", read_only=True)

    class Meta:
        model = Membership
        fields = ["id", "user", "username", "organization", "organization_slug", "role", "is_active", "created_at"]
        read_only_fields = ["id", "is_active", "created_at"]


class MembershipCreateSerializer(serializers.Serializer):
    """Input for adding a member."""

    user = serializers.IntegerField(min_value=1)
    organization = serializers.IntegerField(min_value=1)
    role = serializers.ChoiceField(choices=Role.choices)


class ApiKeySerializer(serializers.ModelSerializer):
    """An API key's metadata; the secret is never returned after creation."""

    organization = serializers.IntegerField(source="membership.organization_id", read_only=True)
    role = serializers.CharField(source="membership.role", read_only=True)
    display_prefix = serializers.SerializerMethodField()

    class Meta:
        model = ApiKey
        fields = ["id", "name", "display_prefix", "membership", "organization", "role", "created_at",
                  "expires_at", "last_used_at", "revoked_at"]
        read_only_fields = fields

    def get_display_prefix(self, obj: ApiKey) -> str:
        """The recognisable, non-secret start of the key."""
        return f"cc_{obj.prefix}_"


class ApiKeyCreateSerializer(serializers.Serializer):
    """Input for issuing a key."""

    name = serializers.CharField(max_length=100)
    membership = serializers.IntegerField(min_value=1, required=False,
                                          help_text="Defaults to the membership of the key in use.")
    expires_at = serializers.DateTimeField(required=False, allow_null=True)


class IssuedApiKeySerializer(ApiKeySerializer):
    """A newly issued key, with its plaintext shown this one time."""

    key = serializers.CharField(read_only=True, help_text="Shown once; store it now.")

    class Meta(ApiKeySerializer.Meta):
        fields = [*ApiKeySerializer.Meta.fields, "key"]
        read_only_fields = fields


class MeSerializer(serializers.Serializer):
    """The caller: user, memberships in force for this request, the API key in use."""

    user_id = serializers.IntegerField()
    username = serializers.CharField()
    is_staff = serializers.BooleanField()
    reads_all_tenants = serializers.BooleanField()
    memberships = MembershipSerializer(many=True)
    api_key = ApiKeySerializer(allow_null=True)
