"""/api/v1/ routes of the model registry."""

from rest_framework.routers import DefaultRouter

from generation.api import job_views, views

router = DefaultRouter(trailing_slash=True)
router.register("models", views.GenerationModelViewSet, basename="generationmodel")
router.register("training-manifests", views.TrainingManifestViewSet, basename="trainingmanifest")
router.register("jobs", job_views.JobViewSet, basename="job")
router.register("entitlements", job_views.EntitlementViewSet, basename="entitlement")
router.register("gate-policies", job_views.GatePolicyViewSet, basename="gatepolicy")

urlpatterns = router.urls
