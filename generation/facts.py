"""Load what the gate reads for a job: policy, clearance state, style references, named artists, entitlement.

generation.gate is pure; this module is its I/O. Everything it reads is small and fixed-size for the training
set (the clearance state, see generation.clearance); style references and named artists cost one rights
evaluation over the works behind them.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from datetime import UTC, datetime

from django.db import connection
from django.db.models import Max
from django.utils import timezone

from clearcue.tenancy import operator_organization
from generation import clearance
from generation.gate import (
    OUTPUT_USES,
    EntitlementFacts,
    GateFacts,
    JobFacts,
    Policy,
    ReferenceFacts,
)
from generation.models import GenerationModel, Job
from generation.names import Name, NameIndex, NameMatch
from generation.training import work_key
from licensing import rights
from licensing.models import Party, PartyKind, Work, WorkCreator, WorkTag
from licensing.terms import territories_of


def current_policy() -> Policy:
    """The gate policy in force: the highest version set by compliance, or the built-in version 0."""
    with connection.cursor() as cursor:  # one indexed row on every decision: plain SQL, no ORM overhead
        cursor.execute("SELECT version, training_changes, grace_days, memorization_threshold, name_fuzzy_threshold "
                       "FROM generation_gatepolicy ORDER BY version DESC LIMIT 1")
        row = cursor.fetchone()
    if row is None:
        return Policy()
    return Policy(version=row[0], training_changes=row[1], grace_days=row[2], memorization_threshold=row[3],
                  name_fuzzy_threshold=float(row[4]))


def month_start(now: datetime) -> datetime:
    """The first instant of `now`'s calendar month in UTC (quotas count approved jobs from there)."""
    utc = now.astimezone(UTC)
    return utc.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


_ENTITLEMENT = """
SELECT e.reference, e.territories, e.commercial_use, e.indemnification_tier, e.monthly_quota, e.model_slugs,
    (SELECT COUNT(*) FROM generation_job j WHERE j.organization_id = %(org)s AND j.approved_at >= %(month)s)
FROM generation_entitlement e
WHERE e.organization_id = %(org)s AND e.valid_from <= %(now)s AND (e.valid_until IS NULL OR e.valid_until > %(now)s)
ORDER BY e.id DESC LIMIT 1
"""


def entitlement_facts(organization_id: int, now: datetime) -> EntitlementFacts:
    """The client's contract in force and the approved jobs counted against its quota this month (one query)."""
    adapt = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        cursor.execute(_ENTITLEMENT, {"org": organization_id, "now": adapt(now), "month": adapt(month_start(now))})
        row = cursor.fetchone()
    if row is None:
        return EntitlementFacts(reference=None)
    reference, territories, commercial, tier, quota, slugs, used = row
    if isinstance(slugs, str):  # SQLite hands JSON back as text
        slugs = json.loads(slugs)
    return EntitlementFacts(reference=reference, territories=tuple(territories_of(territories)),
                            commercial_use=bool(commercial), indemnification_tier=tier, monthly_quota=quota,
                            approved_this_month=int(used), model_slugs=tuple(slugs or ()))


# --- Style references and named artists ----------------------------------------------------------------------


def _reference(kind: str, label: str, work_ids: Sequence[int], *, job_use: str, territory: str, now: datetime,
               licensees: list[int], known: bool = True, matched_text: str = "", method: str = "") -> ReferenceFacts:
    """Evaluate the works behind a style reference for style_reference and the job's output use."""
    if not work_ids:
        return ReferenceFacts(kind, label, False, 0, matched_text=matched_text, method=method)
    denied: dict[str, list[str]] = {}
    counts: dict[str, int] = {}
    for use in ("style_reference", OUTPUT_USES[job_use]):
        evaluation = rights.evaluate(work_ids, use, territory, now, licensee_ids=licensees)
        bad = [v.work_id for v in evaluation.denied()]
        counts[use] = len(bad)
        if bad:
            works = Work.objects.filter(pk__in=bad[:200]).select_related("collection")
            denied[use] = sorted(work_key(w) for w in works)[:50]
    holders = sorted(set(Party.objects.filter(held_works__in=list(work_ids)[:5000]).values_list("name", flat=True)))
    return ReferenceFacts(kind, label, known, len(work_ids), denied, counts, holders[:50], matched_text, method)


def tag_references(model: GenerationModel, tags: Sequence[str], *, job_use: str, territory: str, now: datetime,
                   licensees: list[int]) -> list[ReferenceFacts]:
    """One reference per requested style tag: the catalog works carrying it."""
    out = []
    for tag in sorted(set(tags)):
        work_ids = list(WorkTag.objects.filter(tag=tag).values_list("work_id", flat=True).distinct())
        if tag not in model.style_tags:
            out.append(ReferenceFacts("tag", tag, False, len(work_ids)))
            continue
        out.append(_reference("tag", tag, work_ids, job_use=job_use, territory=territory, now=now,
                              licensees=licensees))
    return out


@functools.lru_cache(maxsize=4)
def _name_index(version: tuple[int, int], threshold: float) -> NameIndex:
    """Catalog parties (people and organizations, not the public domain) as names to screen for."""
    names = [Name(name, pk, "party") for pk, name in
             Party.objects.exclude(kind=PartyKind.PUBLIC).values_list("pk", "name")]
    return NameIndex(names, fuzzy_threshold=threshold)


def name_index(threshold: float) -> NameIndex:
    """The name index, rebuilt when parties are added (parties are registered, never renamed: the newest id
    is the version, read from the primary key index)."""
    newest = Party.objects.aggregate(n=Max("pk"))["n"] or 0
    return _name_index((newest, 0), threshold)


def named_artists(description: str, threshold: float) -> list[NameMatch]:
    """Catalog parties named in a scene description (exact, surname or fuzzy)."""
    return name_index(threshold).screen(description)


def named_references(matches: Sequence[NameMatch], *, job_use: str,
                     territory: str, now: datetime, licensees: list[int]) -> list[ReferenceFacts]:
    """A style reference per named party: the works it created or holds."""
    out = []
    for match in matches:
        party_id = match.name.party_id
        work_ids = sorted(set(WorkCreator.objects.filter(party_id=party_id).values_list("work_id", flat=True))
                          | set(Work.objects.filter(rights_holder_id=party_id).values_list("pk", flat=True)))
        out.append(_reference("named_artist", match.name.name, work_ids, job_use=job_use, territory=territory,
                              now=now, licensees=licensees, matched_text=match.text, method=match.method))
    return out


def gate_facts(job: Job, *, policy: Policy, now: datetime | None = None) -> GateFacts:
    """Everything the pre-composition gate reads for `job`."""
    moment = now or timezone.now()
    model = job.model
    training = clearance.training_facts(model, job.territory, now=moment)
    matches = named_artists(job.description, policy.name_fuzzy_threshold)
    tags: list[ReferenceFacts] = []
    named: list[ReferenceFacts] = []
    if job.style_tags or matches:  # style references count licenses held by the operator or the client
        licensees = sorted({operator_organization().pk, job.organization_id})
        tags = tag_references(model, job.style_tags, job_use=job.use, territory=job.territory, now=moment,
                              licensees=licensees)
        named = named_references(matches, job_use=job.use, territory=job.territory, now=moment,
                                 licensees=licensees)
    return GateFacts(
        job=JobFacts(territory=job.territory, use=job.use, model=model.slug, style_tags=tuple(job.style_tags)),
        policy=policy, now=moment, training=training, references=tuple(tags + named),
        entitlement=entitlement_facts(job.organization_id, moment))
