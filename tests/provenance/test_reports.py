"""Audit reports: the per-output report (HTML and PDF) of a really sealed job, who may read it, the model report,
the compliance dashboard, and the license-chain drawing (pure: deterministic, well-formed, overflow collapsed).
"""

from __future__ import annotations

import os
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from clearcue.exceptions import DomainError
from generation.models import GateDecision, Job, JobState
from licensing.actions import do_revoke_license
from licensing.ledger import Actor
from provenance import drawing, reports
from provenance import graph as g
from provenance.models import Attribution, LicenseGraph, StyleLicense
from tests.generation import studio

SVG = "{http://www.w3.org/2000/svg}"
FORMATS = ["wav", "flac", "midi"]  # no MP3/M4A: those need ffmpeg, which this report does not depend on


# --- Fixtures ----------------------------------------------------------------------------------------------------


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


@pytest.fixture
def sealed(world, client_a, django_capture_on_commit_callbacks) -> Job:
    """A completed commercial job of client A with a style reference, sealed in WAV, FLAC and MIDI."""
    tag, _ = studio.style_tag_with_creator(world.model)
    body = studio.request(world.model, formats=FORMATS, style_tags=[tag], training_mining={"ai_inference": "allowed"})
    job = submit(client_a, body, "report-1", django_capture_on_commit_callbacks)
    assert job.state == JobState.COMPLETED, (job.outcome_code, job.outcome_message)
    return job


@pytest.fixture
def denied(world, client_a, django_capture_on_commit_callbacks) -> Job:
    """A job the gate denied before composing: it has decisions, but no outputs, graph or attribution."""
    body = studio.request(world.model, description="A cold harbour at night, written the way Per Holm would.")
    job = submit(client_a, body, "report-denied", django_capture_on_commit_callbacks)
    assert job.state == JobState.DENIED
    return job


def keep(name: str, data: bytes) -> None:
    """Save a rendered report for a person to look at (REPORTS_DIR=/some/dir pytest ...)."""
    directory = os.environ.get("REPORTS_DIR")
    if directory:
        Path(directory).mkdir(parents=True, exist_ok=True)
        (Path(directory) / name).write_bytes(data)


# --- The per-output report -----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_output_report_shows_gate_reasons_chain_attribution_credentials_and_checkable_proofs(sealed, client_a):
    job = sealed
    response = client_a.api.get(f"/api/v1/jobs/{job.pk}/audit-report")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    keep("audit_output.html", response.content)
    reference = f"{job.organization.slug}/{job.idempotency_key}"

    # The job and its gate decisions, with the policy version.
    assert reference in html and "Northlight Pictures" in html and "commercial" in html
    decisions = list(GateDecision.objects.filter(job=job).order_by("id"))
    assert {d.stage for d in decisions} == {"pre", "post"} and all(d.allowed for d in decisions)
    assert f"Policy version{'s' if len({d.policy_version for d in decisions}) > 1 else ''} applied" in html

    # The license chain drawn as an SVG, with the job's node in it, and the recorded digest.
    graph = LicenseGraph.objects.get(job=job)
    picture = re.search(r"<svg .*?</svg>", html, re.S)
    assert picture is not None
    root = ET.fromstring(picture.group(0))
    titles = {t.text for t in root.iter(f"{SVG}title")}
    assert g.job_id(reference) in titles and g.output_id(reference) in titles
    assert graph.digest in html

    # Attribution: top works with share, license and holder; the per-holder aggregate.
    attribution = Attribution.objects.get(job=job)
    assert attribution.digest in html and "By rights holder" in html
    top = attribution.works.order_by("-ppm", "id").select_related("license", "holder").first()
    assert top.license.key in html and top.holder.name in html and reports.percent(top.ppm) in html

    # Rights then and now; the C2PA manifests validate as Trusted; the ledger proofs are printed.
    assert "At generation" in html and "Revocations since generation" in html
    assert html.count(">Trusted<") == 2  # wav and flac; MIDI carries no manifest
    context = reports.output_report(job)
    assert context["ledger"]["verified"] and context["ledger"]["entries"]
    for entry in context["ledger"]["entries"]:
        assert entry["leaf_hash"] in html
        assert all(h in html for h in entry["inclusion_path"])
    assert context["ledger"]["checkpoint"]["note"].splitlines()[0] in html
    assert "How to check this report offline" in html
    assert all(check["ok"] for check in context["checks"]), context["checks"]

    # The PDF: a real PDF, with the graph on an A4 landscape page after A4 portrait ones.
    response = client_a.api.get(f"/api/v1/jobs/{job.pk}/audit-report?format=pdf")
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert f'filename="clearcue-audit-job-{job.pk}.pdf"' in response["Content-Disposition"]
    pdf = response.content
    keep("audit_output.pdf", pdf)
    assert pdf.startswith(b"%PDF") and len(pdf) > 40_000
    import weasyprint

    pages = weasyprint.HTML(string=reports.render_html("provenance/audit_output.html", context)).render().pages
    landscape = [i for i, page in enumerate(pages) if page.width > page.height]
    assert len(landscape) == 1 and 0 < landscape[0] < len(pages) - 1  # the graph's page, between portrait ones


