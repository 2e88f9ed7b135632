"""Load the license chain of a job from the database (provenance.graph is the pure part).

- `training_graph_record(manifest)`: the training graph's digest and counts, computed once per manifest by
  streaming its rows (a million-work manifest never becomes a networkx graph) and kept in `TrainingGraph`;
- `training_graph_chunks(manifest)`: the training graph's canonical bytes, streamed (the API serves them; a
  client checks them against the digest that the output graph and the C2PA manifest carry);
- `output_graph(job, watermark)`: the output graph of a job as the seal step records it.

Style references are evaluated as the gate saw them: rights at the pre-composition decision's time and ledger
size, licenses held by the operator or the client.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC
from typing import Any

import networkx as nx
from django.db import IntegrityError, transaction
from django.db.models import Count, Sum
from django.utils import timezone

from clearcue.tenancy import operator_organization
from generation.models import GateDecision, GateStage, Job, ManifestEntry, TrainingManifest
from generation.training import work_key
from licensing import rights
from licensing.models import EntryType, LedgerEntry, License, Party, Work, WorkCreator, WorkTag
from licensing.terms import uses_of
from provenance import graph as g
from provenance.models import Attribution, AttributionWork, TrainingGraph

_CHUNK = 5000


def manifest_fact(manifest: TrainingManifest) -> g.ManifestFact:
    """The manifest node's facts."""
    return g.ManifestFact(manifest.name, manifest.merkle_root, manifest.leaf_format, manifest.territory,
                          manifest.work_count, manifest.ledger_index)


def license_facts(license_ids: Iterable[int]) -> dict[str, g.LicenseFact]:
    """License facts by key."""
    out = {}
    ids = sorted(set(license_ids))
    for start in range(0, len(ids), _CHUNK):
        for key, basis, licensor, mask, index in License.objects.filter(pk__in=ids[start:start + _CHUNK]).values_list(
                "key", "basis", "licensor__key", "uses_mask", "ledger_index"):
            out[key] = g.LicenseFact(key, basis, licensor, tuple(uses_of(mask)), index)
    return out


def party_facts(keys: Iterable[str]) -> dict[str, g.PartyFact]:
    """Party facts by key."""
    wanted = sorted(set(keys))
    out = {}
    for start in range(0, len(wanted), _CHUNK):
        for key, name, index in Party.objects.filter(key__in=wanted[start:start + _CHUNK]).values_list(
                "key", "name", "ledger_index"):
            out[key] = g.PartyFact(key, name, index)
    return out


def _training_inputs(manifest: TrainingManifest) -> tuple[Any, dict[str, g.LicenseFact], dict[str, g.PartyFact]]:
    entries = ManifestEntry.objects.filter(manifest=manifest)
    licenses = license_facts(entries.values_list("license_id", flat=True).distinct())
    holders = set(entries.exclude(work__rights_holder=None).values_list("work__rights_holder__key", flat=True)
                  .distinct())
    parties = party_facts(holders | {lic.licensor for lic in licenses.values()})

    def rows() -> Iterator[g.TrainingRow]:
        query = entries.order_by("position").values_list("work_key", "asset_sha256", "license_key", "basis",
                                                          "work__ledger_index", "work__rights_holder__key")
        for key, sha256, license_key, basis, index, holder in query.iterator(chunk_size=_CHUNK):
            yield g.TrainingRow(key, sha256, license_key, basis, index, holder or "")
    return rows, licenses, parties


def training_graph_chunks(manifest: TrainingManifest) -> Iterator[bytes]:
    """The manifest's training graph as canonical bytes, streamed from the database."""
    rows, licenses, parties = _training_inputs(manifest)
    return g.training_graph_chunks(manifest_fact(manifest), rows, licenses, parties)


def training_graph(manifest: TrainingManifest) -> nx.DiGraph:
    """The manifest's training graph in memory (for pictures and queries of modest manifests)."""
    rows, licenses, parties = _training_inputs(manifest)
    return g.training_graph(manifest_fact(manifest), rows(), licenses, parties)


def training_graph_record(manifest: TrainingManifest) -> TrainingGraph:
    """The manifest's training graph digest and counts, computed on first use (deterministic, so a concurrent
    computation that wins the race has stored the same values)."""
    existing = TrainingGraph.objects.filter(manifest=manifest).first()
    if existing is not None:
        return existing
    started = time.perf_counter()
    rows, licenses, parties = _training_inputs(manifest)
    summary = g.training_summary(manifest_fact(manifest), rows, licenses, parties)
    try:
        with transaction.atomic():
            return TrainingGraph.objects.create(
                manifest=manifest, format=g.GRAPH_FORMAT, digest=summary.digest, works=summary.works,
                licenses=summary.licenses, parties=summary.parties, links=summary.links,
                seconds=time.perf_counter() - started, created_at=timezone.now())
    except IntegrityError:
        return TrainingGraph.objects.get(manifest=manifest)


def job_reference(job: Job) -> str:
    """A job's natural reference: `<organization slug>/<idempotency key>` (stable across installations)."""
    return f"{job.organization.slug}/{job.idempotency_key}"


def job_ledger_index(job: Job) -> int:
    """The index of the job's `job.submitted` entry."""
    index = (LedgerEntry.objects.filter(subject_type="job", subject_id=str(job.pk),
                                        entry_type=EntryType.JOB_SUBMITTED).values_list("leaf_index", flat=True)
             .first())
    if index is None:
        raise LookupError(f"job {job.pk} has no job.submitted entry")
    return int(index)


