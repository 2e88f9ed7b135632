"""Impact analysis: every model, job and output that depends on a work, a party or a license.

Set-based SQL over the dependency indexes, never a walk over graphs: a job depends on
- the works of its model's training manifest and the licenses that cleared them (`ManifestEntry`, indexed by
  work and by manifest), and
- the licenses its style references relied on (`StyleLicense`, indexed by license).
A party's impact is that of the licenses it granted and the works it holds. An opt-out's is that of the works
its subject matches (generation.clearance.works_of_optouts), a revocation's that of the license's training
uses plus its style uses.

`report_changes` turns every revocation and opt-out recorded in the ledger into an `ImpactReport` (driven by a
cursor, so a task delivered twice writes nothing twice); it runs after each rights change and on beat.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, Q

from generation.clearance import works_of_optouts
from generation.models import GenerationModel, Job, JobOutput, ManifestEntry
from licensing.models import EntryType, LedgerEntry, License, LicenseRevocation, OptOut, Party, Work
from provenance.models import ImpactCursor, ImpactReport, StyleLicense

SAMPLE = 20  # ids listed per kind in a report; the counts are complete
_CHUNK = 20_000


@dataclass
class Impact:
    """What a rights change touches."""

    subject: dict[str, Any]
    works: int = 0
    training_works: int = 0  # of those, works some model was trained on
    models: list[dict[str, Any]] = field(default_factory=list)  # [{"id", "slug", "works"}]
    jobs: int = 0
    outputs: int = 0
    by_state: dict[str, int] = field(default_factory=dict)
    by_organization: dict[str, dict[str, int]] = field(default_factory=dict)  # slug -> {"jobs", "outputs"}
    style_jobs: int = 0  # jobs that relied on the license for a style reference
    sample_jobs: list[int] = field(default_factory=list)
    sample_outputs: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        """The stored (and ledgered) form."""
        return {"subject": self.subject, "works": self.works, "training_works": self.training_works,
                "models": self.models, "jobs": self.jobs, "outputs": self.outputs, "by_state": self.by_state,
                "by_organization": self.by_organization, "style_jobs": self.style_jobs,
                "sample_jobs": self.sample_jobs, "sample_outputs": self.sample_outputs}


def _chunks(values: Sequence[int], size: int = _CHUNK) -> Iterable[Sequence[int]]:
    for start in range(0, len(values), size):
        yield values[start:start + size]


def _manifests_holding(*, work_ids: Sequence[int] = (), license_ids: Sequence[int] = ()) -> dict[int, int]:
    """Training manifests holding any of the works, or works cleared by any of the licenses: id -> works."""
    found: dict[int, int] = {}
    if license_ids:
        for row in (ManifestEntry.objects.filter(license_id__in=list(license_ids)).values("manifest_id")
                    .annotate(n=Count("id"))):
            found[row["manifest_id"]] = found.get(row["manifest_id"], 0) + row["n"]
    for chunk in _chunks(sorted(work_ids)):
        for row in ManifestEntry.objects.filter(work_id__in=chunk).values("manifest_id").annotate(n=Count("id")):
            found[row["manifest_id"]] = found.get(row["manifest_id"], 0) + row["n"]
    return found


def _jobs_and_outputs(impact: Impact, model_ids: Sequence[int], style_license_ids: Sequence[int]) -> None:
    """Count the jobs of the models (and those relying on the licenses for style) and their outputs."""
    jobs = Q(model_id__in=list(model_ids))
    if style_license_ids:
        style = StyleLicense.objects.filter(license_id__in=list(style_license_ids)).values("job_id")
        impact.style_jobs = style.distinct().count()
        jobs |= Q(pk__in=style)
    if not model_ids and not style_license_ids:
        return
    selected = Job.objects.filter(jobs)
    for row in selected.values("state").annotate(n=Count("id")):
        impact.by_state[row["state"]] = row["n"]
    impact.jobs = sum(impact.by_state.values())
    outputs = JobOutput.objects.filter(job__in=selected.values("pk"))
    impact.outputs = outputs.count()
    per_org: dict[str, dict[str, int]] = {}
    for row in selected.values("organization__slug").annotate(n=Count("id")):
        per_org[row["organization__slug"]] = {"jobs": row["n"], "outputs": 0}
    for row in outputs.values("job__organization__slug").annotate(n=Count("id")):
        per_org.setdefault(row["job__organization__slug"], {"jobs": 0, "outputs": 0})["outputs"] = row["n"]
    impact.by_organization = dict(sorted(per_org.items()))
    impact.sample_jobs = list(selected.order_by("-id").values_list("pk", flat=True)[:SAMPLE])
    impact.sample_outputs = [{"job_id": j, "kind": k, "sha256": h} for j, k, h in
                             outputs.order_by("-job_id", "kind").values_list("job_id", "kind", "sha256")[:SAMPLE]]


def _finish(impact: Impact, manifests: dict[int, int], style_license_ids: Sequence[int], started: float) -> Impact:
    impact.training_works = sum(manifests.values())
    models = list(GenerationModel.objects.filter(manifest_id__in=list(manifests)).order_by("name", "version")
                  .values_list("pk", "name", "version", "manifest_id"))
    impact.models = [{"id": pk, "slug": f"{name}@{version}", "works": manifests[manifest]}
                     for pk, name, version, manifest in models]
    _jobs_and_outputs(impact, [m[0] for m in models], style_license_ids)
    impact.seconds = time.perf_counter() - started
    return impact


def of_works(work_ids: Iterable[int], *, subject: dict[str, Any] | None = None) -> Impact:
    """Models trained on any of the works, their jobs and outputs."""
    started = time.perf_counter()
    ids = sorted(set(work_ids))
    impact = Impact(subject or {"kind": "works", "ids": ids[:SAMPLE], "count": len(ids)}, works=len(ids))
    return _finish(impact, _manifests_holding(work_ids=ids), (), started)


def of_license(license: License) -> Impact:
    """Models whose training works it cleared, jobs that relied on it for a style reference, their outputs."""
    started = time.perf_counter()
    impact = Impact({"kind": "license", "id": license.pk, "key": license.key})
    impact.works = ManifestEntry.objects.filter(license=license).values("work_id").distinct().count()
    return _finish(impact, _manifests_holding(license_ids=[license.pk]), [license.pk], started)


def of_party(party: Party) -> Impact:
    """The impact of the licenses a party granted and the works it holds."""
    started = time.perf_counter()
    license_ids = list(License.objects.filter(licensor=party).values_list("pk", flat=True))
    work_ids = list(Work.objects.filter(rights_holder=party).values_list("pk", flat=True))
    impact = Impact({"kind": "party", "id": party.pk, "key": party.key, "licenses": len(license_ids)},
                    works=len(work_ids))
    manifests = _manifests_holding(work_ids=work_ids, license_ids=license_ids)
    return _finish(impact, manifests, license_ids, started)


def of_optout(optout: OptOut) -> Impact:
    """The impact of the works an opt-out's subject matches."""
    started = time.perf_counter()
    ids = sorted(works_of_optouts([optout.pk]))
    impact = Impact({"kind": "optout", "id": optout.pk, "subject_kind": optout.subject_kind,
                     "reserved": optout.reserved_mask}, works=len(ids))
    return _finish(impact, _manifests_holding(work_ids=ids), (), started)


