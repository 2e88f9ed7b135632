"""Audit reports for legal and compliance teams: per sealed output, per model, and a compliance dashboard.

`output_report(job)`, `model_report(model)` and `dashboard()` load plain, template-ready dictionaries from the
database (recorded facts only: nothing here writes a ledger entry or a domain row, except the training graph
digest that `provenance.chain.training_graph_record` computes once per manifest and keeps);
`render_html(template, context)` renders them and `render_pdf(html)` prints the HTML with WeasyPrint, imported
inside the function so the web process does not load it at startup.

An output report is meant to be checkable offline: it prints the signed checkpoint note, the verifier key, and
each of the job's ledger entries with its leaf hash and RFC 9162 inclusion path (every proof is verified by
provenance.evidence before it is printed). Sections whose records do not exist (a job sealed before license
graphs and attributions were recorded, a job the gate denied) say "not recorded" instead of failing.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, Q, Sum
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import mark_safe

from clearcue.exceptions import DomainError
from generation.models import GateDecision, GateStage, GenerationModel, Job, JobOutput, JobState, ManifestEntry
from licensing.models import Checkpoint, LedgerEntry, LedgerHead, LicenseRevocation, OptOut
from licensing.terms import reserved_of, uses_of
from provenance.models import Attribution, AttributionWork, Credential, ImpactReport, LicenseGraph, StyleLicense

log = logging.getLogger(__name__)

PPM = 1_000_000
TOP_WORKS = 25  # attributed works listed in a report (the digest and the counts cover all of them)
TOP_HOLDERS = 25
REASON_IDS = 20  # ids printed per gate reason (its count is complete)
RIGHTS_CHANGES = 20  # revocations and opt-outs listed per report (counted in full)
OPTOUTS_SCANNED = 500  # opt-outs registered since generation that are matched against the job's works
MAX_DRAWN_TRAINING_WORKS = 5000  # a model report draws its training graph up to this many works
GRAPH_COLUMN_ROWS = 12
PRINTED_PAYLOAD_BYTES = 4096  # ledger payloads printed in full up to this size (longer ones: fetch them)
RECENT_JOBS = 25
RECENT_IMPACTS = 15
DENIAL_WINDOW = timedelta(days=30)
DENIALS_SCANNED = 5000


def percent(ppm: int) -> str:
    """Parts per million as a percentage with two decimals (`12.34 %`)."""
    return f"{ppm / 10_000:.2f} %"


def _b64(data: bytes) -> str:
    return base64.b64encode(bytes(data)).decode("ascii")


def _verifier_key() -> str | None:
    """The ledger's public verifier key, when this installation has its signing key."""
    from licensing.ledger import ledger_verifier_key

    try:
        return ledger_verifier_key()
    except (DomainError, OSError, ValueError):
        return None


# --- Per output ------------------------------------------------------------------------------------------------


def _job(job: Job) -> dict[str, Any]:
    from provenance.chain import job_reference

    steps = []
    for name, step in sorted((job.steps or {}).items(), key=lambda kv: str(kv[1].get("started_at") or "")):
        steps.append({"name": name, "attempts": step.get("attempts"), "started_at": step.get("started_at"),
                      "finished_at": step.get("finished_at"), "seconds": step.get("seconds")})
    total = (job.finished_at - job.created_at).total_seconds() if job.finished_at else None
    return {"id": job.pk, "reference": job_reference(job), "organization": job.organization.name,
            "organization_slug": job.organization.slug, "territory": job.territory, "use": job.use,
            "model": job.model.slug, "state": job.state, "created_at": job.created_at,
            "finished_at": job.finished_at, "approved_at": job.approved_at, "formats": list(job.formats),
            "style_tags": list(job.style_tags), "description": job.description, "indemnified": job.indemnified,
            "outcome_code": job.outcome_code, "outcome_message": job.outcome_message, "steps": steps,
            "total_seconds": total, "sealed": job.state == JobState.COMPLETED}