def _iso(moment: Any) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def style_work_ids(job: Job, decision: GateDecision | None) -> list[tuple[str, str, list[int]]]:
    """(kind, label, work ids) of each style reference of the job: requested tags the model knows, and the
    catalog parties the gate found named in the description (as its pre-composition decision recorded them)."""
    out: list[tuple[str, str, list[int]]] = []
    for tag in sorted(set(job.style_tags)):
        if tag in job.model.style_tags:
            out.append(("tag", tag, sorted(set(WorkTag.objects.filter(tag=tag).values_list("work_id", flat=True)))))
    references = (decision.facts.get("references", []) if decision is not None else [])
    for ref in references:
        if ref.get("kind") != "named_artist":
            continue
        party = Party.objects.filter(name=ref["label"]).order_by("pk").first()
        if party is None:
            continue
        ids = set(WorkCreator.objects.filter(party=party).values_list("work_id", flat=True))
        ids |= set(Work.objects.filter(rights_holder=party).values_list("pk", flat=True))
        out.append(("named_artist", ref["label"], sorted(ids)))
    return out


def _style_facts(job: Job, decision: GateDecision | None) -> tuple[list[g.StyleFact], dict[str, int]]:
    """Style references with each work's style_reference license as the gate saw it, and the licenses they rely
    on (key -> works)."""
    if decision is None:
        return [], {}
    licensees = sorted({operator_organization().pk, job.organization_id})
    found: list[tuple[str, str, list[tuple[str, int, int | None, str]]]] = []
    for kind, label, ids in style_work_ids(job, decision):
        evaluation = rights.evaluate(ids, "style_reference", job.territory, decision.decided_at,
                                     as_of_size=decision.ledger_size, licensee_ids=licensees)
        items = []
        for pk, key, index, holder in _work_rows(ids):
            verdict = evaluation.verdicts.get(pk)
            items.append((key, index, verdict.license_ids[0] if verdict is not None and verdict.allowed else None,
                          holder))
        found.append((kind, label, items))
    keys = dict(License.objects.filter(pk__in={lic for _, _, items in found for _, _, lic, _ in items if lic})
                .values_list("pk", "key"))
    used: dict[str, int] = {}
    styles = []
    for kind, label, items in found:
        works = []
        for work, index, lic, holder in items:
            key = keys[lic] if lic else ""
            if key:
                used[key] = used.get(key, 0) + 1
            works.append(g.StyleWork(work, index, key, holder))
        styles.append(g.StyleFact(kind, label, tuple(works)))
    return styles, used


def _work_rows(ids: list[int]) -> Iterator[tuple[int, str, int, str]]:
    for start in range(0, len(ids), _CHUNK):
        for work in (Work.objects.filter(pk__in=ids[start:start + _CHUNK]).select_related("collection",
                                                                                          "rights_holder")):
            yield work.pk, work_key(work), work.ledger_index, work.rights_holder.key if work.rights_holder else ""


def output_facts(job: Job, watermark: Mapping[str, Any]) -> tuple[g.OutputFacts, dict[str, int]]:
    """The facts of a job's output graph, and the licenses its style references rely on (key -> works)."""
    model = job.model
    manifest = model.manifest
    training = training_graph_record(manifest)
    decisions = list(GateDecision.objects.filter(job=job).order_by("id"))
    pre = next((d for d in decisions if d.stage == GateStage.PRE), None)
    resolved, used = _style_facts(job, pre)
    listed = [w for s in resolved for w in sorted(s.works, key=lambda w: w.work)[:g.STYLE_WORK_LIMIT]]
    licenses = license_facts(License.objects.filter(key__in={w.license for w in listed if w.license})
                             .values_list("pk", flat=True))
    parties = party_facts({w.holder for w in listed if w.holder} | {lic.licensor for lic in licenses.values()})
    facts = g.OutputFacts(
        job=job_reference(job), job_ledger_index=job_ledger_index(job), organization=job.organization.slug,
        territory=job.territory, use=job.use, created_at=_iso(job.created_at), model_slug=model.slug,
        model_checkpoint_sha256=model.checkpoint_sha256, model_ledger_index=model.ledger_index,
        manifest=manifest_fact(manifest),
        training=g.TrainingSummary(training.digest, training.works, training.licenses, training.parties,
                                   training.links),
        decisions=tuple(g.DecisionFact(d.stage, d.allowed, d.policy_version, tuple(r["code"] for r in d.reasons),
                                       d.ledger_index) for d in decisions),
        styles=tuple(resolved), licenses=licenses, parties=parties,
        watermark={k: watermark[k] for k in ("alg", "value", "ledger_index") if k in watermark},
        formats=tuple(sorted(job.formats)))
    return facts, used


def output_graph(job: Job, watermark: Mapping[str, Any]) -> tuple[nx.DiGraph, dict[str, int]]:
    """The output graph of a job and the style licenses it relies on."""
    facts, used = output_facts(job, watermark)
    return g.output_graph(facts), used


# --- Recorded attributions -------------------------------------------------------------------------------------------


def credited_by_key(record: Attribution) -> dict[str, AttributionWork]:
    """An attribution's rows (with license and holder) by the credited work's key."""
    rows = AttributionWork.objects.filter(attribution=record).select_related("work__collection", "license__licensor",
                                                                             "holder")
    return {work_key(row.work): row for row in rows}


def holder_shares(record: Attribution) -> list[dict[str, Any]]:
    """Each rights holder's part of an attribution, largest first: {"party", "name", "ppm", "works"}."""
    rows = (AttributionWork.objects.filter(attribution=record).values("holder__key", "holder__name")
            .annotate(ppm=Sum("ppm"), works=Count("id")).order_by("-ppm", "holder__key"))
    return [{"party": r["holder__key"], "name": r["holder__name"], "ppm": r["ppm"], "works": r["works"]}
            for r in rows]
