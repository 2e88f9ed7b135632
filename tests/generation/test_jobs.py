"""Jobs and the gate, in process: every outcome, idempotency, cancellation, redelivery and recovery.

The pipeline's tasks run in-process here (their claims and transitions are the same code a worker runs);
tests/generation/test_jobs_worker.py runs the same outcomes through a real worker on PostgreSQL.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.utils import timezone

from generation import actions, clearance, pipeline
from generation.models import Clearance, GateDecision, Job, JobDraft, JobOutput, JobState
from licensing.actions import do_revoke_license
from licensing.ledger import verify_ledger
from licensing.models import EntryType, LedgerEntry
from provenance import seal
from tests.generation import studio

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(operator_org, org_a, org_b, settings, tmp_path, ledger_key, data_dir):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.DATA_DIR = data_dir
    return studio.build(operator_org, org_a, org_b)


def submit(persona, body, key, django_capture_on_commit_callbacks):
    """POST a job; the tasks queued on commit run in-process (gate, compose, check, then seal)."""
    with django_capture_on_commit_callbacks(execute=True):
        response = persona.api.post("/api/v1/jobs/", body, format="json", HTTP_IDEMPOTENCY_KEY=key)
    assert response.status_code in (200, 201), response.json()
    return Job.objects.get(pk=response.json()["id"]), response


@pytest.fixture
def run(client_a, django_capture_on_commit_callbacks):
    def _run(body, key="k1", persona=None):
        return submit(persona or client_a, body, key, django_capture_on_commit_callbacks)[0]
    return _run


def reasons(job: Job, stage: str = "pre") -> list[str]:
    return [r["code"] for r in GateDecision.objects.get(job=job, stage=stage).reasons]


def test_a_cleared_commercial_job_completes_with_sealed_outputs(world, run, client_a):
    job = run(studio.request(world.model))
    assert job.state == JobState.COMPLETED, (job.outcome_code, job.outcome_message)
    pre = GateDecision.objects.get(job=job, stage="pre")
    assert pre.allowed and pre.policy_version == 0 and pre.manifest_root == world.model.manifest.merkle_root
    assert pre.facts["indemnification_tier"] == "standard" and job.indemnified
    post = GateDecision.objects.get(job=job, stage="post")
    assert post.allowed and post.facts["longest_run"] <= 8
    assert set(job.steps) == {"gate", "compose", "check", "seal"}
    assert all(step["seconds"] >= 0 for step in job.steps.values()) and job.progress == 100
    outputs = {o.kind: o for o in JobOutput.objects.filter(job=job)}
    assert set(outputs) == {"wav", "midi", "musicxml"}
    body = client_a.api.get(f"/api/v1/jobs/{job.pk}/outputs/wav/")
    data = b"".join(body.streaming_content)
    assert body.status_code == 200 and data[:4] == b"RIFF"
    assert hashlib.sha256(data).hexdigest() == outputs["wav"].sha256
    sealed = LedgerEntry.objects.get(entry_type=EntryType.OUTPUT_SEALED, subject_id=str(job.pk))
    assert sealed.leaf_index == outputs["wav"].ledger_index
    assert LedgerEntry.objects.filter(entry_type=EntryType.GATE_DECIDED, subject_id=str(job.pk)).count() == 2
    assert verify_ledger().ok


def test_the_same_idempotency_key_returns_the_same_job_and_a_different_body_conflicts(
        world, client_a, django_capture_on_commit_callbacks):
    body = studio.request(world.model, formats=["midi"])
    job, first = submit(client_a, body, "same", django_capture_on_commit_callbacks)
    again, second = submit(client_a, body, "same", django_capture_on_commit_callbacks)
    assert first.status_code == 201 and second.status_code == 200 and again.pk == job.pk
    conflict = client_a.api.post("/api/v1/jobs/", {**body, "territory": "GB"}, format="json",
                                 HTTP_IDEMPOTENCY_KEY="same")
    assert conflict.status_code == 409 and conflict.json()["error"]["code"] == "idempotency_conflict"
    assert Job.objects.count() == 1


def test_a_job_with_bad_plan_parameters_is_refused_and_nothing_is_stored(world, client_a):
    response = client_a.api.post("/api/v1/jobs/", studio.request(world.model, params={"tempo": 500}),
                                 format="json", HTTP_IDEMPOTENCY_KEY="bad")
    assert response.status_code == 400 and response.json()["error"]["code"].startswith("plan_")
    missing_key = client_a.api.post("/api/v1/jobs/", studio.request(world.model), format="json")
    assert missing_key.json()["error"]["code"] == "invalid_idempotency_key"
    assert not Job.objects.exists()


def test_an_opt_out_after_training_denies_the_model_under_the_default_policy(world, run):
    entry = studio.opt_out_training_work(world.model)
    job = run(studio.request(world.model))
    assert job.state == JobState.DENIED and job.outcome_code == "training_set_changed"
    decision = GateDecision.objects.get(job=job, stage="pre")
    reason = next(r for r in decision.reasons if r["code"] == "training_set_changed")
    assert reason["ids"] == [entry.work_key] and reason["count"] == 1
    assert not JobDraft.objects.exists() and not JobOutput.objects.exists()


def test_a_grace_policy_allows_the_model_until_the_retraining_deadline(world, run, auditor):
    studio.opt_out_training_work(world.model)
    response = auditor.api.post("/api/v1/gate-policies/", {"training_changes": "grace", "grace_days": 30},
                                format="json")
    assert response.status_code == 201 and response.json()["version"] == 1
    job = run(studio.request(world.model, formats=["midi"]))
    assert job.state == JobState.COMPLETED
    decision = GateDecision.objects.get(job=job, stage="pre")
    assert decision.policy_version == 1 and "training_change_in_grace" in reasons(job)
    assert not job.indemnified  # tolerated under grace: not covered
    later = timezone.now() + timedelta(days=31)
    from generation import facts, gate

    stale = gate.decide(facts.gate_facts(job, policy=facts.current_policy(), now=later))
    assert not stale.allowed and "retraining_deadline_passed" in [r.code for r in stale.reasons]


def test_a_territory_outside_the_contract_is_denied(world, run):
    job = run(studio.request(world.model, territory="JP"))
    assert job.state == JobState.DENIED and reasons(job) == ["territory_not_entitled"]


def test_commercial_use_outside_the_contract_is_denied(world, run, client_b):
    job = run(studio.request(world.model), persona=client_b)
    assert job.state == JobState.DENIED and "commercial_use_not_entitled" in reasons(job)
    ok = run(studio.request(world.model, use="non_commercial", formats=["midi"]), key="nc", persona=client_b)
    assert ok.state == JobState.COMPLETED


def test_a_style_reference_whose_holder_reserved_style_use_is_denied(world, run):
    tag, party = studio.style_tag_with_creator(world.model)
    assert run(studio.request(world.model, style_tags=[tag], formats=["midi"]), key="before").state == "completed"
    studio.opt_out_style_use(party)
    job = run(studio.request(world.model, style_tags=[tag]), key="after")
    assert job.state == JobState.DENIED and job.outcome_code == "style_reference_not_licensed"
    unknown = run(studio.request(world.model, style_tags=["composer:nobody"]), key="unknown")
    assert "style_tag_unknown" in reasons(unknown)


def test_naming_an_unlicensed_artist_in_the_prompt_is_denied(world, run):
    job = run(studio.request(world.model, description="A cold harbour at night, written the way Per Holm would."))
    assert job.state == JobState.DENIED and job.outcome_code == "named_artist_not_licensed"
    decision = GateDecision.objects.get(job=job, stage="pre")
    assert decision.facts["references"][0]["matched_text"] == "Per Holm"
    fuzzy = run(studio.request(world.model, description="Strings in the manner of Per Holmm, slow."), key="fz")
    assert fuzzy.state == JobState.DENIED


def test_an_output_repeating_training_material_is_blocked_after_composing(world):
    """A model that regurgitates: the composed melody is replaced by a training melody before the check."""
    from generation.engines.reference import corpus
    from generation.engines.reference.metrics import events_of
    from generation.registry import cache_dir

    job = _submitted(world)
    pipeline.run_step(job.pk, "gate", pipeline.gate_step)
    pipeline.run_step(job.pk, "compose", pipeline.compose_step)
    entry = world.model.manifest.entries.order_by("position").first()
    with entry.work.asset.open("rb") as handle:
        copied = corpus.extract_many([(entry.work_key, handle.read())], cache_dir(), processes=1)[entry.work_key][0]
    draft = JobDraft.objects.get(job=job)
    material = [list(n) for n in copied.notes[:40]]
    JobDraft.objects.filter(pk=draft.pk).update(composition={**draft.composition, "material": material})
    pipeline.run_step(job.pk, "check", pipeline.check_step)
    job.refresh_from_db()
    assert job.state == JobState.DENIED and job.outcome_code == "memorization_blocked"
    post = GateDecision.objects.get(job=job, stage="post")
    assert post.facts["longest_run"] == len(events_of(copied.notes[:40])) > 8
    assert post.facts["source"] == entry.work_key and post.facts["output_position"] == 0
    assert job.outcome_details["stage"] == "post" and post.reasons[0]["ids"] == [entry.work_key]
    assert not JobOutput.objects.exists()  # nothing unsealed ever reaches storage


def test_a_stricter_memorization_threshold_is_recorded_with_the_decision(world, auditor):
    auditor.api.post("/api/v1/gate-policies/", {"training_changes": "deny", "memorization_threshold": 3},
                     format="json")
    job = _submitted(world)
    pipeline.run_job(job.pk)
    post = GateDecision.objects.get(job=job, stage="post")
    assert post.policy_version == 1 and post.facts["threshold"] == 3
    assert post.allowed == (post.facts["longest_run"] <= 3)


def test_unsealed_outputs_are_never_downloadable_and_other_clients_cannot_see_the_job(world, client_a, client_b):
    job = _submitted(world)
    assert client_a.api.get(f"/api/v1/jobs/{job.pk}/outputs/midi/").json()["error"]["code"] == "not_sealed"
    assert client_b.api.get(f"/api/v1/jobs/{job.pk}/").status_code == 404
    assert client_a.api.get(f"/api/v1/jobs/{job.pk}/").json()["outputs"] == []


def test_a_cancelled_job_does_not_run_and_a_finished_one_cannot_be_cancelled(world, client_a):
    job, _ = actions.do_submit_job(actions.JobRequest(description=studio.SCENE, model=world.model.slug,
                                                      territory="US", use="commercial"),
                                   organization=world.client_a, user=client_a.user, idempotency_key="c",
                                   actor=studio.STAFF)
    response = client_a.api.post(f"/api/v1/jobs/{job.pk}/cancel/")
    assert response.json()["state"] == "cancelled"
    assert pipeline.run_job(job.pk) == "cancelled" and not GateDecision.objects.filter(job=job).exists()
    again = client_a.api.post(f"/api/v1/jobs/{job.pk}/cancel/")
    assert again.status_code == 200  # cancelling twice is harmless
    denied = actions.do_submit_job(actions.JobRequest(description=studio.SCENE, model=world.model.slug,
                                                      territory="JP", use="commercial"),
                                   organization=world.client_a, user=None, idempotency_key="d",
                                   actor=studio.STAFF)[0]
    pipeline.run_job(denied.pk)
    assert client_a.api.post(f"/api/v1/jobs/{denied.pk}/cancel/").json()["error"]["code"] == "job_finished"


def _submitted(world, key="r"):
    return actions.do_submit_job(actions.JobRequest(description=studio.SCENE, model=world.model.slug,
                                                    territory="US", use="commercial", params={"duration": 12},
                                                    formats=("midi",)),
                                 organization=world.client_a, user=None, idempotency_key=key,
                                 actor=studio.STAFF)[0]


def test_a_task_delivered_twice_leaves_no_duplicates(world):
    job = _submitted(world)
    assert pipeline.run_job(job.pk) == "sealing"
    assert pipeline.run_job(job.pk) == "sealing"  # redelivered: nothing left for the generate queue
    assert seal.seal_job(job.pk) == "completed"
    assert seal.seal_job(job.pk) == "completed"
    assert GateDecision.objects.filter(job=job).count() == 2 and JobOutput.objects.filter(job=job).count() == 1
    assert LedgerEntry.objects.filter(entry_type=EntryType.OUTPUT_SEALED).count() == 1


def test_a_worker_killed_mid_step_is_recovered_by_the_reaper(world, django_capture_on_commit_callbacks):
    job = _submitted(world)
    # A worker claims the gate step and dies: its claim stays until it expires.
    assert actions.do_claim_job_step(job.pk, "gate", claim_seconds=60)
    assert pipeline.run_job(job.pk) == "gated"  # another delivery finds the step held
    Job.objects.filter(pk=job.pk).update(claimed_until=timezone.now() - timedelta(seconds=1))
    assert pipeline.stalled_jobs() == [(job.pk, "generate")]
    from generation.tasks import requeue_stalled_jobs

    with django_capture_on_commit_callbacks(execute=True):
        assert requeue_stalled_jobs() == [job.pk]  # eager here: the re-queued steps run at once
    job.refresh_from_db()
    assert job.state == JobState.COMPLETED and job.steps["gate"]["attempts"] == 2
    assert GateDecision.objects.filter(job=job, stage="pre").count() == 1


def test_a_zombie_worker_that_lost_its_claim_cannot_finish_the_step(world):
    job = _submitted(world)
    token = actions.do_claim_job_step(job.pk, "gate", claim_seconds=60)
    Job.objects.filter(pk=job.pk).update(claimed_until=timezone.now() - timedelta(seconds=1))
    fresh = actions.do_claim_job_step(job.pk, "gate", claim_seconds=60)
    assert fresh and fresh != token
    job = Job.objects.get(pk=job.pk)
    with pytest.raises(actions.ClaimLost):
        pipeline.gate_step(job, token)
    assert not GateDecision.objects.filter(job=job).exists()


def test_the_clearance_state_follows_a_revocation_incrementally_and_matches_a_full_recheck(world):
    model = world.model
    first = clearance.training_facts(model, "US")
    assert first.blocks["ai_training"].hard == 0
    entry = model.manifest.entries.order_by("position").first()
    do_revoke_license(entry.license, effective_at=None, reason="licensor withdrew", actor=studio.STAFF)
    assert clearance.pending()
    result = clearance.catch_up()
    affected = model.manifest.entries.filter(license=entry.license).count()
    assert result.works_reevaluated >= affected and result.states_updated == 1
    state = Clearance.objects.get(manifest=model.manifest, territory="US")
    naive = clearance.naive_training_facts(model, "US")
    counts = {use: state.counts[use]["hard"] + state.counts[use]["grace"] for use in clearance.USES}
    assert counts == naive and counts["ai_training"] >= 1
    assert state.counts["ai_training"]["grace"] >= 1  # cleared at training time: a training change
    assert not clearance.pending()


def test_an_entitlement_quota_counts_approved_jobs_this_month(world, run, staff):
    response = staff.api.post("/api/v1/entitlements/", {
        "organization": world.client_a.slug, "reference": "MSA-A-2026-2", "territories": ["US"],
        "commercial_use": True, "indemnification_tier": "enhanced", "monthly_quota": 1}, format="json")
    assert response.status_code == 201
    assert run(studio.request(world.model, formats=["midi"]), key="q1").state == "completed"
    second = run(studio.request(world.model, formats=["midi"]), key="q2")
    assert second.state == "denied" and reasons(second) == ["quota_exhausted"]


def test_clients_cannot_grant_entitlements_or_set_policy(world, client_a):
    assert client_a.api.post("/api/v1/entitlements/", {}, format="json").status_code == 403
    assert client_a.api.post("/api/v1/gate-policies/", {}, format="json").status_code == 403
    assert client_a.api.get("/api/v1/gate-policies/current/").json()["version"] == 0


def test_the_admin_shows_jobs_with_progress_step_timings_and_decisions(world, run, staff):
    job = run(studio.request(world.model, formats=["midi"]))
    listing = staff.api.get("/admin/generation/job/")
    assert listing.status_code == 200 and b"<progress" in listing.content and b"compose" in listing.content
    page = staff.api.get(f"/admin/generation/job/{job.pk}/change/")
    assert page.status_code == 200 and b"Gate decision" in page.content
    for path in ("gatedecision", "entitlement", "gatepolicy", "clearance"):
        assert staff.api.get(f"/admin/generation/{path}/").status_code == 200, path


def test_a_dated_opt_out_makes_the_clearance_stale_only_when_its_time_comes(world):
    from licensing.actions import do_register_optouts
    from licensing.terms import Reservation, ReservedUse, Source, Subject, SubjectKind

    model = world.model
    clearance.training_facts(model, "US")
    entry = model.manifest.entries.order_by("position").first()
    start = timezone.now() + timedelta(days=2)
    do_register_optouts([Reservation(Subject(SubjectKind.WORK, str(entry.work_id)),
                                     frozenset({ReservedUse.AI_TRAINING}), Source.DIRECT, {"from": "in two days"},
                                     effective_from=start)], actor=studio.STAFF)
    assert clearance.pending()  # a new rights entry
    clearance.catch_up()
    assert not clearance.pending() and clearance.training_facts(model, "US").blocks["ai_training"].grace == 0
    later = start + timedelta(seconds=1)
    assert clearance.pending(later)  # the clock passed its effective time
    facts_then = clearance.training_facts(model, "US", now=later)
    assert facts_then.blocks["ai_training"].grace == 1
    assert facts_then.blocks["ai_training"].grace_sample == (entry.work_key,)


def test_clearance_is_prepared_ahead_of_the_first_job_for_every_entitled_territory(
        operator_org, org_a, org_b, settings, tmp_path, ledger_key, data_dir, django_capture_on_commit_callbacks):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.DATA_DIR = data_dir
    with django_capture_on_commit_callbacks(execute=True):
        world = studio.build(operator_org, org_a, org_b)
    prepared = set(Clearance.objects.filter(manifest=world.model.manifest).values_list("territory", flat=True))
    assert prepared == {"US", "GB"}  # the manifest's territory and the contracts' territories