def _decisions(job: Job) -> list[dict[str, Any]]:
    out = []
    for decision in GateDecision.objects.filter(job=job).order_by("id"):
        reasons = []
        for reason in decision.reasons:
            ids = list(reason.get("ids") or [])
            reasons.append({"code": reason.get("code", ""), "rule": reason.get("rule", ""),
                            "severity": reason.get("severity", ""), "message": reason.get("message", ""),
                            "ids": ids[:REASON_IDS], "ids_more": max(0, len(ids) - REASON_IDS),
                            "count": reason.get("count", len(ids))})
        out.append({"stage": decision.stage, "allowed": decision.allowed, "policy_version": decision.policy_version,
                    "decided_at": decision.decided_at, "ledger_index": decision.ledger_index,
                    "ledger_size": decision.ledger_size, "elapsed_ms": decision.elapsed_ms,
                    "manifest_root": decision.manifest_root, "reasons": reasons,
                    "entitlement": decision.facts.get("entitlement"),
                    "indemnification_tier": decision.facts.get("indemnification_tier")})
    return out


def _graph(job: Job) -> dict[str, Any] | None:
    """The recorded output graph with its picture, or None when no graph was recorded for the job."""
    from provenance import drawing
    from provenance import graph as g

    record = LicenseGraph.objects.filter(job=job).select_related("training").first()
    if record is None:
        return None
    graph = g.from_node_link(record.document)
    picture = drawing.svg(graph, max_per_column=GRAPH_COLUMN_ROWS)
    return {"digest": record.digest, "format": record.format, "ledger_index": record.ledger_index,
            "created_at": record.created_at, "counts": sorted(record.counts.items()),
            "training": record.training.summary(), "svg": mark_safe(picture),  # noqa: S308 (escaped by drawing)
            "style_licenses": list(StyleLicense.objects.filter(graph=record).select_related("license__licensor")
                                   .order_by("license__key").values_list("license__key", "license__licensor__name",
                                                                         "works"))}


def _attribution(job: Job) -> dict[str, Any] | None:
    """Top attributed works and the per-rights-holder aggregate, or None when no attribution was recorded."""
    from generation.training import work_key
    from provenance.chain import holder_shares

    record = Attribution.objects.filter(job=job).first()
    if record is None:
        return None
    rows = AttributionWork.objects.filter(attribution=record)
    totals = rows.aggregate(works=Count("id"), ppm=Sum("ppm"))
    top = []
    for rank, row in enumerate(rows.select_related("work__collection", "license__licensor", "holder")
                               .order_by("-ppm", "id")[:TOP_WORKS], start=1):
        top.append({"rank": rank, "key": work_key(row.work), "title": row.work.title, "ppm": row.ppm,
                    "share": percent(row.ppm), "similarity": f"{row.similarity_micro / PPM:.3f}",
                    "license": row.license.key, "basis": row.license.basis, "licensor": row.license.licensor.name,
                    "holder": row.holder.name, "holder_key": row.holder.key, "style_reference": row.style_reference})
    holders = holder_shares(record)
    shown = [{"key": h["party"], "name": h["name"], "ppm": h["ppm"], "share": percent(h["ppm"]),
              "works": h["works"]} for h in holders[:TOP_HOLDERS]]
    rest = holders[TOP_HOLDERS:]
    return {"method": record.method, "digest": record.digest, "params": sorted(record.params.items()),
            "ledger_index": record.ledger_index, "created_at": record.created_at, "works": totals["works"] or 0,
            "total": percent(totals["ppm"] or 0), "top": top, "holders": shown,
            "other_holders": {"count": len(rest), "share": percent(sum(h["ppm"] for h in rest)),
                              "works": sum(h["works"] for h in rest)} if rest else None}


