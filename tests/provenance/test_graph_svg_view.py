"""The license-chain picture on its own: `GET /api/v1/jobs/<id>/license-graph?view=svg`, with the JSON view's
access rules, the audit report's drawing, and the admin's links to both (completed jobs only)."""

from __future__ import annotations

import hashlib
import re
import xml.etree.ElementTree as ET

import pytest

from generation.models import Job, JobState
from provenance import chain
from provenance import graph as g
from provenance.models import LicenseGraph
from tests.generation import studio

pytestmark = pytest.mark.django_db
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def world(operator_org, org_a, org_b, settings, tmp_path, ledger_key, data_dir):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.DATA_DIR = data_dir
    return studio.build(operator_org, org_a, org_b)


def submit(persona, body, key, capture) -> Job:
    """POST a job; the pipeline's tasks queued on commit run in-process (gate, compose, check, seal)."""
    with capture(execute=True):
        response = persona.api.post("/api/v1/jobs/", body, format="json", HTTP_IDEMPOTENCY_KEY=key)
    assert response.status_code in (200, 201), response.json()
    return Job.objects.get(pk=response.json()["id"])


def titles(svg: str) -> set[str]:
    """The ids of the boxes drawn (each box carries its full id in a `<title>`)."""
    return {t.text or "" for t in ET.fromstring(svg).iter(f"{SVG}title")}


def test_the_license_chain_picture_is_the_reports_drawing_served_to_those_who_may_see_the_job_and_linked_in_the_admin(
        world, client_a, client_b, auditor, staff, django_capture_on_commit_callbacks):
    # One test, one studio: building it (ingest and training) is most of the time.
    job = submit(client_a, studio.request(world.model, formats=["midi"]), "svg-1", django_capture_on_commit_callbacks)
    assert job.state == JobState.COMPLETED, (job.outcome_code, job.outcome_message)
    record = LicenseGraph.objects.get(job=job)
    url = f"/api/v1/jobs/{job.pk}/license-graph"

    response = client_a.api.get(url, {"view": "svg"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("image/svg+xml")
    assert "default-src 'none'" in response["Content-Security-Policy"]
    assert response["X-Graph-Digest"] == record.digest
    assert response["X-Content-SHA256"] == hashlib.sha256(response.content).hexdigest()
    picture = response.content.decode()
    root = ET.fromstring(picture)
    assert root.tag == f"{SVG}svg" and f"License chain of job {job.pk}" in picture
    reference = chain.job_reference(job)
    drawn = titles(picture)
    assert {g.job_id(reference), g.output_id(reference)} <= drawn

    # The same boxes as the picture the audit report embeds (the standalone one only adds its heading).
    report = client_a.api.get(f"/api/v1/jobs/{job.pk}/audit-report").content.decode()
    embedded = re.search(r"<svg .*?</svg>", report, re.S)
    assert embedded is not None
    assert drawn - {f"License chain of job {job.pk}"} == titles(embedded.group(0)) - {"License-chain graph"}

    # Same access rules as the JSON view: auditors and staff (session) see it; another tenant gets 404.
    assert auditor.api.get(url, {"view": "svg"}).status_code == 200
    assert staff.api.get(url, {"view": "svg"})["Content-Type"].startswith("image/svg+xml")
    hidden = client_b.api.get(url, {"view": "svg"})
    assert hidden.status_code == 404 and hidden.json()["error"]["code"] == "not_found"

    # JSON stays the default, byte for byte the sealed graph; an unknown view is refused with a code.
    default = client_a.api.get(url)
    assert default["Content-Type"] == "application/json"
    assert hashlib.sha256(default.content).hexdigest() == record.digest
    assert client_a.api.get(url, {"view": "json"}).content == default.content
    refused = client_a.api.get(url, {"view": "png"})
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "invalid_view"

    # With the training graph inlined, the picture draws the training works too (this manifest's few fit a column).
    whole = titles(client_a.api.get(url, {"view": "svg", "include": "training"}).content.decode())
    works = {t for t in whole if t.startswith("work:") and "→" not in t}
    assert g.manifest_id(job.model.manifest.merkle_root) in whole and len(works) == job.model.manifest.work_count


    # The admin links a completed job to its report (HTML and PDF) and its picture; a denied job, never sealed,
    # has neither a link nor a picture.
    page = staff.api.get(f"/admin/generation/job/{job.pk}/change/").content.decode()
    assert f'href="/api/v1/jobs/{job.pk}/audit-report"' in page
    assert f'href="/api/v1/jobs/{job.pk}/audit-report?format=pdf"' in page
    assert f'href="/api/v1/jobs/{job.pk}/license-graph?view=svg"' in page
    denied = submit(client_a, studio.request(world.model, description="A cold harbour at night, the way Per Holm "
                                             "writes."), "svg-denied", django_capture_on_commit_callbacks)
    assert denied.state == JobState.DENIED
    page = staff.api.get(f"/admin/generation/job/{denied.pk}/change/").content.decode()
    assert "license-graph" not in page and "audit-report" not in page
    missing = client_a.api.get(f"/api/v1/jobs/{denied.pk}/license-graph", {"view": "svg"})
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "graph_not_recorded"
