"""Jobs end to end on PostgreSQL with real workers on the `generate` and `seal` queues, through the API.

Each gate outcome is exercised as a client meets it: allowed, denied by opt-out, territory, commercial use,
style reference and named artist, and blocked by the memorization guard; then a worker is killed mid-step and
the reaper hands the job to another worker, leaving no duplicate.
"""

from __future__ import annotations

import os
import signal
import time

import pytest

from generation.models import GateDecision, Job, JobOutput
from licensing.models import EntryType, LedgerEntry
from tests.generation import studio
from tests.worker import celery_worker

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]
TERMINAL = {"completed", "denied", "failed", "cancelled"}


@pytest.fixture
def world(operator_org, org_a, org_b, settings, ledger_key):
    return studio.build(operator_org, org_a, org_b)


@pytest.fixture(autouse=True)
def _worker_keys(ledger_key, sealing_material):
    """Workers sign checkpoints and seal with this test's ledger key and the session's sealing material."""
    WORKER_KEYS.update({"CLEARCUE_LEDGER_SIGNING_KEY": ledger_key[0], **sealing_material})
    yield
    WORKER_KEYS.clear()


@pytest.fixture
def data_dir(settings):
    """The workers share this process's data directory: media (checkpoints, outputs) and the melody cache."""
    return settings.DATA_DIR


WORKER_KEYS: dict[str, str] = {}


def worker_env(data_dir, claim_seconds: int = 300) -> dict[str, str]:
    return {"CLEARCUE_DATA_DIR": str(data_dir), "CLEARCUE_JOB_CLAIM_SECONDS": str(claim_seconds), **WORKER_KEYS}


def post(persona, body, key):
    response = persona.api.post("/api/v1/jobs/", body, format="json", HTTP_IDEMPOTENCY_KEY=key)
    assert response.status_code == 201, response.json()
    return response.json()["id"]


def wait(persona, job_id, *, states=TERMINAL, timeout=120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = persona.api.get(f"/api/v1/jobs/{job_id}/").json()
        if body["state"] in states:
            return body
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not reach {states} in {timeout} s: {body['state']}")


def test_every_gate_outcome_end_to_end_through_real_workers(world, client_a, client_b, auditor, data_dir):
    tag, party = studio.style_tag_with_creator(world.model)
    with celery_worker("generate,seal", concurrency=2, extra_env=worker_env(data_dir)):
        allowed = wait(client_a, post(client_a, studio.request(world.model, style_tags=[tag]), "allowed"))
        territory = wait(client_a, post(client_a, studio.request(world.model, territory="JP"), "territory"))
        commercial = wait(client_b, post(client_b, studio.request(world.model), "commercial"))
        named = wait(client_a, post(client_a, studio.request(
            world.model, description="Night harbour, lonely strings, the way Per Holm writes."), "named"))
        studio.opt_out_style_use(party)
        style = wait(client_a, post(client_a, studio.request(world.model, style_tags=[tag]), "style"))
        auditor.api.post("/api/v1/gate-policies/", {"training_changes": "deny", "memorization_threshold": 1},
                         format="json")
        memorized = wait(client_a, post(client_a, studio.request(world.model, params={"duration": 60}, seed=1),
                                        "memorized"))
        auditor.api.post("/api/v1/gate-policies/", {"training_changes": "deny", "memorization_threshold": 8},
                         format="json")
        entry = studio.opt_out_training_work(world.model)
        opted_out = wait(client_a, post(client_a, studio.request(world.model), "opted-out"))

    assert allowed["state"] == "completed", allowed["outcome_message"]
    assert {o["kind"] for o in allowed["outputs"]} == {"wav", "midi", "musicxml"}
    assert set(allowed["steps"]) == {"gate", "compose", "check", "seal"} and allowed["progress"] == 100
    wav = client_a.api.get(f"/api/v1/jobs/{allowed['id']}/outputs/wav/")
    assert wav.status_code == 200 and b"".join(wav.streaming_content)[:4] == b"RIFF"

    expected = {
        "territory": (territory, "territory_not_entitled"),
        "commercial": (commercial, "commercial_use_not_entitled"),
        "named": (named, "named_artist_not_licensed"),
        "style": (style, "style_reference_not_licensed"),
        "memorized": (memorized, "memorization_blocked"),
        "opted_out": (opted_out, "training_set_changed"),
    }
    for name, (job, code) in expected.items():
        assert job["state"] == "denied", (name, job["state"], job["outcome_message"])
        assert job["outcome_code"] == code, (name, job["outcome_code"])
        assert job["outputs"] == [], name
        codes = [r["code"] for d in job["decisions"] for r in d["reasons"] if r["severity"] == "deny"]
        assert code in codes, (name, codes)
    assert opted_out["decisions"][0]["reasons"][0]["ids"] == [entry.work_key]
    assert memorized["decisions"][-1]["stage"] == "post" and memorized["outcome_details"]["longest_run"] > 1
    # Every decision is a gate.decided ledger entry; only the allowed job was sealed.
    assert LedgerEntry.objects.filter(entry_type=EntryType.GATE_DECIDED).count() == GateDecision.objects.count()
    assert set(JobOutput.objects.values_list("job_id", flat=True)) == {allowed["id"]}


def test_a_worker_killed_mid_step_is_recovered_without_duplicates(world, client_a, data_dir):
    from generation.tasks import requeue_stalled_jobs

    body = studio.request(world.model, params={"duration": 180}, formats=["wav", "midi"])
    with celery_worker("generate,seal", pool="solo", extra_env=worker_env(data_dir, claim_seconds=3)) as first:
        job_id = post(client_a, body, "killed")
        wait(client_a, job_id, states={"sealing"}, timeout=120)
        while Job.objects.get(pk=job_id).claimed_until is None:  # wait for the seal step to be claimed
            time.sleep(0.01)
        os.kill(first.pid, signal.SIGKILL)  # the solo pool renders in this process: the step dies with it
        first.wait()
    killed = Job.objects.get(pk=job_id)
    assert killed.state == "sealing" and killed.claimed_until is not None and not killed.outputs.exists()
    time.sleep(3.5)  # the dead worker's claim expires
    with celery_worker("generate,seal", extra_env=worker_env(data_dir)):
        assert requeue_stalled_jobs.apply().get() == [job_id]  # the reaper (beat runs it every 30 s)
        done = wait(client_a, job_id, timeout=180)
    assert done["state"] == "completed", done["outcome_message"]
    assert done["steps"]["seal"]["attempts"] == 2
    assert JobOutput.objects.filter(job_id=job_id).count() == 2
    assert LedgerEntry.objects.filter(entry_type=EntryType.OUTPUT_SEALED, subject_id=str(job_id)).count() == 1
    assert GateDecision.objects.filter(job_id=job_id).count() == 2