def _rights(job: Job, attributed: set[int]) -> dict[str, Any]:
    """Rights at generation (the pre-composition decision), now (the gate re-run), and the revocations and
    opt-outs recorded since generation that touch the job's training works, style licenses or credited works."""
    from generation.clearance import works_of_optouts
    from provenance.evidence import rights_now

    pre = GateDecision.objects.filter(job=job, stage=GateStage.PRE).first()
    try:
        now: dict[str, Any] | None = rights_now(job)
        now_error = None
    except DomainError as error:
        now, now_error = None, {"code": error.code, "message": error.message}
    then_codes = {r["code"] for r in (pre.reasons if pre else [])}
    changed = sorted({r["code"] for r in (now or {}).get("reasons", [])} - then_codes)
    if pre is None:
        return {"at_generation": None, "now": now, "now_error": now_error, "changed": changed,
                "since_size": None, "revocations": [], "revocations_count": 0, "optouts": [], "optouts_count": 0,
                "optouts_scanned": 0, "optouts_more": False}
    cut = pre.ledger_size
    manifest_licenses = ManifestEntry.objects.filter(manifest_id=job.model.manifest_id).values("license_id")
    style_licenses = StyleLicense.objects.filter(job=job).values("license_id")
    revocations = (LicenseRevocation.objects.filter(ledger_index__gte=cut)
                   .filter(Q(license_id__in=manifest_licenses) | Q(license_id__in=style_licenses))
                   .select_related("license__licensor").order_by("ledger_index"))
    listed_revocations = [{"license": r.license.key, "licensor": r.license.licensor.name,
                           "effective_at": r.effective_at, "reason": r.reason, "ledger_index": r.ledger_index}
                          for r in revocations[:RIGHTS_CHANGES]]
    optouts = list(OptOut.objects.filter(ledger_index__gte=cut).order_by("ledger_index")[:OPTOUTS_SCANNED + 1])
    more = len(optouts) > OPTOUTS_SCANNED
    touching = []
    for optout in optouts[:OPTOUTS_SCANNED]:
        works = works_of_optouts([optout.pk])
        if not works:
            continue
        training = ManifestEntry.objects.filter(manifest_id=job.model.manifest_id, work_id__in=works).count()
        credited = len(works & attributed)
        if training or credited:
            touching.append({"id": optout.pk, "subject_kind": optout.subject_kind,
                             "subject": optout.subject_value or optout.subject_work_id or optout.subject_party_id,
                             "reserved": reserved_of(optout.reserved_mask), "source": optout.source,
                             "effective_from": optout.effective_from, "ledger_index": optout.ledger_index,
                             "training_works": training, "credited_works": credited})
    return {
        "at_generation": {"allowed": pre.allowed, "policy_version": pre.policy_version, "decided_at": pre.decided_at,
                          "ledger_size": pre.ledger_size, "codes": sorted(then_codes)},
        "now": now, "now_error": now_error, "changed": changed, "since_size": cut,
        "revocations": listed_revocations, "revocations_count": revocations.count(),
        "optouts": touching[:RIGHTS_CHANGES], "optouts_count": len(touching),
        "optouts_scanned": min(len(optouts), OPTOUTS_SCANNED), "optouts_more": more,
    }


def _credentials(job: Job) -> list[dict[str, Any]]:
    """Each output file, its C2PA manifest summary, and the manifest's validation state as stored now."""
    from provenance import credentials
    from provenance.backends import trust_anchors

    try:
        anchors = trust_anchors()
    except DomainError:
        anchors = None
    out = []
    for output in JobOutput.objects.filter(job=job).order_by("kind"):
        item: dict[str, Any] = {"kind": output.kind, "media_type": output.media_type, "sha256": output.sha256,
                                "size": output.size, "ledger_index": output.ledger_index, "credential": None}
        credential = Credential.objects.filter(output=output).first()
        if credential is not None:
            summary = credential.summary or {}
            item["credential"] = {
                "manifest_id": credential.manifest_id, "signer": credential.signer,
                "store_sha256": credential.store_sha256, "created_at": credential.created_at,
                "title": summary.get("title"), "model": (summary.get("model") or {}).get("slug"),
                "soft_binding": summary.get("soft_binding"),
                "training_mining": sorted((summary.get("training_mining") or {}).items()),
                "assertions": sorted((summary.get("custom") or {}).keys())}
            item["validation"] = _validate(output, anchors, credentials)
        out.append(item)
    return out


def _validate(output: JobOutput, anchors: str | None, credentials: Any) -> dict[str, Any]:
    """Read the stored file back and validate its manifest against our trust anchors."""
    try:
        with output.file.open("rb") as handle:
            data = handle.read()
    except OSError as error:
        return {"state": "Unavailable", "codes": [], "message": f"the stored file cannot be read: {error}"}
    intact = hashlib.sha256(data).hexdigest() == output.sha256
    try:
        report = credentials.read(data, output.media_type, anchors)
    except credentials.CredentialError as error:
        return {"state": "Unreadable", "codes": [error.code], "message": error.message, "intact": intact}
    return {"state": report.state, "codes": list(report.codes), "manifest_id": report.manifest_id,
            "signed_at": report.signed_at, "intact": intact, "trusted": anchors is not None}