@pytest.mark.django_db
def test_sections_without_records_say_not_recorded_instead_of_failing(sealed, denied, client_a):
    # A sealed job whose graph and attribution were not recorded (jobs sealed before they were): the template.
    context = reports.output_report(sealed)
    context.update(graph=None, attribution=None)
    html = reports.render_html("provenance/audit_output.html", context)
    assert "License-chain graph: not recorded" in html and "Attribution: not recorded" in html
    assert "<svg" not in html

    # A job the gate denied: the reasons are the report; nothing was sealed.
    response = client_a.api.get(f"/api/v1/jobs/{denied.pk}/audit-report")
    assert response.status_code == 200
    html = response.content.decode()
    assert "named_artist_not_licensed" in html and "Per Holm" in html
    assert "not recorded" in html and "No output files: the job was not sealed." in html
    pdf = client_a.api.get(f"/api/v1/jobs/{denied.pk}/audit-report?format=pdf").content
    assert pdf.startswith(b"%PDF")


@pytest.mark.django_db
def test_client_b_cannot_read_client_a_audit_report_but_auditors_and_staff_can(denied, client_a, client_b, auditor,
                                                                                staff, outsider, anon):
    url = f"/api/v1/jobs/{denied.pk}/audit-report"
    for persona in (client_b, outsider):
        for suffix in ("", "?format=pdf"):
            response = persona.api.get(url + suffix)
            assert response.status_code == 404, persona.user.username
            assert response["Content-Type"] == "application/json"
            assert response.json()["error"]["code"] == "not_found"
    assert anon.get(url).status_code in (401, 403)
    for persona in (client_a, auditor, staff):
        assert persona.api.get(url).status_code == 200, persona.user.username
    assert client_a.api.get("/api/v1/jobs/999999/audit-report").status_code == 404


# --- The model report and the dashboard ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_model_report_shows_manifest_licenses_opt_outs_and_the_training_graph_digest(world, client_a):
    model, manifest = world.model, world.model.manifest
    response = client_a.api.get(f"/api/v1/models/{model.pk}/audit-report")
    assert response.status_code == 200
    html = response.content.decode()
    keep("audit_model.html", response.content)
    assert manifest.merkle_root in html and manifest.name in html and str(manifest.work_count) in html
    assert "public_domain" in html and "ai_training" in html
    assert "Opt-outs in force at selection" in html
    assert f"/api/v1/models/{model.pk}/training-summary/?view=html" in html  # the router's route (trailing /)
    assert manifest.license_graph.digest in html  # computed by the report on first use, kept since
    assert "<svg" in html and f"works ({manifest.work_count})" in html  # the training graph drawn
    pdf = client_a.api.get(f"/api/v1/models/{model.pk}/audit-report?format=pdf")
    assert pdf["Content-Type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    keep("audit_model.pdf", pdf.content)


@pytest.mark.django_db
def test_the_dashboard_counts_denials_by_reason_for_staff_and_auditors_only(sealed, denied, auditor, staff, client_a):
    response = auditor.api.get("/api/v1/compliance/dashboard")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    keep("dashboard.html", response.content)
    assert "named_artist_not_licensed" in html
    assert f"/api/v1/jobs/{denied.pk}/audit-report" in html and f"/api/v1/jobs/{sealed.pk}/audit-report" in html
    context = reports.dashboard()
    assert context["ledger"]["latest"]["tree_size"] > 0 and context["ledger"]["signature"]["ok"]
    assert context["ledger"]["verification"] is None and "not recorded" in html
    codes = {row["code"]: row["count"] for row in context["denials"]["by_code"]}
    assert codes["named_artist_not_licensed"] == 1
    assert staff.api.get("/api/v1/compliance/dashboard").status_code == 200
    refused = client_a.api.get("/api/v1/compliance/dashboard")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "permission_denied"


@pytest.mark.django_db
def test_a_revocation_after_sealing_shows_in_the_output_report_and_as_an_impact_report(
        sealed, auditor, client_a, django_capture_on_commit_callbacks):
    style_license = StyleLicense.objects.select_related("license").get(job=sealed).license
    with django_capture_on_commit_callbacks(execute=True):  # the impact report is written by a task on commit
        do_revoke_license(style_license, effective_at=None, reason="Licensor withdrew consent.",
                          actor=Actor.system("tests"))
    context = reports.output_report(sealed)
    assert [r["license"] for r in context["rights"]["revocations"]] == [style_license.key]
    assert context["rights"]["at_generation"]["allowed"] and not context["rights"]["now"]["allowed"]
    assert not next(c for c in context["checks"] if c["label"] == "Rights now")["ok"]
    html = client_a.api.get(f"/api/v1/jobs/{sealed.pk}/audit-report").content.decode()
    assert "Licensor withdrew consent." in html and "would be denied" in html

    impacts = reports.dashboard()["impacts"]
    assert impacts[0]["trigger_type"] == "license.revoked" and impacts[0]["jobs"] >= 1
    assert "license.revoked" in auditor.api.get("/api/v1/compliance/dashboard").content.decode()


def test_without_weasyprint_the_pdf_is_refused_with_an_actionable_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "weasyprint", None)  # as if WeasyPrint or Pango could not be loaded
    with pytest.raises(DomainError) as caught:
        reports.render_pdf("<p>hello</p>")
    assert caught.value.code == "pdf_unavailable" and caught.value.status == 503


