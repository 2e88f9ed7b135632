"""The scale-out path end to end: deploy/run_local.py starts web (gunicorn), a `generate` worker, a `seal` worker, a
`default,ingest,ledger` worker and beat as separate processes on the test database and broker, connected as an
application role holding exactly deploy/grants.sql's privileges; a client then drives a job over real HTTP.

The job is submitted (with an Idempotency-Key, twice), composed, sealed, downloaded and verified; the ledger's request
ids and the workers' logs show which process did each step, and beat's checkpoint task reached the ledger queue.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.db import connection

from deploy.run_local import topology
from licensing.models import EntryType, LedgerEntry
from tests.generation import studio

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

GRANTS = Path(__file__).resolve().parents[2] / "deploy" / "grants.sql"
TERMINAL = {"completed", "denied", "failed", "cancelled"}
CHECKPOINT_TASK = re.escape("licensing.ledger.publish_checkpoint")


@pytest.fixture(autouse=True)
def _empty_queues() -> None:
    """Messages an interrupted earlier run left under this broker prefix must not reach this run's workers."""
    from clearcue.celery import app

    app.control.purge()


@pytest.fixture
def world(operator_org, org_a, org_b, ledger_key):
    return studio.build(operator_org, org_a, org_b)


@pytest.fixture
def app_role_url(transactional_db) -> str:
    """A DATABASE_URL for a new login role granted exactly what deploy/grants.sql grants (as in production)."""
    s = connection.settings_dict
    role, password = f"clearcue_app_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
    try:
        owner = " ".join(f"{k}={v}" for k, v in {"host": s["HOST"] or "127.0.0.1", "port": s["PORT"] or 5432,
                                                  "dbname": s["NAME"], "user": s["USER"] or "postgres"}.items())
        result = subprocess.run(["psql", owner, "-v", f"app_role={role}", "-f", str(GRANTS)], capture_output=True,
                                text=True, timeout=60, env={**os.environ, "PGPASSWORD": s.get("PASSWORD") or ""})
        assert result.returncode == 0, result.stderr
        yield f"postgres://{role}:{password}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{quote(s['NAME'])}"
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP OWNED BY {role}")
            cursor.execute(f"DROP ROLE {role}")


@pytest.fixture
def topology_env(app_role_url, settings, ledger_key, sealing_material) -> dict[str, str]:
    """What every process of the topology gets: the test database (as the application role), the shared data
    directory (media, the model's weights), the ledger key and the sealing material; checkpoints every 5 s."""
    return {"DATABASE_URL": app_role_url, "CLEARCUE_DATA_DIR": str(settings.DATA_DIR),
            "CLEARCUE_LEDGER_SIGNING_KEY": ledger_key[0], **sealing_material,
            "CLEARCUE_CHECKPOINT_INTERVAL": "5", "CLEARCUE_LOG_LEVEL": "INFO"}