# --- Automatic reports ----------------------------------------------------------------------------------------------

TRIGGERS = (EntryType.LICENSE_REVOKED, EntryType.OPTOUT_REGISTERED)


def _impact_of_entry(entry_type: str, index: int) -> Impact | None:
    if entry_type == EntryType.LICENSE_REVOKED:
        revocation = LicenseRevocation.objects.select_related("license").filter(ledger_index=index).first()
        if revocation is None:
            return None
        impact = of_license(revocation.license)
        impact.subject.update(revocation_id=revocation.pk, effective_at=revocation.effective_at.isoformat())
        return impact
    optout = OptOut.objects.filter(ledger_index=index).first()
    return None if optout is None else of_optout(optout)


def report_changes(limit: int = 200) -> list[ImpactReport]:
    """An impact report for each revocation and opt-out recorded since the cursor (oldest first)."""
    from licensing.ledger import Actor
    from provenance.actions import do_record_impact

    with transaction.atomic():
        cursor = ImpactCursor.objects.select_for_update().filter(pk=1).first()
        if cursor is None:
            cursor = ImpactCursor.objects.create(pk=1, size=0)
            cursor = ImpactCursor.objects.select_for_update().get(pk=1)
        entries = list(LedgerEntry.objects.filter(leaf_index__gte=cursor.size, entry_type__in=TRIGGERS)
                       .order_by("leaf_index").values_list("leaf_index", "entry_type")[:limit])
        reports = []
        for index, entry_type in entries:
            if ImpactReport.objects.filter(trigger_index=index).exists():
                continue
            impact = _impact_of_entry(entry_type, index)
            if impact is not None:
                reports.append(do_record_impact(impact, trigger_type=entry_type, trigger_index=index,
                                                actor=Actor.system("impact")))
        if entries:
            cursor.size = entries[-1][0] + 1
            cursor.save(update_fields=["size", "updated_at"])
    return reports


def pending() -> bool:
    """Whether a revocation or opt-out awaits its report (one probe of the entry-type index)."""
    size = ImpactCursor.objects.filter(pk=1).values_list("size", flat=True).first() or 0
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM licensing_ledgerentry WHERE entry_type IN (%s, %s) AND leaf_index >= %s LIMIT 1",
                       [*TRIGGERS, size])
        return cursor.fetchone() is not None
