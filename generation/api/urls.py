"""/api/v1/ routes of the model registry."""

from rest_framework.routers import DefaultRouter

from generation.api import views

router = DefaultRouter(trailing_slash=True)
router.register("models", views.GenerationModelViewSet, basename="generationmodel")
router.register("training-manifests", views.TrainingManifestViewSet, basename="trainingmanifest")

urlpatterns = router.urls
