"""Per-model clearance state: which training works are not cleared now, kept current incrementally.

The gate must not get slower as training sets grow, so it never re-evaluates a manifest. For each
(training manifest, territory) a `Clearance` row holds counts of blocked works per use, and `ClearanceBlock`
rows name them (ai_training, commercial_output, non_commercial_output). It is computed in full once
(`ensure_clearance`), then kept current by `catch_up`, which finds the rights changes since the cursor (ledger
entries: licenses granted or extended, revocations, opt-outs, withdrawals, works updated; and facts whose
effective time has passed since: licenses starting or ending, dated opt-outs, revocations and withdrawals),
maps them to the works they touch, finds the manifests holding those works through the work -> manifest
index, and re-evaluates only those works. The gate calls `catch_up` itself when anything is pending (a cheap
existence probe), so a decision never reads a stale state, and the `generation.clearance.catch_up` task runs
it after every rights change and on beat.

A block is `after_training` when the work was cleared for that use at the manifest's snapshot (its ledger size
and evaluation time) and is not now: the gate policy decides whether such training changes deny at once or
are tolerated until a retraining deadline counted from `since`.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.db import connection, transaction
from django.db.models import Min
from django.utils import timezone

from generation.gate import TRAINING_USE, TrainingFacts, UseBlocks
from generation.models import (
    Clearance,
    ClearanceBlock,
    ClearanceCursor,
    GenerationModel,
    ManifestEntry,
    TrainingManifest,
)
from licensing import rights
from licensing.models import (
    License,
    LicenseRevocation,
    LicenseWork,
    OptOut,
    OptOutMatch,
    OptOutWithdrawal,
    Work,
)

USES = (TRAINING_USE, "commercial_output", "non_commercial_output")
SAMPLE = 20
_CHUNK = 20_000


def _lock_cursor() -> ClearanceCursor:
    """Lock the cursor row (serializes full computations and catch-ups); created after a test flush."""
    cursor = ClearanceCursor.objects.select_for_update().filter(pk=1).first()
    if cursor is None:
        ClearanceCursor.objects.get_or_create(pk=1, defaults={"size": 0, "time": None})
        cursor = ClearanceCursor.objects.select_for_update().get(pk=1)
    return cursor


def _ledger_size() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT size FROM licensing_ledgerhead WHERE id = 1")
        row = cursor.fetchone()
    return int(row[0]) if row else 0


def _chunks(values: Sequence[int], size: int = _CHUNK) -> Iterable[Sequence[int]]:
    for start in range(0, len(values), size):
        yield values[start:start + size]


# --- Evaluating blocks ------------------------------------------------------------------------------------------


@dataclass
class _Block:
    work_id: int
    reasons: list[str]
    after_training: bool
    since: datetime | None


def _evaluate_blocks(manifest: TrainingManifest, territory: str, use: str, work_ids: Sequence[int],
                     now: datetime) -> list[_Block]:
    """Works of `work_ids` not cleared for `use` now, and whether each was cleared at the manifest's snapshot."""
    blocks: list[_Block] = []
    for chunk in _chunks(sorted(work_ids)):
        evaluation = rights.evaluate(chunk, use, territory, now)
        denied = evaluation.denied()
        if not denied:
            continue
        snapshot = rights.evaluate([v.work_id for v in denied], use, territory, manifest.evaluated_at,
                                   as_of_size=manifest.ledger_size)
        changed = [v for v in denied if snapshot.verdicts[v.work_id].allowed]
        since = _change_times(manifest, changed, now)
        for verdict in denied:
            after = snapshot.verdicts[verdict.work_id].allowed
            blocks.append(_Block(verdict.work_id, list(verdict.reasons), after,
                                 since.get(verdict.work_id, now) if after else None))
    return blocks


