"""The license chain of sealed outputs on the database: graphs and attributions recorded, ledgered and signed into
the manifest; the training graph served and checked against digest and Merkle root; impact reports written
automatically after a revocation or an opt-out; royalty statements that reconcile exactly."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from generation.manifest import ManifestRecord, tree_hash
from generation.models import Job, JobOutput, JobState
from licensing.actions import LicenseGrant, do_grant_license, do_register_optouts, do_revoke_license
from licensing.models import EntryType, LedgerEntry, License, Work
from licensing.terms import Reservation, ReservedUse, Source, Subject, SubjectKind, uses_mask
from provenance import chain, credentials, royalties
from provenance import graph as g
from provenance.attribution import PPM
from provenance.backends import trust_anchors
from provenance.models import Attribution, AttributionWork, ImpactReport, LicenseGraph
from tests.generation import studio

pytestmark = pytest.mark.django_db


@pytest.fixture
def sealed(operator_org, org_a, org_b, settings, tmp_path, ledger_key, data_dir, client_a,
           django_capture_on_commit_callbacks):
    """A completed job of client A (WAV + MIDI) with a style reference the model knows."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.DATA_DIR = data_dir
    world = studio.build(operator_org, org_a, org_b)
    tag = sorted(t for t in world.model.style_tags if t.startswith("composer:"))[0]
    body = studio.request(world.model, formats=["wav", "midi"], style_tags=[tag])
    with django_capture_on_commit_callbacks(execute=True):
        response = client_a.api.post("/api/v1/jobs/", body, format="json", HTTP_IDEMPOTENCY_KEY="chain-1")
    job = Job.objects.get(pk=response.json()["id"])
    assert job.state == JobState.COMPLETED, (job.outcome_code, job.outcome_message)
    return job, tag


def _leaf(row: g.TrainingRow) -> bytes:
    return ManifestRecord(row.work, row.sha256, row.license, row.basis).leaf()


def test_a_sealed_output_states_its_license_graph_and_attribution_as_recorded_in_the_ledger(sealed, client_a,
                                                                                             client_b, auditor):
    job, tag = sealed
    record = LicenseGraph.objects.get(job=job)
    attribution = Attribution.objects.get(job=job)
    wav = JobOutput.objects.get(job=job, kind="wav")
    report = credentials.read(wav.file.open("rb").read(), wav.media_type, trust_anchors())
    assert report.state == "Trusted", report.codes
    stated = report.assertion("com.clearcue.license-graph")
    assert stated["digest"] == record.digest
    assert stated["training_manifest"]["merkle_root"] == job.model.manifest.merkle_root
    assert f"style:tag:{tag}" in {n["id"] for n in stated["style_subgraph"]["nodes"]}
    credited = report.assertion("com.clearcue.attribution")
    assert credited["digest"] == attribution.digest and credited["works"] == len(attribution.document["contributions"])
    assert sum(h["ppm"] for h in credited["holders"]) == PPM

    # Both are ledgered before the checkpoint the manifest carries, with proofs.
    proven = {e["entry_type"] for e in report.assertion("com.clearcue.ledger")["entries"]}
    assert {"graph.recorded", "attribution.recorded"} <= proven
    entry = LedgerEntry.objects.get(leaf_index=record.ledger_index)
    assert json.loads(bytes(entry.payload))["data"]["digest"] == record.digest

    # Rebuilt from the database, the graph hashes the same (stable across runs and databases: natural keys only).
    payload = job.watermarks.get()
    rebuilt, _ = chain.output_graph(job, {"alg": payload.alg, "value": payload.value,
                                          "ledger_index": payload.ledger_index})
    assert g.digest(rebuilt) == record.digest

    # The graph API serves the canonical bytes; other tenants get 404; auditors may read it.
    response = client_a.api.get(f"/api/v1/jobs/{job.pk}/license-graph")
    assert response.status_code == 200
    assert hashlib.sha256(response.content).hexdigest() == record.digest == response["X-Graph-Digest"]
    assert client_b.api.get(f"/api/v1/jobs/{job.pk}/license-graph").status_code == 404
    assert auditor.api.get(f"/api/v1/jobs/{job.pk}/license-graph").status_code == 200
    whole = g.from_node_link(client_a.api.get(f"/api/v1/jobs/{job.pk}/license-graph?include=training").json())
    deps = g.dependencies(whole, g.output_id(chain.job_reference(job)))
    assert len(deps["work"]) >= job.model.manifest.work_count and deps["license"] and deps["party"]

    # The training graph, streamed, matches the digest the output graph carries and the manifest's Merkle root.
    manifest = job.model.manifest
    streamed = client_a.api.get(f"/api/v1/training-manifests/{manifest.pk}/license-graph")
    data = b"".join(streamed.streaming_content)
    summary = g.from_node_link(record.document).nodes[g.manifest_id(manifest.merkle_root)]["training_graph"]
    checked = g.check_training_graph(data, summary, manifest.merkle_root, _leaf, tree_hash)
    assert g.counts(checked)["work"] == manifest.work_count

    # The attribution API: the full list, exact to the part per million, with licenses and holders.
    body = client_a.api.get(f"/api/v1/jobs/{job.pk}/attribution").json()
    assert sum(c["ppm"] for c in body["contributions"]) == PPM == sum(h["ppm"] for h in body["holders"])
    assert body["digest"] == attribution.digest
    assert AttributionWork.objects.filter(attribution=attribution).count() == len(body["contributions"])

    # Generated with a style tag, the output credits that tag's works with most of its influence.
    tagged = {w.pk for w in Work.objects.filter(tags__tag=tag)}
    rows = AttributionWork.objects.filter(attribution=attribution)
    assert sum(r.ppm for r in rows if r.work_id in tagged) >= PPM // 2  # half by policy, more by resemblance
    assert all(r.work_id in tagged for r in rows if r.style_reference)


