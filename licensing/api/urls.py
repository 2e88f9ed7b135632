"""/api/v1/ledger/ routes."""

from django.urls import path
from rest_framework.routers import DefaultRouter

from licensing.api import catalog_views, views

router = DefaultRouter(trailing_slash=True)
router.register("parties", catalog_views.PartyViewSet, basename="party")
router.register("collections", catalog_views.CollectionViewSet, basename="collection")
router.register("works", catalog_views.WorkViewSet, basename="work")
router.register("licenses", catalog_views.LicenseViewSet, basename="license")
router.register("optouts", catalog_views.OptOutViewSet, basename="optout")
router.register("catalog-imports", catalog_views.CatalogImportViewSet, basename="catalogimport")

urlpatterns = [
    path("ledger/checkpoint", views.CheckpointNoteView.as_view(), name="ledger-checkpoint-note"),
    path("ledger/checkpoints/", views.CheckpointListView.as_view(), name="ledger-checkpoints"),
    path("ledger/checkpoints/latest/", views.LatestCheckpointView.as_view(), name="ledger-checkpoint-latest"),
    path("ledger/proof/inclusion/", views.InclusionProofView.as_view(), name="ledger-inclusion-proof"),
    path("ledger/proof/consistency/", views.ConsistencyProofView.as_view(), name="ledger-consistency-proof"),
    path("ledger/entries/", views.EntryRangeView.as_view(), name="ledger-entries"),
    path("rights/evaluate/", catalog_views.EvaluateView.as_view(), name="rights-evaluate"),
    *router.urls,
]
