"""/api/v1/ routes of provenance: verification and the C2PA Soft Binding Resolution API."""

from django.urls import path, re_path

from provenance.api import views

urlpatterns = [
    re_path(r"^verify/?$", views.VerifyView.as_view(), name="verify"),
    path("softbinding/matches/byBinding", views.MatchesByBindingView.as_view(), name="sb-by-binding"),
    path("softbinding/matches/byContent", views.MatchesByContentView.as_view(), name="sb-by-content"),
    path("softbinding/manifests/<path:manifest_id>", views.ManifestView.as_view(), name="sb-manifest"),
    path("softbinding/services/supportedAlgorithms", views.SupportedAlgorithmsView.as_view(),
         name="sb-algorithms"),
]