def test_revoking_a_training_license_reports_the_affected_model_jobs_and_outputs(
        sealed, auditor, client_a, django_capture_on_commit_callbacks):
    job, _ = sealed
    credited = AttributionWork.objects.filter(job=job).select_related("license").order_by("-ppm").first()
    with django_capture_on_commit_callbacks(execute=True):
        revocation = do_revoke_license(credited.license, effective_at=None, reason="rights holder withdrew",
                                       actor=studio.STAFF)
    report = ImpactReport.objects.get(trigger_index=revocation.ledger_index)
    assert report.trigger_type == "license.revoked"
    assert [m["slug"] for m in report.summary["models"]] == [job.model.slug]
    assert report.jobs >= 1 and report.outputs == JobOutput.objects.filter(job__model=job.model).count()
    assert job.pk in report.summary["sample_jobs"]
    assert report.summary["by_organization"]["studio-a" if job.organization.slug == "studio-a"
                                             else job.organization.slug]["outputs"] >= 2
    assert LedgerEntry.objects.get(leaf_index=report.ledger_index).entry_type == EntryType.IMPACT_REPORTED

    # An opt-out on a credited work is reported too; the reports are for compliance only.
    with django_capture_on_commit_callbacks(execute=True):
        [optout] = do_register_optouts([Reservation(Subject(SubjectKind.WORK, str(credited.work_id)),
                                                    frozenset({ReservedUse.AI_TRAINING}), Source.DIRECT, {})],
                                       actor=studio.STAFF)
    assert ImpactReport.objects.get(trigger_index=optout.ledger_index).models_count == 1
    listed = auditor.api.get("/api/v1/impact-reports").json()["results"]
    assert {r["trigger_type"] for r in listed} == {"license.revoked", "optout.registered"}
    assert client_a.api.get("/api/v1/impact-reports").status_code == 403
    on_demand = auditor.api.get(f"/api/v1/impact?work={credited.work_id}").json()
    assert on_demand["outputs"] == report.outputs


def _attribute(job: Job, shares: list[tuple[Work, License, int]], when) -> None:
    """An attribution row set for a job, as the seal step would record it (append-only inserts)."""
    record = Attribution.objects.create(job=job, method="test", params={}, digest="0" * 64,
                                        document={"contributions": []}, created_at=when, ledger_index=0)
    for work, lic, ppm in shares:
        AttributionWork.objects.create(attribution=record, job=job, work=work, license=lic,
                                       holder=work.rights_holder or lic.licensor, ppm=ppm, similarity_micro=0,
                                       created_at=when)


