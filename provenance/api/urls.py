"""/api/v1/ routes of provenance: verification and the C2PA Soft Binding Resolution API."""

from django.urls import path, re_path

from provenance.api import chain_views, report_views, views

urlpatterns = [
    re_path(r"^verify/?$", views.VerifyView.as_view(), name="verify"),
    path("softbinding/matches/byBinding", views.MatchesByBindingView.as_view(), name="sb-by-binding"),
    path("softbinding/matches/byContent", views.MatchesByContentView.as_view(), name="sb-by-content"),
    path("softbinding/manifests/<path:manifest_id>", views.ManifestView.as_view(), name="sb-manifest"),
    path("softbinding/services/supportedAlgorithms", views.SupportedAlgorithmsView.as_view(),
         name="sb-algorithms"),
    path("jobs/<str:pk>/license-graph", chain_views.JobGraphView.as_view(), name="job-license-graph"),
    path("jobs/<str:pk>/attribution", chain_views.JobAttributionView.as_view(), name="job-attribution"),
    path("training-manifests/<str:pk>/license-graph", chain_views.TrainingGraphView.as_view(),
         name="training-license-graph"),
    path("impact", chain_views.ImpactView.as_view(), name="impact"),
    path("impact-reports", chain_views.ImpactReportsView.as_view(), name="impact-reports"),
    path("royalty-statements", chain_views.RoyaltyStatementView.as_view(), name="royalty-statements"),
    path("jobs/<int:pk>/audit-report", report_views.JobAuditReportView.as_view(), name="job-audit-report"),
    path("models/<int:pk>/audit-report", report_views.ModelAuditReportView.as_view(), name="model-audit-report"),
    path("compliance/dashboard", report_views.ComplianceDashboardView.as_view(), name="compliance-dashboard"),
]
