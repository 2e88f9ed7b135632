"""Choosing a model's training set: the catalog works cleared for `ai_training` at one moment, in one territory.

A model meant for commercial jobs can also require its works to be cleared for `commercial_output` (or any other
use): the gate refuses a commercial job whenever a training work's license does not grant commercial output, so
such a model is trained only on works that do (`also_cleared_for`).

Read-only. The selection is a rights evaluation pinned to a ledger size, so the manifest records exactly
what the ledger said when the works were chosen; `licensing.rights` gives each allowed work the license
(possibly a public-domain or open-license basis) that clears it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.utils import timezone

from generation.manifest import ManifestRecord, sort_records
from licensing import rights
from licensing.ledger import current_head
from licensing.models import License, Work


@dataclass
class Selection:
    """Works cleared for training, as manifest records in manifest order, with what was left out and why."""

    territory: str
    evaluated_at: datetime
    ledger_size: int
    criteria: dict[str, object]
    records: list[ManifestRecord]
    works: dict[str, Work]
    licenses: dict[str, License]
    considered: int = 0
    denied: dict[str, int] = field(default_factory=dict)

    def subset(self, keys: Sequence[str]) -> Selection:
        """The same selection narrowed to the given work keys (works the engine could not read are dropped)."""
        keep = set(keys)
        records = [r for r in self.records if r.work in keep]
        return Selection(self.territory, self.evaluated_at, self.ledger_size, self.criteria, records,
                         {k: w for k, w in self.works.items() if k in keep},
                         {r.license: self.licenses[r.license] for r in records}, self.considered, self.denied)


def work_key(work: Work) -> str:
    """A work's natural key across installations: `<collection slug>/<source key>`."""
    return f"{work.collection.slug}/{work.source_key}"


def select_cleared_works(*, territory: str, at: datetime | None = None, collections: Sequence[str] = (),
                         formats: Sequence[str] = (), also_cleared_for: Sequence[str] = (),
                         limit: int | None = None) -> Selection:
    """Every work (optionally only in `collections` / of `formats`) cleared for ai_training at `at`, and for each
    use in `also_cleared_for` too. A manifest record names the license that clears the work for ai_training."""
    size, _ = current_head()
    moment = at or timezone.now()
    works = Work.objects.select_related("collection").filter(ledger_index__lt=size).exclude(asset_sha256="")
    if collections:
        works = works.filter(collection__slug__in=list(collections))
    if formats:
        works = works.filter(format__in=list(formats))
    by_id = {w.pk: w for w in works.order_by("collection__slug", "source_key")}
    evaluation = rights.evaluate(by_id, "ai_training", territory, moment, as_of_size=size)
    allowed = evaluation.allowed_ids()
    denied = evaluation.reason_counts()
    for use in sorted(set(also_cleared_for) - {"ai_training"}):
        extra = rights.evaluate(allowed, use, territory, moment, as_of_size=size)
        for code, n in extra.reason_counts().items():
            denied[f"{use}:{code}"] = denied.get(f"{use}:{code}", 0) + n
        allowed = extra.allowed_ids()
    license_ids = {evaluation.verdicts[w].license_ids[0] for w in allowed}
    licenses_by_id = License.objects.in_bulk(license_ids)
    records, keyed, licenses = [], {}, {}
    for work_id in allowed:
        work = by_id[work_id]
        lic = licenses_by_id[evaluation.verdicts[work_id].license_ids[0]]
        key = work_key(work)
        records.append(ManifestRecord(key, work.asset_sha256, lic.key, lic.basis))
        keyed[key] = work
        licenses[lic.key] = lic
    records = sort_records(records)
    if limit is not None:
        records = records[:limit]
        keyed = {r.work: keyed[r.work] for r in records}
        licenses = {r.license: licenses[r.license] for r in records}
    criteria: dict[str, object] = {"use": "ai_training", "collections": sorted(collections),
                                   "formats": sorted(formats), "limit": limit}
    if also_cleared_for:  # absent otherwise, so manifests chosen before this criterion existed keep their form
        criteria["also_cleared_for"] = sorted(set(also_cleared_for) - {"ai_training"})
    return Selection(territory=evaluation.territory, evaluated_at=moment, ledger_size=size, criteria=criteria,
                     records=records, works=keyed, licenses=licenses, considered=len(by_id),
                     denied=denied)