def test_royalty_statements_reconcile_exactly_with_the_outputs_of_the_period(sealed, catalog_admin, auditor,
                                                                              client_a):
    job, _ = sealed
    start = timezone.now() - timedelta(days=1)
    per_output = License.objects.get(key__endswith="NL-2026-A")
    nordlys = list(Work.objects.filter(rights_holder=per_output.licensor).order_by("pk")[:2])
    share_license = do_grant_license(LicenseGrant(
        licensor=per_output.licensor, licensee=per_output.licensee, scope="works", works=nordlys,
        uses_mask=uses_mask(["ai_training"]), territories="|WORLD|", valid_from=start,
        royalty_terms={"model": "revenue_share", "percent": "2.5"}, reference="RS-1"), actor=studio.STAFF)
    # Two more cues of the period credit the priced works (thirds do not divide a million: exact decimals).
    for n, shares in enumerate([[(nordlys[0], per_output, 333_333), (nordlys[1], share_license, 666_667)],
                                [(nordlys[0], per_output, 1_000_000)]]):
        extra = Job.objects.create(organization=job.organization, idempotency_key=f"royalty-{n}",
                                   request_sha256="0" * 64, description="x", model=job.model, territory="US",
                                   use="commercial", formats=["wav"], seed=n, state=JobState.COMPLETED,
                                   created_at=timezone.now(), updated_at=timezone.now())
        _attribute(extra, shares, timezone.now())
    end = timezone.now() + timedelta(days=1)

    result = royalties.statement(start, end, revenue_per_output=Decimal("100.00"), revenue_currency="EUR")
    assert result.outputs == 3  # the sealed cue and the two above
    assert sum(h.ppm for h in result.holders) == 3 * PPM
    eur = sum((h.amounts.get("EUR", Decimal(0)) for h in result.holders), Decimal(0))
    expected = Decimal("0.50") * Decimal(333_333 + 1_000_000) / PPM + Decimal("100.00") * Decimal("2.5") / 100 * \
        Decimal(666_667) / PPM
    assert eur == result.totals["EUR"] == expected
    holder = next(h for h in result.holders if h.party_key == nordlys[0].rights_holder.key)
    assert holder.outputs == 2 and not holder.revenue_required

    # Without the revenue, revenue-share lines are flagged instead of priced.
    unpriced = royalties.statement(start, end)
    assert any(h.revenue_required for h in unpriced.holders)
    assert unpriced.totals["EUR"] == Decimal("0.50") * Decimal(1_333_333) / PPM

    # CSV through the API: one row per holder and currency, then the totals; auditors see all holders.
    response = auditor.api.get("/api/v1/royalty-statements", {"start": start.isoformat(), "end": end.isoformat(),
                                                               "revenue_per_output": "100.00", "currency": "EUR",
                                                               "view": "csv"})
    assert response.status_code == 200, response.content
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert Decimal(rows[-1]["amount"]) == expected and rows[-1]["party"] == "TOTAL"
    assert sum(int(r["influence_ppm"]) for r in rows if r["party"] != "TOTAL" and r["currency"] in ("EUR", "")) \
        >= 3 * PPM - 1
    assert client_a.api.get("/api/v1/royalty-statements", {"start": start.isoformat(),
                                                           "end": end.isoformat()}).status_code == 403
    bad = auditor.api.get("/api/v1/royalty-statements", {"start": end.isoformat(), "end": start.isoformat()})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_period"


def test_a_statement_refuses_outputs_whose_shares_do_not_sum_to_one_hundred_percent(sealed):
    job, _ = sealed
    priced = License.objects.get(key__endswith="NL-2026-A")
    work = Work.objects.filter(rights_holder=priced.licensor).first()
    extra = Job.objects.create(organization=job.organization, idempotency_key="broken", request_sha256="0" * 64,
                               description="x", model=job.model, territory="US", use="commercial", formats=["wav"],
                               seed=1, state=JobState.COMPLETED, created_at=timezone.now(), updated_at=timezone.now())
    _attribute(extra, [(work, priced, 999_999)], timezone.now())
    with pytest.raises(Exception) as broken:
        royalties.statement(timezone.now() - timedelta(days=1), timezone.now() + timedelta(days=1))
    assert getattr(broken.value, "code", "") == "statement_unreconciled"