def _change_times(manifest: TrainingManifest, verdicts: Sequence[rights.Verdict], now: datetime,
                  ) -> dict[int, datetime]:
    """When each work stopped being cleared: the earliest effective time of the later facts that block it."""
    if not verdicts:
        return {}
    optout_ids = {o for v in verdicts for o in v.optout_ids}
    license_ids = {lic for v in verdicts for lic in v.license_ids}
    optout_from = dict(OptOut.objects.filter(pk__in=optout_ids, ledger_index__gte=manifest.ledger_size)
                       .values_list("pk", "effective_from"))
    revoked_at = dict(LicenseRevocation.objects.filter(license_id__in=license_ids,
                                                       ledger_index__gte=manifest.ledger_size)
                      .values_list("license_id", "effective_at"))
    expired_at = dict(License.objects.filter(pk__in=license_ids, valid_until__gt=manifest.evaluated_at,
                                             valid_until__lte=now).values_list("pk", "valid_until"))
    times: dict[int, datetime] = {}
    for verdict in verdicts:
        candidates = [optout_from[o] for o in verdict.optout_ids if o in optout_from]
        candidates += [revoked_at[lic] for lic in verdict.license_ids if lic in revoked_at]
        candidates += [expired_at[lic] for lic in verdict.license_ids if lic in expired_at]
        times[verdict.work_id] = min(candidates) if candidates else now
    return times


def _store_blocks(clearance: Clearance, use: str, work_ids: Sequence[int], blocks: Sequence[_Block], *,
                  fresh: bool = False) -> None:
    """Replace the blocks of `work_ids` for `use` (`fresh`: a new state, nothing to replace); update the counts
    and the samples the gate reports, so a decision reads them from the state row alone."""
    counts = clearance.counts.setdefault(use, {"hard": 0, "grace": 0, "grace_since": None, "reasons": {}})
    reasons: dict[str, int] = counts["reasons"]
    for chunk in ([] if fresh else _chunks(sorted(work_ids))):
        old = ClearanceBlock.objects.filter(clearance=clearance, use=use, work_id__in=chunk)
        for after, old_reasons in old.values_list("after_training", "reasons"):
            counts["grace" if after else "hard"] -= 1
            for code in old_reasons:
                reasons[code] -= 1
        old.delete()
    keys = {}
    if blocks:
        for chunk in _chunks([b.work_id for b in blocks]):
            keys.update(ManifestEntry.objects.filter(manifest_id=clearance.manifest_id, work_id__in=chunk)
                        .values_list("work_id", "work_key"))
    ClearanceBlock.objects.bulk_create([
        ClearanceBlock(clearance=clearance, use=use, work_id=b.work_id, work_key=keys[b.work_id], reasons=b.reasons,
                       after_training=b.after_training, since=b.since) for b in blocks], batch_size=5000)
    for block in blocks:
        counts["grace" if block.after_training else "hard"] += 1
        for code in block.reasons:
            reasons[code] = reasons.get(code, 0) + 1
    counts["reasons"] = {code: n for code, n in sorted(reasons.items()) if n}
    if counts["grace"]:
        since = ClearanceBlock.objects.filter(clearance=clearance, use=use, after_training=True).aggregate(
            m=Min("since"))["m"]
        counts["grace_since"] = since.isoformat() if since else None
    else:
        counts["grace_since"] = None
    counts["hard_sample"] = list(_sample(clearance, use, False)) if counts["hard"] else []
    counts["grace_sample"] = list(_sample(clearance, use, True)) if counts["grace"] else []


def _compute(clearance: Clearance, work_ids: Sequence[int], now: datetime, *, fresh: bool = False) -> None:
    manifest = clearance.manifest
    for use in USES:
        blocks = _evaluate_blocks(manifest, clearance.territory, use, work_ids, now)
        _store_blocks(clearance, use, work_ids, blocks, fresh=fresh)


