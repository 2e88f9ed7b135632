"""Tenancy and access API: thin viewsets over scoped querysets and actions."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from clearcue import actions
from clearcue.api.serializers import (
    ApiKeyCreateSerializer,
    ApiKeySerializer,
    IssuedApiKeySerializer,
    MembershipCreateSerializer,
    MembershipSerializer,
    MeSerializer,
    OrganizationSerializer,
)
from clearcue.exceptions import DomainError
from clearcue.models import ApiKey, Membership, Organization, User
from clearcue.permissions import IsStaffOrReadOnly
from clearcue.tenancy import principal_for, scope_queryset


class MeView(APIView):
    """Who am I, acting for which organizations?"""

    @extend_schema(responses=MeSerializer)
    def get(self, request: Request) -> Response:
        principal = principal_for(request)
        user = request.user
        data = {
            "user_id": user.pk,
            "username": user.get_username(),
            "is_staff": principal.is_staff,
            "reads_all_tenants": principal.reads_all_tenants,
            "memberships": list(principal.memberships),
            "api_key": principal.api_key,
        }
        return Response(MeSerializer(data).data)


class OrganizationViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Organizations the caller belongs to (all of them for staff and operator auditors)."""

    serializer_class = OrganizationSerializer
    permission_classes = [permissions.IsAuthenticated, IsStaffOrReadOnly]
    filterset_fields = ["slug", "is_operator"]

    def get_queryset(self) -> QuerySet[Organization]:
        return scope_queryset(Organization.objects.all(), principal_for(self.request), org_field="pk")

    def perform_create(self, serializer: Any) -> None:
        serializer.instance = actions.do_create_organization(actor=self.request.user, **serializer.validated_data)


class MembershipViewSet(viewsets.ReadOnlyModelViewSet):
    """Members of the caller's organizations; staff add members."""

    serializer_class = MembershipSerializer
    permission_classes = [permissions.IsAuthenticated, IsStaffOrReadOnly]
    filterset_fields = ["organization", "role", "is_active"]

    def get_queryset(self) -> QuerySet[Membership]:
        qs = Membership.objects.select_related("user", "organization")
        return scope_queryset(qs, principal_for(self.request))

    @extend_schema(request=MembershipCreateSerializer, responses={201: MembershipSerializer})
    def create(self, request: Request) -> Response:
        """Add a member (platform staff only)."""
        params = MembershipCreateSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        data = params.validated_data
        user = User.objects.filter(pk=data["user"]).first()
        organization = Organization.objects.filter(pk=data["organization"]).first()
        if user is None or organization is None:
            raise DomainError("not_found", "Unknown user or organization.",
                              details={"user": data["user"], "organization": data["organization"]}, status=404)
        membership = actions.do_add_membership(user=user, organization=organization, role=data["role"],
                                               actor=request.user)
        return Response(MembershipSerializer(membership).data, status=status.HTTP_201_CREATED)


class ApiKeyViewSet(viewsets.ReadOnlyModelViewSet):
    """The caller's own API keys: list, issue (secret shown once), revoke."""

    serializer_class = ApiKeySerializer
    filterset_fields = ["membership", "revoked_at"]

    def get_queryset(self) -> QuerySet[ApiKey]:
        principal = principal_for(self.request)
        qs = ApiKey.objects.select_related("membership")
        if principal.is_staff:
            return qs
        # Keys are personal credentials: only the owner sees them, never their colleagues or auditors.
        return qs.filter(membership__in=[m.pk for m in principal.memberships], membership__user=principal.user_id)

    @extend_schema(request=ApiKeyCreateSerializer, responses={201: IssuedApiKeySerializer})
    def create(self, request: Request) -> Response:
        """Issue a key for one of the caller's memberships; the response holds the only copy of the secret."""
        params = ApiKeyCreateSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        principal = principal_for(request)
        wanted = params.validated_data.get("membership")
        own = {m.pk: m for m in principal.memberships if m.user_id == principal.user_id}
        if wanted is None:
            if len(own) != 1:
                raise DomainError("membership_required", "Name the membership the key acts for.",
                                  details={"memberships": sorted(own)})
            wanted = next(iter(own))
        if wanted not in own:
            raise DomainError("not_found", "No such membership among yours.", details={"membership": wanted},
                              status=404)
        issued = actions.do_create_api_key(membership=own[wanted], name=params.validated_data["name"],
                                           actor=request.user,
                                           expires_at=params.validated_data.get("expires_at"))
        body = IssuedApiKeySerializer(issued.api_key).data
        body["key"] = issued.plaintext
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=ApiKeySerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request: Request, pk: str | None = None) -> Response:
        """Revoke a key; requests with it fail from now on."""
        api_key = actions.do_revoke_api_key(api_key=self.get_object(), actor=request.user)
        return Response(ApiKeySerializer(api_key).data)
