"""/api/v1/ routes of the tenancy app; other apps register on the same router."""

from rest_framework.routers import DefaultRouter

from clearcue.api import views

router = DefaultRouter()
router.register("organizations", views.OrganizationViewSet, basename="organization")
router.register("memberships", views.MembershipViewSet, basename="membership")
router.register("api-keys", views.ApiKeyViewSet, basename="apikey")