def ensure_clearance(manifest: TrainingManifest, territory: str) -> Clearance:
    """The clearance state of a manifest in a territory, computed in full the first time it is asked for."""
    existing = Clearance.objects.filter(manifest=manifest, territory=territory).first()
    if existing is not None:
        return existing
    with transaction.atomic():
        cursor = _lock_cursor()
        existing = Clearance.objects.filter(manifest=manifest, territory=territory).first()
        if existing is not None:
            return existing
        started = time.perf_counter()
        now = timezone.now()
        clearance = Clearance.objects.create(manifest=manifest, territory=territory, counts={},
                                             as_of_size=_ledger_size(), computed_at=now, refreshed_at=now)
        work_ids = list(ManifestEntry.objects.filter(manifest=manifest).values_list("work_id", flat=True))
        _compute(clearance, work_ids, now, fresh=True)
        clearance.full_seconds = time.perf_counter() - started
        clearance.save(update_fields=["counts", "full_seconds"])
        if cursor.time is None:  # the first state: changes before now are reflected in it
            _advance(cursor, clearance.as_of_size, now)
    return clearance


# --- Catching up with rights changes ----------------------------------------------------------------------------


# Ledger entry types that can change whether a work is cleared (new works are in no manifest yet).
RIGHTS_ENTRY_TYPES = ("license.granted", "license.extended", "license.revoked", "optout.registered",
                      "optout.withdrawn", "work.updated")

# One statement: the cursor, and whether any rights entry was appended since it (probes of one index).
_PENDING = """
SELECT c.time, c.next_event, EXISTS (
    SELECT 1 FROM licensing_ledgerentry e WHERE e.entry_type IN ({types}) AND e.leaf_index >= c.size)
FROM generation_clearancecursor c WHERE c.id = 1
""".format(types=", ".join(f"'{t}'" for t in RIGHTS_ENTRY_TYPES))  # noqa: S608 (constants only)


def pending(now: datetime | None = None) -> bool:
    """Whether any rights change (a ledger entry, or the clock passing an effective time) is not yet applied."""
    with connection.cursor() as db:
        db.execute(_PENDING)
        row = db.fetchone()
    if row is None or row[0] is None:  # no clearance computed yet (or the cursor row is gone)
        return Clearance.objects.exists()
    if row[2]:
        return True
    next_event = row[1]
    if next_event is None:
        return False
    if isinstance(next_event, str):  # SQLite returns the raw text
        next_event = datetime.fromisoformat(next_event)
    if timezone.is_naive(next_event):
        next_event = timezone.make_aware(next_event, UTC)
    return (now or timezone.now()) >= next_event


def _next_event(after: datetime) -> datetime | None:
    """The earliest effective time after `after` among recorded licenses, opt-outs, revocations, withdrawals."""
    candidates = [
        License.objects.filter(valid_from__gt=after).aggregate(m=Min("valid_from"))["m"],
        License.objects.filter(valid_until__gt=after).aggregate(m=Min("valid_until"))["m"],
        OptOut.objects.filter(effective_from__gt=after).aggregate(m=Min("effective_from"))["m"],
        LicenseRevocation.objects.filter(effective_at__gt=after).aggregate(m=Min("effective_at"))["m"],
        OptOutWithdrawal.objects.filter(effective_at__gt=after).aggregate(m=Min("effective_at"))["m"],
    ]
    present = [c for c in candidates if c is not None]
    return min(present) if present else None


def _advance(cursor: ClearanceCursor, size: int, moment: datetime) -> None:
    cursor.size, cursor.time, cursor.next_event = size, moment, _next_event(moment)
    cursor.save(update_fields=["size", "time", "next_event", "updated_at"])


def works_of_licenses(license_ids: Iterable[int]) -> set[int]:
    """Works within the scope of any of the licenses (listed works, the holder's works, the collection's works)."""
    works: set[int] = set()
    for lic in License.objects.filter(pk__in=license_ids).values("pk", "scope", "scope_party_id",
                                                                  "scope_collection_id"):
        if lic["scope"] == "works":
            works |= set(LicenseWork.objects.filter(license_id=lic["pk"]).values_list("work_id", flat=True))
        elif lic["scope"] == "party":
            works |= set(Work.objects.filter(rights_holder_id=lic["scope_party_id"]).values_list("pk", flat=True))
        else:
            works |= set(Work.objects.filter(collection_id=lic["scope_collection_id"]).values_list("pk", flat=True))
    return works


