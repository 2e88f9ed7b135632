"""Provenance tasks (queue `seal`). They take ids and claim their step."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="provenance.seal.seal_job", acks_late=True, reject_on_worker_lost=True)
def seal_job(job_id: int) -> str:
    """Render, seal and store a checked job's outputs (a redelivery finds the step claimed or done)."""
    from provenance import seal

    return seal.seal_job(job_id)
