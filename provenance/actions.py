"""Provenance writes: watermark payloads, license-chain graphs and attributions, credentials, impact reports.

Each runs in one transaction with its ledger entry (`watermark.allocated`, `graph.recorded`,
`attribution.recorded`, `impact.reported`; credentials are bound by the job's `output.sealed` entry, written by
`generation.actions.do_complete_job` in the same transaction).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from clearcue.exceptions import DomainError
from generation.models import Job, JobOutput, ManifestEntry
from licensing.actions import _LedgerPlan
from licensing.canonical import canonical_bytes
from licensing.ledger import Actor, EntryDraft
from licensing.models import EntryType, License, Party
from provenance import payloads
from provenance.models import (
    Attribution,
    AttributionWork,
    Credential,
    ImpactReport,
    LicenseGraph,
    StyleLicense,
    TrainingGraph,
    WatermarkPayload,
)

TOP_CONTRIBUTORS = 10  # works named in the ledger entry and the C2PA manifest; the digest covers all


def do_allocate_payload(job: Job, *, alg: str, bits: int, key_id: str, actor: Actor) -> WatermarkPayload:
    """The job's watermark payload for `alg`, allocated on first call (a re-run of the seal step reuses it).

    The serial is read under the ledger head lock that the entry needs anyway, so concurrent seals get
    consecutive serials; the payload is a fixed bijection of the serial (provenance.payloads).
    """
    existing = WatermarkPayload.objects.filter(job=job, alg=alg).first()
    if existing is not None:
        return existing
    with transaction.atomic():
        plan = _LedgerPlan()  # locks the ledger head: allocations are serialized
        existing = WatermarkPayload.objects.filter(job=job, alg=alg).first()
        if existing is not None:
            return existing
        serial = (WatermarkPayload.objects.aggregate(top=Max("serial"))["top"] or 0) + 1
        if serial >= 1 << bits:
            raise DomainError("payload_space_exhausted", f"All {1 << bits} payloads of {alg} are allocated.",
                              status=503)
        value = payloads.scramble(serial, bits)
        index = plan.add(EntryDraft(EntryType.WATERMARK_ALLOCATED, {
            "job_id": job.pk, "alg": alg, "bits": bits, "value": value, "serial": serial, "key_id": key_id,
        }, "job", str(job.pk)))
        payload = WatermarkPayload.objects.create(job=job, serial=serial, alg=alg, bits=bits, value=value,
                                                  key_id=key_id, created_at=timezone.now(), ledger_index=index)
        plan.commit(actor=actor)
    return payload


@dataclass(frozen=True)
class SignedCredential:
    """What was signed into one output file: its manifest id and store, and what the manifest states."""

    manifest_id: str
    media_type: str
    store: bytes
    signer: str
    summary: dict[str, Any]


def credential_recorder(signed: Mapping[str, SignedCredential],
                        watermark: WatermarkPayload | None) -> Callable[[list[JobOutput]], None]:
    """A `do_complete_job(on_outputs=...)` hook that records the credential of each signed output (by kind)."""
    def record(outputs: list[JobOutput]) -> None:
        now = timezone.now()
        Credential.objects.bulk_create([
            Credential(output=output, manifest_id=item.manifest_id, media_type=item.media_type, store=item.store,
                       store_sha256=hashlib.sha256(item.store).hexdigest(), watermark=watermark,
                       signer=item.signer[:300], summary=item.summary, created_at=now)
            for output in outputs if (item := signed.get(output.kind)) is not None
        ])
    return record


def do_record_chain(job: Job, *, graph: Any, style_licenses: Mapping[str, int], attribution: Any,
                    actor: Actor) -> tuple[LicenseGraph, Attribution]:
    """Record a job's output graph (`graph.recorded`) and attribution (`attribution.recorded`), once.

    `graph` is a provenance.graph output graph, `style_licenses` the licenses its style references rely on
    (key -> works), `attribution` a provenance.attribution.Attribution over the model's training works. A re-run
    of the seal step finds both recorded and reuses them, so the signed manifest always states what the
    ledger holds.
    """
    from provenance import graph as g

    existing = LicenseGraph.objects.filter(job=job).first()
    if existing is not None:
        return existing, Attribution.objects.get(job=job)
    document = g.node_link(graph)
    digest = g.digest(graph)
    training = TrainingGraph.objects.get(manifest_id=job.model.manifest_id)
    credited = {c.work: c for c in attribution.contributions}
    entries = {key: (work_id, license_id, holder or licensor) for key, work_id, license_id, holder, licensor in
               ManifestEntry.objects.filter(manifest_id=job.model.manifest_id, work_key__in=list(credited))
               .values_list("work_key", "work_id", "license_id", "work__rights_holder_id", "license__licensor_id")}
    missing = sorted(set(credited) - set(entries))
    if missing:
        raise DomainError("attribution_unknown_work", "The attribution credits works outside the training manifest.",
                          details={"works": missing[:20], "count": len(missing)})
    holder_keys = dict(Party.objects.filter(pk__in={v[2] for v in entries.values()}).values_list("pk", "key"))
    attribution_json = attribution.to_json()
    now = timezone.now()
    with transaction.atomic():
        plan = _LedgerPlan()
        if LicenseGraph.objects.filter(job=job).exists():  # a concurrent run recorded it first
            return LicenseGraph.objects.get(job=job), Attribution.objects.get(job=job)
        graph_index = plan.add(EntryDraft(EntryType.GRAPH_RECORDED, {
            "job_id": job.pk, "format": g.GRAPH_FORMAT, "digest": digest, "counts": g.counts(graph),
            "training_graph": training.summary(),
            "style_licenses": dict(sorted(style_licenses.items())),
        }, "job", str(job.pk)))
        record = LicenseGraph.objects.create(job=job, format=g.GRAPH_FORMAT, digest=digest, counts=g.counts(graph),
                                             document=document, training=training, created_at=now,
                                             ledger_index=graph_index)
        license_ids = dict(License.objects.filter(key__in=list(style_licenses)).values_list("key", "pk"))
        StyleLicense.objects.bulk_create([StyleLicense(graph=record, job=job, license_id=license_ids[key], works=n)
                                          for key, n in sorted(style_licenses.items())])
        holders = attribution.by_holder({work: holder_keys[entry[2]] for work, entry in entries.items()})
        attribution_index = plan.add(EntryDraft(EntryType.ATTRIBUTION_RECORDED, {
            "job_id": job.pk, "method": attribution.method, "digest": attribution.digest(),
            "works": len(attribution.contributions), "top": [
                {"work": c.work, "ppm": c.ppm} for c in attribution.contributions[:TOP_CONTRIBUTORS]],
            "holders": [{"party": k, "ppm": v} for k, v in holders],
        }, "job", str(job.pk)))
        row = Attribution.objects.create(job=job, method=attribution.method, params=attribution_json["params"],
                                         digest=attribution.digest(), document=attribution_json, created_at=now,
                                         ledger_index=attribution_index)
        AttributionWork.objects.bulk_create([
            AttributionWork(attribution=row, job=job, work_id=entries[c.work][0], license_id=entries[c.work][1],
                            holder_id=entries[c.work][2], ppm=c.ppm, similarity_micro=c.similarity_micro,
                            style_reference=c.style_reference, created_at=now)
            for c in attribution.contributions])
        plan.commit(actor=actor)
    return record, row


def do_record_impact(impact: Any, *, trigger_type: str, trigger_index: int | None, actor: Actor) -> ImpactReport:
    """Store an impact report (provenance.impact.Impact) with its `impact.reported` entry."""
    summary = impact.summary()
    with transaction.atomic():
        plan = _LedgerPlan()
        index = plan.add(EntryDraft(EntryType.IMPACT_REPORTED, {
            "trigger_type": trigger_type, "trigger_index": trigger_index, "subject": summary["subject"],
            "works": impact.works, "models": [m["slug"] for m in impact.models], "jobs": impact.jobs,
            "outputs": impact.outputs, "summary_sha256": hashlib.sha256(canonical_bytes(summary)).hexdigest(),
        }, "impact", str(trigger_index if trigger_index is not None else "manual")))
        report = ImpactReport.objects.create(
            trigger_type=trigger_type, trigger_index=trigger_index, subject=summary["subject"], works=impact.works,
            models_count=len(impact.models), jobs=impact.jobs, outputs=impact.outputs, summary=summary,
            seconds=impact.seconds, created_at=timezone.now(), ledger_index=index)
        plan.commit(actor=actor)
    return report
