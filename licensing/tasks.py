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