def works_of_optouts(optout_ids: Iterable[int]) -> set[int]:
    """Works whose subject matches any of the opt-outs (the work, its holder or a credited party, a creator
    name, an ISCC code of its asset, an identifier), from the opt-out match index (licensing.optout_matches)."""
    ids = sorted(set(optout_ids))
    works: set[int] = set()
    for start in range(0, len(ids), 5000):
        works.update(OptOutMatch.objects.filter(optout_id__in=ids[start:start + 5000])
                     .values_list("work_id", flat=True))
    return works


def _affected_works(size: int, head: int, t0: datetime, t1: datetime, *, clock: bool) -> set[int]:
    """Works whose clearance may have changed through the ledger entries in [size, head) or, when `clock`, the
    effective times passed in (t0, t1]. Only the kinds of change present in the range are looked up."""
    from licensing.models import LedgerEntry

    kinds = set(LedgerEntry.objects.filter(entry_type__in=RIGHTS_ENTRY_TYPES, leaf_index__gte=size,
                                           leaf_index__lt=head).values_list("entry_type", flat=True).distinct())
    in_range = {"ledger_index__gte": size, "ledger_index__lt": head}
    optout_ids: set[int] = set()
    license_ids: set[int] = set()
    works: set[int] = set()
    if "optout.registered" in kinds:
        optout_ids |= set(OptOut.objects.filter(**in_range).values_list("pk", flat=True))
    if "optout.withdrawn" in kinds:
        optout_ids |= set(OptOutWithdrawal.objects.filter(**in_range).values_list("optout_id", flat=True))
    if "license.granted" in kinds:
        license_ids |= set(License.objects.filter(**in_range).values_list("pk", flat=True))
    if "license.revoked" in kinds:
        license_ids |= set(LicenseRevocation.objects.filter(**in_range).values_list("license_id", flat=True))
    if "license.extended" in kinds:
        works |= set(LicenseWork.objects.filter(**in_range).values_list("work_id", flat=True))
    if "work.updated" in kinds:
        works |= set(Work.objects.filter(updated_ledger_index__gte=size, updated_ledger_index__lt=head)
                     .values_list("pk", flat=True))
    if clock:
        optout_ids |= set(OptOut.objects.filter(effective_from__gt=t0, effective_from__lte=t1)
                          .values_list("pk", flat=True))
        optout_ids |= set(OptOutWithdrawal.objects.filter(effective_at__gt=t0, effective_at__lte=t1)
                          .values_list("optout_id", flat=True))
        license_ids |= set(License.objects.filter(valid_from__gt=t0, valid_from__lte=t1).values_list("pk", flat=True))
        license_ids |= set(License.objects.filter(valid_until__gt=t0, valid_until__lte=t1)
                           .values_list("pk", flat=True))
        license_ids |= set(LicenseRevocation.objects.filter(effective_at__gt=t0, effective_at__lte=t1)
                           .values_list("license_id", flat=True))
    works |= works_of_licenses(license_ids) | works_of_optouts(optout_ids)
    works.discard(None)  # type: ignore[arg-type]
    return works


@dataclass
class CatchUp:
    """What one catch-up did."""

    from_size: int
    to_size: int
    works_changed: int = 0
    states_updated: int = 0
    works_reevaluated: int = 0
    seconds: float = 0.0
    manifests: list[int] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """JSON form (the task's result)."""
        return {"from_size": self.from_size, "to_size": self.to_size, "works_changed": self.works_changed,
                "states_updated": self.states_updated, "works_reevaluated": self.works_reevaluated,
                "seconds": round(self.seconds, 4), "manifests": self.manifests}


