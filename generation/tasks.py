"""Generation tasks (queue `generate`): the job pipeline, the reaper and clearance upkeep. They take ids."""

from __future__ import annotations

from typing import Any

from celery import shared_task


@shared_task(name="generation.jobs.run", acks_late=True, reject_on_worker_lost=True)
def run_job(job_id: int) -> str:
    """Gate, compose and check a job, each step claimed (a redelivery does only what is missing)."""
    from generation import pipeline

    return pipeline.run_job(job_id)


@shared_task(name="generation.jobs.requeue_stalled")
def requeue_stalled_jobs() -> list[int]:
    """Re-queue jobs whose worker died mid-step (claim expired) or whose message was lost."""
    from generation import pipeline
    from provenance.tasks import seal_job

    requeued = []
    for job_id, queue in pipeline.stalled_jobs():
        (seal_job if queue == "seal" else run_job).delay(job_id)
        requeued.append(job_id)
    return requeued


@shared_task(name="generation.clearance.catch_up", acks_late=True, reject_on_worker_lost=True)
def catch_up_clearance() -> dict[str, Any]:
    """Apply rights changes to every model's clearance state (idempotent: the cursor says what is done)."""
    from generation import clearance

    if not clearance.pending():
        return {"pending": False}
    return clearance.catch_up().as_json()


@shared_task(name="generation.clearance.prepare", acks_late=True, reject_on_worker_lost=True)
def prepare_clearance(manifest_id: int, territory: str) -> dict[str, Any]:
    """Compute a manifest's clearance state in a territory ahead of its first job (idempotent)."""
    from generation import clearance
    from generation.models import TrainingManifest

    state = clearance.ensure_clearance(TrainingManifest.objects.get(pk=manifest_id), territory)
    return {"manifest_id": manifest_id, "territory": territory, "full_seconds": round(state.full_seconds, 3)}
