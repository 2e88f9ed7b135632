"""Ledger tasks: periodic checkpoints (idempotent: a size already signed is not signed again)."""

from __future__ import annotations

from celery import shared_task

from licensing.actions import do_publish_checkpoint
from licensing.ledger import Actor


@shared_task(name="licensing.ledger.publish_checkpoint", acks_late=True, reject_on_worker_lost=True)
def publish_checkpoint() -> dict[str, int]:
    """Sign the current tree head; returns its size and the checkpoint id."""
    checkpoint = do_publish_checkpoint(actor=Actor.system("beat"))
    return {"tree_size": checkpoint.tree_size, "checkpoint_id": checkpoint.pk}


@shared_task(name="licensing.ingest.run_import", acks_late=True, reject_on_worker_lost=True)
def run_import(import_id: int) -> str:
    """Process a catalog import from its last committed batch (a redelivery resumes, never duplicates)."""
    from licensing import importer

    return importer.run_import(import_id)


@shared_task(name="licensing.ingest.requeue_stale_imports")
def requeue_stale_imports() -> list[int]:
    """Re-queue imports whose worker died mid-way (claim expired)."""
    from licensing import importer

    return importer.requeue_stale_imports()