def _ledger(job: Job) -> dict[str, Any]:
    from provenance.evidence import ledger_evidence

    evidence = ledger_evidence(job)
    payloads = dict(LedgerEntry.objects.filter(leaf_index__in=[e["leaf_index"] for e in evidence["entries"]])
                    .values_list("leaf_index", "payload"))
    for entry in evidence["entries"]:
        payload = bytes(payloads.get(entry["leaf_index"], b""))
        # Printed in full when short, so the leaf hash can be recomputed from the page itself.
        entry["payload"] = payload.decode("utf-8", "replace") if len(payload) <= PRINTED_PAYLOAD_BYTES else None
        entry["payload_size"] = len(payload)
    checkpoint = Checkpoint.objects.order_by("-tree_size").first()
    evidence["checkpoint_created_at"] = checkpoint.created_at if checkpoint is not None else None
    evidence["verifier_key"] = _verifier_key()
    return evidence


def output_report(job: Job) -> dict[str, Any]:
    """Everything the per-output audit report shows, loaded from the database."""
    from provenance.evidence import license_terms

    job = Job.objects.select_related("organization", "model__manifest").get(pk=job.pk)
    attribution = _attribution(job)
    attributed = set(AttributionWork.objects.filter(job=job).values_list("work_id", flat=True))
    decisions = _decisions(job)
    try:
        terms = license_terms(job)
    except DomainError:
        terms = []
    report = {
        "generated_at": timezone.now(),
        "job": _job(job),
        "decisions": decisions,
        "policy_versions": sorted({d["policy_version"] for d in decisions}),
        "graph": _graph(job),
        "attribution": attribution,
        "rights": _rights(job, attributed),
        "outputs": _credentials(job),
        "terms": terms,
        "ledger": _ledger(job),
    }
    report["checks"] = _checks(report)
    return report


