"""Provenance tasks (queue `seal`). They take ids and claim their step."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="provenance.seal.seal_job", acks_late=True, reject_on_worker_lost=True)
def seal_job(job_id: int) -> str:
    """Render, seal and store a checked job's outputs (a redelivery finds the step claimed or done)."""
    from provenance import seal

    return seal.seal_job(job_id)


@shared_task(name="provenance.impact.report_changes", acks_late=True, reject_on_worker_lost=True)
def report_impact() -> dict[str, object]:
    """Impact reports for revocations and opt-outs recorded since the cursor (idempotent: the cursor and the
    unique trigger index say what is done)."""
    from provenance import impact

    if not impact.pending():
        return {"pending": False}
    return {"reports": [r.pk for r in impact.report_changes()]}
