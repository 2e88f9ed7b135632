"""/api/v1/ledger/ routes."""

from django.urls import path

from licensing.api import views

urlpatterns = [
    path("ledger/checkpoint", views.CheckpointNoteView.as_view(), name="ledger-checkpoint-note"),
    path("ledger/checkpoints/", views.CheckpointListView.as_view(), name="ledger-checkpoints"),
    path("ledger/checkpoints/latest/", views.LatestCheckpointView.as_view(), name="ledger-checkpoint-latest"),
    path("ledger/proof/inclusion/", views.InclusionProofView.as_view(), name="ledger-inclusion-proof"),
    path("ledger/proof/consistency/", views.ConsistencyProofView.as_view(), name="ledger-consistency-proof"),
    path("ledger/entries/", views.EntryRangeView.as_view(), name="ledger-entries"),
]