def _checks(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The one-glance summary at the top of the report: (what, outcome, good?)."""
    decisions = report["decisions"]
    rights = report["rights"]
    outputs = [o for o in report["outputs"] if o["credential"] is not None]
    states = Counter(o["validation"]["state"] for o in outputs)
    ledger = report["ledger"]
    checks = [
        {"label": "Gate decisions", "ok": bool(decisions) and all(d["allowed"] for d in decisions),
         "text": ", ".join(f"{d['stage']}: {'allowed' if d['allowed'] else 'denied'}" for d in decisions)
         or "none recorded"},
        {"label": "Rights now", "ok": bool(rights["now"] and rights["now"]["allowed"]),
         "text": ("allowed" if rights["now"] and rights["now"]["allowed"] else "would be denied today"
                  if rights["now"] else "could not be evaluated")
         + (f" (changed: {', '.join(rights['changed'])})" if rights["changed"] else "")},
        {"label": "Content Credentials", "ok": bool(outputs) and set(states) == {"Trusted"},
         "text": ", ".join(f"{n} {state}" for state, n in sorted(states.items())) or "no signed files"},
        {"label": "Ledger proofs", "ok": bool(ledger["verified"]),
         "text": f"{len(ledger['entries'])} entries proven against checkpoint "
                 f"{ledger['checkpoint']['tree_size'] if ledger['checkpoint'] else '(none)'}"
                 + (f", {len(ledger['pending'])} pending" if ledger["pending"] else "")
                 + (f", {len(ledger['failures'])} FAILED" if ledger["failures"] else "")},
        {"label": "License-chain graph", "ok": report["graph"] is not None,
         "text": f"digest {report['graph']['digest'][:16]}…" if report["graph"] else "not recorded"},
        {"label": "Attribution", "ok": report["attribution"] is not None,
         "text": f"{report['attribution']['works']} works credited" if report["attribution"] else "not recorded"},
    ]
    return checks


# --- Per model -------------------------------------------------------------------------------------------------


def model_report(model: GenerationModel) -> dict[str, Any]:
    """The per-model audit report: training manifest, licenses by type, opt-outs honoured, training graph."""
    from generation.summary import training_content_summary
    from provenance.chain import training_graph_record

    model = GenerationModel.objects.select_related("manifest").get(pk=model.pk)
    manifest = model.manifest
    entries = ManifestEntry.objects.filter(manifest=manifest)
    licenses = []
    for row in (entries.values("basis", "license__uses_mask")
                .annotate(works=Count("id"), licenses=Count("license", distinct=True))
                .order_by("basis", "license__uses_mask")):
        licenses.append({"basis": row["basis"], "uses": uses_of(row["license__uses_mask"]), "works": row["works"],
                         "licenses": row["licenses"]})
    licensors = list(entries.values("license__licensor__name", "basis").annotate(works=Count("id"))
                     .order_by("-works", "license__licensor__name")[:25])
    summary = training_content_summary(model)
    reservations = summary["3_data_processing_aspects"][
        "3_1_respect_of_reservation_of_rights_from_text_and_data_mining_exception"]
    record = training_graph_record(manifest)
    picture = None
    if manifest.work_count <= MAX_DRAWN_TRAINING_WORKS:
        from provenance import drawing
        from provenance.chain import training_graph

        picture = mark_safe(drawing.svg(training_graph(manifest), max_per_column=GRAPH_COLUMN_ROWS))  # noqa: S308
    jobs = dict(Job.objects.filter(model=model).values_list("state").annotate(n=Count("id")).order_by("state"))
    return {
        "generated_at": timezone.now(),
        "model": {"id": model.pk, "slug": model.slug, "name": model.name, "version": model.version,
                  "engine": model.engine, "checkpoint_sha256": model.checkpoint_sha256,
                  "checkpoint_size": model.checkpoint_size, "created_at": model.created_at,
                  "ledger_index": model.ledger_index, "style_tags": len(model.style_tags)},
        "manifest": {"name": manifest.name, "merkle_root": manifest.merkle_root, "work_count": manifest.work_count,
                     "territory": manifest.territory, "use": manifest.use, "evaluated_at": manifest.evaluated_at,
                     "ledger_size": manifest.ledger_size, "ledger_index": manifest.ledger_index,
                     "leaf_format": manifest.leaf_format, "created_at": manifest.created_at},
        "licenses": licenses,
        "licensors": [{"name": r["license__licensor__name"], "basis": r["basis"], "works": r["works"]}
                      for r in licensors],
        "reservations": {
            "measures": reservations["measures"],
            "in_force": reservations["opt_outs_in_force_at_selection"],
            "by_source": sorted(reservations["opt_outs_by_source"].items()),
            "by_use": sorted(reservations["opt_outs_by_reserved_use"].items()),
            "excluded": sorted((reservations["works_excluded_by_reason"] or {}).items()),
            "considered": reservations["works_considered"]},
        "summary_url": reverse("generationmodel-training-summary", args=[model.pk]) + "?view=html",
        "training_graph": {"digest": record.digest, "format": record.format, "works": record.works,
                           "licenses": record.licenses, "parties": record.parties, "links": record.links,
                           "seconds": record.seconds, "created_at": record.created_at, "svg": picture,
                           "drawn_limit": MAX_DRAWN_TRAINING_WORKS},
        "jobs": sorted(jobs.items()),
    }


# --- Dashboard -------------------------------------------------------------------------------------------------


def _ledger_health() -> dict[str, Any]:
    """Head size, latest checkpoint and its signature; full verification is not recorded (see `verification`)."""
    from licensing import note

    head = LedgerHead.objects.filter(pk=1).first()
    size = head.size if head is not None else 0
    latest = Checkpoint.objects.order_by("-tree_size").first()
    signature: dict[str, Any] = {"checked": False, "ok": None, "message": ""}
    key = _verifier_key()
    if latest is not None and key is not None:
        try:
            note.open_note(latest.note, [note.NoteVerifier.from_key_string(key)])
            signature = {"checked": True, "ok": True, "message": "signed by the ledger key"}
        except note.NoteError as error:
            signature = {"checked": True, "ok": False, "message": f"{type(error).__name__}: {error}"}
    elif latest is not None:
        signature["message"] = "no ledger key configured here; not checked"
    last_entry = LedgerEntry.objects.order_by("-leaf_index").values_list("created_at", flat=True).first()
    return {
        "size": size, "last_entry_at": last_entry, "checkpoints": Checkpoint.objects.count(),
        "latest": None if latest is None else {"tree_size": latest.tree_size, "created_at": latest.created_at,
                                               "origin": latest.origin, "root_hash": _b64(latest.root_hash)},
        "uncovered": size - (latest.tree_size if latest is not None else 0),
        "signature": signature,
        # `manage.py verify_ledger` prints its result and exits 1 on divergence; no run is stored anywhere.
        "verification": None,
    }


def _denials(since: datetime) -> dict[str, Any]:
    """Denying gate decisions since `since`, counted by reason code (the most recent DENIALS_SCANNED)."""
    decisions = list(GateDecision.objects.filter(allowed=False, decided_at__gte=since).order_by("-id")
                     .values_list("reasons", "decided_at", "stage")[:DENIALS_SCANNED])
    by_code: dict[str, dict[str, Any]] = {}
    for reasons, decided_at, stage in decisions:
        for reason in reasons:
            code = reason.get("code", "")
            entry = by_code.setdefault(code, {"code": code, "count": 0, "last_at": decided_at, "stages": set(),
                                              "message": reason.get("message", ""),
                                              "severity": reason.get("severity", "")})
            entry["count"] += 1
            entry["stages"].add(stage)
    rows = sorted(by_code.values(), key=lambda e: (-e["count"], e["code"]))
    for row in rows:
        row["stages"] = ", ".join(sorted(row["stages"]))
    return {"decisions": len(decisions), "capped": len(decisions) == DENIALS_SCANNED, "by_code": rows}


def dashboard() -> dict[str, Any]:
    """The compliance dashboard: recent jobs, denials by reason code, recent impact reports, ledger health."""
    now = timezone.now()
    since = now - DENIAL_WINDOW
    jobs = list(Job.objects.select_related("organization", "model").order_by("-id")[:RECENT_JOBS])
    states = dict(Job.objects.filter(created_at__gte=since).values_list("state").annotate(n=Count("id"))
                  .order_by("state"))
    impacts = [{"id": r.pk, "trigger_type": r.trigger_type, "trigger_index": r.trigger_index,
                "subject": r.subject.get("label") or str(r.subject.get("id", "")),
                "subject_kind": r.subject.get("kind", ""), "works": r.works, "models": r.models_count,
                "jobs": r.jobs, "outputs": r.outputs, "created_at": r.created_at, "ledger_index": r.ledger_index}
               for r in ImpactReport.objects.order_by("-id")[:RECENT_IMPACTS]]
    return {
        "generated_at": now, "window_days": DENIAL_WINDOW.days,
        "jobs": [{"id": j.pk, "organization": j.organization.name, "model": j.model.slug, "state": j.state,
                  "use": j.use, "territory": j.territory, "created_at": j.created_at, "finished_at": j.finished_at,
                  "outcome_code": j.outcome_code,
                  "report_url": reverse("job-audit-report", args=[j.pk])} for j in jobs],
        "states": sorted(states.items()),
        "denials": _denials(since),
        "impacts": impacts,
        "ledger": _ledger_health(),
    }


# --- Rendering -------------------------------------------------------------------------------------------------


def render_html(template: str, context: dict[str, Any]) -> str:
    """A report template rendered with its context (autoescaped; the drawings are escaped by provenance.drawing)."""
    return render_to_string(template, context)


def _data_only_fetcher() -> Any:
    """A WeasyPrint URL fetcher for `data:` URLs only: reports are self-contained, so nothing else is fetched
    (no request leaves the server because of what a report contains)."""
    try:
        from weasyprint.urls import URLFetcher  # WeasyPrint >= 68
    except ImportError:  # older releases take a function
        from weasyprint.urls import default_url_fetcher

        def fetch(url: str, *args: Any, **kwargs: Any) -> Any:
            if not url.startswith("data:"):
                raise ValueError(f"audit reports fetch no external resources ({url[:80]})")
            return default_url_fetcher(url, *args, **kwargs)
        return fetch
    return URLFetcher(allowed_protocols=("data",))


def render_pdf(html: str, base_url: str | None = None) -> bytes:
    """The HTML printed to PDF (A4, per the templates' print CSS). WeasyPrint is imported here, not at startup."""
    try:
        import weasyprint
    except (ImportError, OSError) as error:  # OSError: the Pango system library is missing
        log.warning("PDF rendering unavailable: %s", error)
        raise DomainError("pdf_unavailable", "PDF rendering is not available on this server (WeasyPrint and the "
                          "Pango library are needed); the HTML report has the same content.", status=503) from error
    pdf = weasyprint.HTML(string=html, base_url=base_url, url_fetcher=_data_only_fetcher()).write_pdf()
    assert pdf is not None  # write_pdf returns the bytes when no target is given
    return bytes(pdf)
