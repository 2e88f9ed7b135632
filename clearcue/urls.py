"""Root URLs: admin, /api/v1/, OpenAPI schema and docs (local assets), health probes."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from clearcue import health
from clearcue.api import views as clearcue_views
from clearcue.api.urls import router

api_v1 = [
    path("me/", clearcue_views.MeView.as_view(), name="me"),
    path("", include("licensing.api.urls")),
    path("", include("generation.api.urls")),
    path("", include("provenance.api.urls")),
    path("", include(router.urls)),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
]

handler404 = "clearcue.errors.json_not_found"
handler500 = "clearcue.errors.json_server_error"