class Api:
    """A client of the running web process over real HTTP, authenticated by an API key."""

    def __init__(self, base_url: str, key: str) -> None:
        self.base_url, self.key = base_url, key

    def call(self, method: str, target: str, body: bytes | None = None,
             headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        url = target if target.startswith("http") else self.base_url + target
        request = urllib.request.Request(url, data=body, method=method,
                                         headers={"Authorization": f"Bearer {self.key}", **(headers or {})})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def json(self, method: str, target: str, body: Any = None, headers: dict[str, str] | None = None,
             content_type: str = "application/json") -> tuple[int, Any]:
        data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        status, raw = self.call(method, target, data, {"Content-Type": content_type, **(headers or {})})
        return status, json.loads(raw)


def wait_for(what: str, check: Callable[[], Any], timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {timeout} s")


def task_id(entry: LedgerEntry) -> str:
    """Entries written by a task carry `task:<celery task id>` as their request id."""
    assert entry.request_id.startswith("task:"), (entry.entry_type, entry.request_id)
    return entry.request_id.removeprefix("task:")


def test_a_job_submitted_over_http_is_composed_sealed_and_verified_by_separate_processes(
        world, client_a, topology_env, tmp_path):
    body = studio.request(world.model, formats=["wav", "midi"])
    with topology(topology_env, tmp_path / "logs", web_workers=1) as topo:
        api = Api(topo.base_url, client_a.key)
        status, created = api.json("POST", "/api/v1/jobs/", body,
                                   {"Idempotency-Key": "topology-1", "X-Request-ID": "topology-submit"})
        assert status == 201, created
        status, again = api.json("POST", "/api/v1/jobs/", body, {"Idempotency-Key": "topology-1"})
        assert (status, again["id"]) == (200, created["id"])

        def finished() -> dict[str, Any] | None:
            job = api.json("GET", f"/api/v1/jobs/{created['id']}/")[1]
            return job if job["state"] in TERMINAL else None

        job = wait_for("the job finishing", finished, 90)
        assert job["state"] == "completed", (job["outcome_code"], job["outcome_message"])
        wav_output = next(o for o in job["outputs"] if o["kind"] == "wav")
        status, wav = api.call("GET", wav_output["url"])  # the absolute URL the API hands out
        assert status == 200 and wav[:4] == b"RIFF"
        status, report = api.json("POST", "/api/v1/verify", wav, content_type="audio/wav")
        assert status == 200, report
        # Beat (every 5 s here) -> broker -> the ledger queue -> worker-default.
        wait_for("beat's checkpoint task done on the ledger queue",
                 lambda: re.search(CHECKPOINT_TASK + r"\[\S+\] succeeded", topo.log("worker-default")), 20)
        logs = {name: topo.log(name) for name in topo.children}
        pids = {name: child.pid for name, child in topo.children.items()}
        nodes = topo.nodes()

    # Five processes, three distinguishable workers.
    assert len(set(pids.values())) == 5 and set(nodes) == {"worker-generate", "worker-seal", "worker-default"}
    assert len(set(nodes.values())) == 3

    # The sealed WAV verifies: trusted C2PA manifest, our watermark, resolved to this job, covered.
    assert hashlib.sha256(wav).hexdigest() == wav_output["sha256"]
    assert report["c2pa"]["state"] == "Trusted", report["c2pa"]
    assert "sha256" in report["resolved_by"] and report["job"]["id"] == job["id"]
    assert report["output"]["kind"] == "wav" and report["watermark"]["detected"]
    assert report["ledger"]["verified"] and report["indemnification"]["covered"]

    # Who did what: web wrote the submission (our request id); the generate worker decided; the seal worker sealed.
    entries = LedgerEntry.objects.filter(subject_type="job", subject_id=str(job["id"]))
    submitted = entries.get(entry_type=EntryType.JOB_SUBMITTED)
    assert submitted.request_id == "topology-submit"
    decisions = list(entries.filter(entry_type=EntryType.GATE_DECIDED))
    assert sorted(json.loads(bytes(d.payload))["data"]["stage"] for d in decisions) == ["post", "pre"]
    for decision in decisions:
        marker = f"generation.jobs.run[{task_id(decision)}]"
        assert marker in logs["worker-generate"], marker
        assert all(marker not in logs[name] for name in ("worker-seal", "worker-default"))
    sealed = entries.get(entry_type=EntryType.OUTPUT_SEALED)
    marker = f"provenance.seal.seal_job[{task_id(sealed)}]"
    assert f"{marker} succeeded" in logs["worker-seal"], marker
    assert all(marker not in logs[name] for name in ("worker-generate", "worker-default"))

    # Beat sent scheduled tasks, and the ledger worker ran the checkpoint one.
    assert "Sending due task ledger-checkpoint (licensing.ledger.publish_checkpoint)" in logs["beat"]
    received = re.findall(r"Task " + CHECKPOINT_TASK + r"\[([0-9a-f-]+)\] received", logs["worker-default"])
    assert any(f"[{tid}] succeeded in" in logs["worker-default"] for tid in received), received