# --- The drawing (pure) --------------------------------------------------------------------------------------------


MANIFEST = g.ManifestFact("cue@1", "ab" * 32, "clearcue.manifest-record.v1", "US", 300, 40)


def output_graph(works: int, *, label: str = "composer:mara lindqvist", denied: bool = False) -> object:
    licenses = {f"nordlys/{i}": g.LicenseFact(f"nordlys/{i}", "agreement", "nordlys", ("style_reference",), 9 + i)
                for i in range(3)}
    parties = {"nordlys": g.PartyFact("nordlys", "Nordlys Musikk AS", 2),
               "mara": g.PartyFact("mara", "M <L> & \"Co\"", 3)}
    items = tuple(g.StyleWork(f"nordlys/work-{i:03d}", 100 + i, f"nordlys/{i % 3}", "mara") for i in range(works))
    facts = g.OutputFacts(
        job="studio-a/cue-1", job_ledger_index=50, organization="studio-a", territory="US", use="commercial",
        created_at="2026-11-21T10:00:00.000000+00:00", model_slug="cue@1", model_checkpoint_sha256="cc" * 32,
        model_ledger_index=41, manifest=MANIFEST, training=g.TrainingSummary("dd" * 32, 300, 3, 2, 900),
        decisions=(g.DecisionFact("pre", True, 2, (), 51), g.DecisionFact("post", not denied, 2, (), 53)),
        styles=(g.StyleFact("tag", label, items),), licenses=licenses, parties=parties,
        watermark={"alg": "keyed", "value": 7, "ledger_index": 54}, formats=("wav", "midi"))
    return g.output_graph(facts)


def test_the_drawing_is_deterministic_well_formed_svg_with_every_type_in_chain_order():
    graph = output_graph(5)
    first = drawing.svg(graph, title="Chain <of> job & co")
    assert first == drawing.svg(output_graph(5), title="Chain <of> job & co")  # same facts, same bytes
    root = ET.fromstring(first)
    assert root.tag == f"{SVG}svg" and float(root.get("width")) > 0
    headers = [t.text for t in root.iter(f"{SVG}text") if t.get("text-anchor") == "middle"]
    kinds = [h.rsplit(" (", 1)[0] for h in headers]
    assert kinds == ["output", "job", "gate decisions", "model", "training manifest", "style reference", "works",
                     "licenses", "parties"]
    titles = {t.text for t in root.iter(f"{SVG}title")}
    assert set(graph.nodes) <= titles  # every node drawn (none collapsed), its full id on hover
    assert "Chain &lt;of&gt; job &amp; co" in first and "M &lt;L&gt; &amp; &quot;Co&quot;" in first
    arrows = [e for e in root.iter(f"{SVG}polygon")]
    assert len(arrows) >= graph.number_of_edges()  # one arrowhead per edge (plus the legend's)


def test_a_crowded_column_is_collapsed_into_a_more_box_that_takes_over_its_edges():
    graph = output_graph(40)
    text = drawing.svg(graph, max_per_column=8)
    root = ET.fromstring(text)
    labels = [t.text for t in root.iter(f"{SVG}text")]
    assert "+33 more works" in labels  # 7 drawn, one box for the 33 others
    titles = [t.text for t in root.iter(f"{SVG}title")]
    drawn_works = [t for t in titles if t.startswith("work:") and " → " not in t]
    assert len(drawn_works) == 7
    # Edges of hidden works now start or end at the box, merged (one line per drawn pair, counted in the title).
    assert "style:tag:composer:mara lindqvist → 33 works not drawn: refers_to (33 edges)" in titles
    assert any(t.startswith("33 works not drawn → license:nordlys/") for t in titles)
    assert drawing.svg(graph, max_per_column=8) == text


def test_labels_with_characters_xml_forbids_still_give_well_formed_xml():
    graph = output_graph(2, label="tag\x00with\x1bcontrol <chars> & 'quotes' \ud800")
    ET.fromstring(drawing.svg(graph, title="\x07bell"))
    with pytest.raises(ValueError, match="at least 2"):
        drawing.svg(graph, max_per_column=1)
