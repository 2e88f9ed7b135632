"""The job pipeline's steps on the `generate` queue: gate, compose, check. Sealing is provenance.seal.

Each step is claimed with a conditional update (generation.actions.do_claim_job_step) and finishes with a
conditional transition that still holds the claim, so a task delivered twice does nothing the second time, and
a worker killed mid-step leaves a claim that expires; the reaper (`requeue_stalled_jobs`) then re-queues the
job and the step runs again from its start (steps keep nothing half-done: drafts are replaced, decisions are
recorded once, outputs are stored under content-addressed names).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from clearcue.exceptions import DomainError
from generation import clearance, facts, gate, guard
from generation.actions import (
    ClaimLost,
    do_claim_job_step,
    do_decide_job,
    do_fail_job,
    do_record_release_check,
    do_save_draft,
)
from generation.models import Job, JobState
from licensing.ledger import Actor

log = logging.getLogger(__name__)

GATE_ACTOR = Actor.system("gate")


def claim_seconds() -> int:
    """How long a step's claim lasts before the reaper may hand the job to another worker."""
    return int(settings.CLEARCUE_JOB_CLAIM_SECONDS)


def _load(job_id: int) -> Job:
    return Job.objects.select_related("model__manifest", "organization").get(pk=job_id)


def gate_step(job: Job, token: str) -> None:
    """Decide before composing; the decision and the job's transition commit together."""
    # Bring the clearance state current (and compute it the first time) before the decision takes its locks.
    clearance.bring_current(job.model.manifest, job.territory)

    def decide() -> tuple[gate.Decision, gate.Policy]:
        policy = facts.current_policy()
        return gate.decide(facts.gate_facts(job, policy=policy)), policy

    do_decide_job(job, token, decide=decide, actor=GATE_ACTOR)


def compose_step(job: Job, token: str) -> None:
    """Plan and compose with the model's engine; keep the result as a draft (never in storage)."""
    from generation.engines.reference.plan import PlanParams
    from generation.registry import engine_for

    engine = engine_for(job.model)
    params = PlanParams.from_dict({**job.params, "style_tags": list(job.style_tags)})
    plan = engine.plan(job.description, params)
    composition = engine.compose(plan, seed=job.seed)
    do_save_draft(job, token, engine=job.model.engine, composition={
        "plan": plan.to_dict(), "material": [list(note) for note in composition.material], "seed": composition.seed,
        "timings": dict(composition.timings)})


def check_step(job: Job, token: str) -> None:
    """The post-gate: the memorization guard over the composed melody."""
    policy = facts.current_policy()
    draft = job.draft
    started = time.perf_counter()
    events = guard.melody_events(draft.engine, draft.composition["material"])
    run = guard.check(job.model, events)
    decision = gate.decide_release(gate.ReleaseFacts(policy, run.events, run.longest_run, run.source,
                                                     run.melody_index, run.output_position))
    do_record_release_check(job, token, decision, policy=policy, elapsed_ms=(time.perf_counter() - started) * 1000,
                            actor=GATE_ACTOR)


STEPS = (("gate", gate_step), ("compose", compose_step), ("check", check_step))


def job_state(job_id: int) -> str:
    """The job's current state ("missing" if there is no such job)."""
    return Job.objects.filter(pk=job_id).values_list("state", flat=True).first() or "missing"


def run_step(job_id: int, name: str, step: Callable[[Job, str], None]) -> bool:
    """Claim and run one step (any queue's); True if this call did it.

    The step's claim expiring under it drops its result (ClaimLost); a refusal or an error ends the job as
    `failed` with an explanation rather than leaving it to the reaper forever.
    """
    token = do_claim_job_step(job_id, name, claim_seconds=claim_seconds())
    if token is None:
        return False
    job = _load(job_id)
    try:
        step(job, token)
    except ClaimLost:
        log.warning("job %s: the %s step lost its claim; its result was dropped", job_id, name)
    except DomainError as exc:
        do_fail_job(job, token, name, code=exc.code, message=exc.message,
                    details=exc.details if isinstance(exc.details, dict) else {"details": exc.details})
    except Exception as exc:
        log.exception("job %s: the %s step failed", job_id, name)
        do_fail_job(job, token, name, code=f"{name}_error", message=f"The {name} step failed: {type(exc).__name__}: "
                    f"{exc}")
    return True


def run_job(job_id: int) -> str:
    """Run every generate-queue step the job waits for, in order; returns the state it is left in."""
    for name, step in STEPS:
        run_step(job_id, name, step)
    return job_state(job_id)


# Queued states, with the task that takes them on.
QUEUED = {JobState.SUBMITTED: "generate", JobState.APPROVED: "generate", JobState.CHECKING: "generate",
          JobState.SEALING: "seal"}
HELD = {JobState.GATED: "generate", JobState.COMPOSING: "generate", JobState.CHECKING: "generate",
        JobState.SEALING: "seal"}


def stalled_jobs(*, queued_after_seconds: int = 60) -> list[tuple[int, str]]:
    """Jobs whose step claim expired (worker died), or queued with no progress for a while (message lost)."""
    now = timezone.now()
    expired = Q(state__in=list(HELD), claimed_until__lt=now)
    waiting = Q(state__in=list(QUEUED), claimed_until__isnull=True,
                updated_at__lt=now - timedelta(seconds=queued_after_seconds))
    rows = Job.objects.filter(expired | waiting).values_list("pk", "state").order_by("pk")[:1000]
    return [(pk, HELD.get(state) or QUEUED[state]) for pk, state in rows]