def catch_up(now: datetime | None = None) -> CatchUp:
    """Apply every rights change since the cursor to the clearance states it touches; advance the cursor."""
    started = time.perf_counter()
    with transaction.atomic():
        cursor = _lock_cursor()
        moment = now or timezone.now()
        head = _ledger_size()
        result = CatchUp(cursor.size, head)
        if cursor.time is None:  # no state computed yet: nothing to keep current
            _advance(cursor, head, moment)
            return result
        clock = cursor.next_event is not None and cursor.next_event <= moment
        changed = sorted(_affected_works(cursor.size, head, cursor.time, moment, clock=clock))
        result.works_changed = len(changed)
        tracked = {c.pk: c for c in Clearance.objects.select_related("manifest")}
        by_manifest: dict[int, list[int]] = {}
        if changed and tracked:
            manifest_ids = {c.manifest_id for c in tracked.values()}
            for chunk in _chunks(changed):
                for manifest_id, work_id in ManifestEntry.objects.filter(
                        work_id__in=chunk, manifest_id__in=manifest_ids).values_list("manifest_id", "work_id"):
                    by_manifest.setdefault(manifest_id, []).append(work_id)
        for clearance in tracked.values():
            works = by_manifest.get(clearance.manifest_id)
            if works:
                _compute(clearance, works, moment)
                result.states_updated += 1
                result.works_reevaluated += len(works)
                clearance.as_of_size, clearance.refreshed_at = head, moment
                clearance.save(update_fields=["counts", "as_of_size", "refreshed_at"])
        Clearance.objects.exclude(manifest_id__in=list(by_manifest)).update(as_of_size=head, refreshed_at=moment)
        result.manifests = sorted(by_manifest)
        _advance(cursor, head, moment)
    result.seconds = time.perf_counter() - started
    return result


# --- What the gate reads -------------------------------------------------------------------------------------


def _sample(clearance: Clearance, use: str, after_training: bool) -> tuple[str, ...]:
    return tuple(ClearanceBlock.objects.filter(clearance=clearance, use=use, after_training=after_training)
                 .order_by("work_key").values_list("work_key", flat=True)[:SAMPLE])


def bring_current(manifest: TrainingManifest, territory: str, *, now: datetime | None = None) -> Clearance:
    """Apply pending rights changes, and compute the state the first time: the state is then current."""
    if pending(now):
        catch_up(now)
    return ensure_clearance(manifest, territory)


def training_facts(model: GenerationModel, territory: str, *, now: datetime | None = None) -> TrainingFacts:
    """The clearance state of the model's manifest in `territory`, current as of now."""
    clearance = bring_current(model.manifest, territory, now=now)
    blocks = {}
    for use in USES:
        counts = clearance.counts.get(use, {})
        hard, grace = int(counts.get("hard", 0)), int(counts.get("grace", 0))
        since = counts.get("grace_since")
        blocks[use] = UseBlocks(
            use=use, hard=hard, grace=grace, grace_since=datetime.fromisoformat(since) if since else None,
            hard_sample=tuple(counts.get("hard_sample", ())), grace_sample=tuple(counts.get("grace_sample", ())),
            reasons=dict(counts.get("reasons", {})))
    return TrainingFacts(model=model.slug, manifest_root=model.manifest.merkle_root,
                         manifest_works=model.manifest.work_count, territory=territory, blocks=blocks,
                         as_of_size=clearance.as_of_size)


def naive_training_facts(model: GenerationModel, territory: str, *, now: datetime | None = None) -> dict[str, int]:
    """The full re-check the clearance state replaces: evaluate every training work (benchmarks compare them)."""
    moment = now or timezone.now()
    work_ids = list(ManifestEntry.objects.filter(manifest=model.manifest).values_list("work_id", flat=True))
    denied = {}
    for use in USES:
        denied[use] = sum(len(rights.evaluate(chunk, use, territory, moment).denied()) for chunk in _chunks(work_ids))
    return denied
