"""The README's main command end to end, on a part of the reference catalog (the whole one takes a minute).

What it must show is checked against the database and the API, not only the printout: working keys, a sealed
commercial cue whose files verify, the gate's refusals with their codes, the stripped copy resolved by its
watermark, the tampered copy invalid, a verified ledger; and a second run reuses everything instead of
duplicating it.
"""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from tests.databases import empty_sqlite_database

pytestmark = pytest.mark.django_db(transaction=True)  # jobs run on commit, as in production

# The commercial composer trains on josquin/lusitano/leadSheet/corelli (cleared for commercial output);
# Monteverdi's reserved madrigals and Beethoven's non-commercial quartets give the refusals.
COLLECTIONS = "josquin,lusitano,leadSheet,corelli,monteverdi,beethoven"


@pytest.fixture(autouse=True)
def _flushable_on_sqlite(transactional_db):
    yield
    empty_sqlite_database()


def run_demo(tmp_path) -> str:
    out = StringIO()
    call_command("demo", collections=COLLECTIONS, train_steps=30, duration=12, out=str(tmp_path / "demo"),
                 stdout=out)
    return out.getvalue()


def test_demo_runs_the_main_job_end_to_end_and_again(settings, tmp_path):
    from generation.models import GenerationModel, Job, JobOutput
    from licensing import rights
    from licensing.models import LicenseRevocation, OptOut
    from provenance.models import ImpactReport

    settings.LEDGER_SIGNING_KEY_PATH = tmp_path / "ledger.key"
    settings.LEDGER_SIGNING_KEY = None
    settings.MEDIA_ROOT = str(tmp_path / "media")
    text = run_demo(tmp_path)

    keys = re.findall(r"cc_[a-z0-9]{12}_[A-Za-z0-9_-]{43}", text)
    assert len(set(keys)) == 5
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {keys[2]}")
    assert client.get("/api/v1/me/").json()["username"] == "cleo.client"
    assert (tmp_path / "ledger.key").exists()

    # The cleared cue: completed, sealed in three formats, its files and report saved where the summary says.
    completed = Job.objects.get(state="completed")
    assert completed.use == "commercial" and completed.model.version == "commercial-1"
    assert set(JobOutput.objects.filter(job=completed).values_list("kind", flat=True)) == {"wav", "midi", "musicxml"}
    folder = tmp_path / "demo" / f"job-{completed.pk}"
    for name in ("cue.wav", "cue.mid", "cue.musicxml", "license-graph.json", "license-graph.svg",
                 "audit-report.html", "cue-tampered.wav"):
        assert (folder / name).stat().st_size > 0, name
    assert (folder / "cue.wav").read_bytes() == JobOutput.objects.get(job=completed, kind="wav").file.open().read()
    assert f"job {completed.pk} [cleared-cue] cleo.client commercial in US on clearcue-cue@commercial-1: COMPLETED" \
        in text

    # The commercial composer was trained only on works cleared for commercial output.
    model = GenerationModel.objects.get(version="commercial-1")
    assert model.manifest.selection["also_cleared_for"] == ["commercial_output"]
    trained = list(model.manifest.entries.values_list("work_id", flat=True))
    assert trained and len(rights.evaluate(trained, "commercial_output", "US").allowed_ids()) == len(trained)

    # Refusals, each with the reason the demo names it for (the shipped model needs the whole catalog).
    codes = {job.idempotency_key: {r["code"] for d in job.decisions.all() for r in d.reasons
                                   if r["severity"] == "deny"}
             for job in Job.objects.filter(state="denied")}
    by_label = {label: next(c for k, c in codes.items() if k.startswith(f"demo-{label}-"))
                for label in ("non-commercial-license", "style-unlicensed", "named-artist")}
    assert by_label["non-commercial-license"] == {"reference_license_not_commercial_output"}
    assert "style_reference_not_licensed" in by_label["style-unlicensed"]
    assert "named_artist_not_licensed" in by_label["named-artist"]
    assert "[opted-out] skipped: the shipped model is not registered" in text

    # Verification through the API, as printed.
    assert f"sealed WAV: C2PA Trusted; resolved by sha256, manifest, watermark to job {completed.pk}" in text
    assert f"re-encoded MP3, metadata stripped: C2PA Absent; resolved by watermark to job {completed.pk}" in text
    assert "one audio byte flipped: C2PA Invalid" in text and "indemnified: False (manifest_invalid)" in text
    assert "verify_ledger: OK" in text
    assert OptOut.objects.count() == 3 and LicenseRevocation.objects.count() == 1
    assert sorted(OptOut.objects.values_list("source", flat=True)) == ["aipref", "direct", "liccium"]
    assert ImpactReport.objects.count() == 4
    assert re.search(r"total\s+\d+\.\d s", text)

    # Again: new keys, nothing else duplicated; the same requests return the same jobs.
    jobs_before = Job.objects.count()
    again = run_demo(tmp_path)
    assert "verify_ledger: OK" in again
    assert Job.objects.count() == jobs_before and GenerationModel.objects.count() == 1
    assert OptOut.objects.count() == 3 and LicenseRevocation.objects.count() == 1
    assert set(re.findall(r"cc_[a-z0-9]{12}_[A-Za-z0-9_-]{43}", again)).isdisjoint(keys)
    assert client.get("/api/v1/me/").status_code == 401  # the first run's keys were replaced
