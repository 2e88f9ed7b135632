"""Rights evaluation: may work W be used for use U, in territory T, at time t, as known at ledger size N?

One function, `evaluate`, answers it for any number of works with two set-based SQL statements (one for
every work, one more for the details of the denied ones), never a Python loop per work. It reads:

- licenses held by the licensees asked about (by default the platform operator), whose scope covers the work
  (listed works, all works of the rights holder, or the work's collection), checked for revocation, validity
  period, permitted use and territory (included and not excluded);
- opt-outs in force at `at` (effective, not withdrawn) whose subject matches the work (the work, its rights
  holder or a credited party, an ISCC code of its asset, an identifier, a creator name) and whose reserved
  uses block `use`. Any disallow wins over any allow. A "constrained" opt-out counts as not allowed unless
  its constraint names (by document reference) a license that allows the work.

Two clocks: `at` is valid time (license dates, revocation and withdrawal effective times), `as_of_size` is
transaction time: only rows whose ledger entry index is below it count, so an audit can ask what we knew
when a job ran (the ledger size recorded with the job's gate decision).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import connection
from django.utils import timezone

from clearcue.exceptions import DomainError
from licensing.terms import USE_BITS, Use, blocking_mask, normalize_territory

# Reason codes, in the order they are reported.
OPTED_OUT = "opted_out"
UNKNOWN_WORK = "unknown_work"
NO_LICENSE = "no_license"
REVOKED = "revoked"
NOT_YET_VALID = "license_not_yet_valid"
EXPIRED = "license_expired"
USE_NOT_GRANTED = "use_not_granted"
TERRITORY_EXCLUDED = "territory_excluded"
RIGHTS_RESERVED = "rights_reserved"  # added to no_license when the asset's own statements reserve rights

# License status per (work, license): 0 allows; the others are reasons it does not.
_STATUS = {0: "ok", 1: TERRITORY_EXCLUDED, 2: USE_NOT_GRANTED, 3: EXPIRED, 4: NOT_YET_VALID, 5: REVOKED}
_NO_LICENSE_RANK = 9
_UNKNOWN_RANK = 10


@dataclass(frozen=True)
class Verdict:
    """The answer for one work: allowed or not, the reason codes, and the licenses/opt-outs behind it."""

    work_id: int
    allowed: bool
    reasons: tuple[str, ...] = ()
    license_ids: tuple[int, ...] = ()  # allowed: the lowest-id license that allows; denied: licenses considered
    optout_ids: tuple[int, ...] = ()


@dataclass
class Evaluation:
    """Verdicts for a set of works, with the question that was asked."""

    use: str
    territory: str
    at: datetime
    as_of_size: int | None
    verdicts: dict[int, Verdict] = field(default_factory=dict)

    def allowed_ids(self) -> list[int]:
        """Works that may be used, ascending."""
        return sorted(w for w, v in self.verdicts.items() if v.allowed)

    def denied(self) -> list[Verdict]:
        """Verdicts of works that may not be used, ascending by work id."""
        return [self.verdicts[w] for w in sorted(self.verdicts) if not self.verdicts[w].allowed]

    def reason_counts(self) -> dict[str, int]:
        """How many works each reason code applies to."""
        counts: dict[str, int] = {}
        for verdict in self.verdicts.values():
            for reason in verdict.reasons:
                counts[reason] = counts.get(reason, 0) + 1
        return dict(sorted(counts.items()))


def _ids_cte(name: str) -> str:
    """A CTE turning the array parameter `name` into rows: unnest on PostgreSQL, json_each on SQLite."""
    if connection.vendor == "postgresql":
        return f"{name}(id) AS (SELECT unnest(%({name})s::bigint[]))"
    return f"{name}(id) AS (SELECT CAST(value AS INTEGER) FROM json_each(%({name})s))"  # noqa: S608 (constant name)


def _ids_param(ids: Sequence[int]) -> Any:
    return list(ids) if connection.vendor == "postgresql" else json.dumps(list(ids))


# The licenses covering each work, with a status rank (see _STATUS). Parameters, in order: N (license),
# N (link), N (revocation), at (revocation), at (from), at (until), use bit, territory pattern x2, licensees.
_COVERAGE = """
cov AS (
    SELECT c.work_id, l.id AS license_id, l.document_ref,
        CASE
            WHEN rv.id IS NOT NULL THEN 5
            WHEN l.valid_from > %(at)s THEN 4
            WHEN l.valid_until IS NOT NULL AND l.valid_until <= %(at)s THEN 3
            WHEN (l.uses_mask & %(use_bit)s) = 0 THEN 2
            WHEN l.excluded_territories LIKE %(territory)s
                 OR NOT (l.territories LIKE '%%|WORLD|%%' OR l.territories LIKE %(territory)s) THEN 1
            ELSE 0
        END AS status
    FROM (
        SELECT lw.work_id, lw.license_id FROM licensing_licensework lw JOIN ws ON ws.id = lw.work_id
        WHERE lw.ledger_index < %(size)s
        UNION ALL
        SELECT w.id, l.id FROM ws JOIN licensing_work w ON w.id = ws.id
        JOIN licensing_license l ON l.scope = 'party' AND l.scope_party_id = w.rights_holder_id
        UNION ALL
        SELECT w.id, l.id FROM ws JOIN licensing_work w ON w.id = ws.id
        JOIN licensing_license l ON l.scope = 'collection' AND l.scope_collection_id = w.collection_id
    ) c
    JOIN licensing_license l ON l.id = c.license_id
    LEFT JOIN licensing_licenserevocation rv
        ON rv.license_id = l.id AND rv.ledger_index < %(size)s AND rv.effective_at <= %(at)s
    WHERE l.ledger_index < %(size)s AND l.licensee_id IN (SELECT id FROM lic)
)"""

# Opt-outs in force that block the use, matched to works by every kind of subject.
_HITS = """
opt AS NOT MATERIALIZED (
    SELECT o.* FROM licensing_optout o
    LEFT JOIN licensing_optoutwithdrawal ow
        ON ow.optout_id = o.id AND ow.ledger_index < %(size)s AND ow.effective_at <= %(at)s
    WHERE o.ledger_index < %(size)s AND o.effective_from <= %(at)s AND ow.id IS NULL
      AND (o.reserved_mask & %(block)s) != 0
),
hit AS (
    SELECT ws.id AS work_id, opt.id AS optout_id, opt."constraint" AS cons
        FROM ws JOIN opt ON opt.subject_kind = 'work' AND opt.subject_work_id = ws.id
    UNION ALL
    SELECT w.id, opt.id, opt."constraint" FROM ws JOIN licensing_work w ON w.id = ws.id
        JOIN opt ON opt.subject_kind = 'party' AND opt.subject_party_id = w.rights_holder_id
    UNION ALL
    SELECT c.work_id, opt.id, opt."constraint" FROM ws JOIN licensing_workcreator c ON c.work_id = ws.id
        JOIN opt ON opt.subject_kind = 'party' AND opt.subject_party_id = c.party_id
    UNION ALL
    SELECT c.work_id, opt.id, opt."constraint" FROM ws JOIN licensing_workcreator c ON c.work_id = ws.id
        JOIN opt ON opt.subject_kind = 'creator_name' AND opt.subject_value = c.name_normalized
    UNION ALL
    SELECT w.id, opt.id, opt."constraint" FROM ws JOIN licensing_work w ON w.id = ws.id
        JOIN opt ON opt.subject_kind = 'iscc' AND opt.subject_value = w.iscc_code AND w.iscc_code <> ''
    UNION ALL
    SELECT w.id, opt.id, opt."constraint" FROM ws JOIN licensing_work w ON w.id = ws.id
        JOIN opt ON opt.subject_kind = 'iscc' AND opt.subject_value = w.iscc_data AND w.iscc_data <> ''
    UNION ALL
    SELECT w.id, opt.id, opt."constraint" FROM ws JOIN licensing_work w ON w.id = ws.id
        JOIN opt ON opt.subject_kind = 'iscc' AND opt.subject_value = w.iscc_instance AND w.iscc_instance <> ''
    UNION ALL
    SELECT i.work_id, opt.id, opt."constraint" FROM ws JOIN licensing_workidentifier i ON i.work_id = ws.id
        JOIN opt ON opt.subject_kind = 'identifier' AND opt.subject_value = i.scheme || ':' || i.value
),
ok_doc AS (SELECT DISTINCT work_id, document_ref FROM cov WHERE status = 0 AND document_ref <> ''),
blocked AS (
    SELECT hit.work_id, hit.optout_id FROM hit
    LEFT JOIN ok_doc ON ok_doc.work_id = hit.work_id AND ok_doc.document_ref = hit.cons
    WHERE hit.cons = '' OR ok_doc.work_id IS NULL
)"""

_SUMMARY = """
WITH {ws}, {lic}, {coverage}, {hits},
best AS (
    SELECT work_id, MIN(status) AS status, MIN(CASE WHEN status = 0 THEN license_id END) AS license_id
    FROM cov GROUP BY work_id
),
out AS (SELECT DISTINCT work_id FROM blocked)
SELECT ws.id,
    CASE WHEN w.id IS NULL OR w.ledger_index >= %(size)s THEN {unknown}
         ELSE COALESCE(best.status, {no_license}) END,
    best.license_id,
    out.work_id IS NOT NULL,
    w.rights_status
FROM ws
LEFT JOIN licensing_work w ON w.id = ws.id
LEFT JOIN best ON best.work_id = ws.id
LEFT JOIN out ON out.work_id = ws.id
"""

_DETAILS = """
WITH {ws}, {lic}, {coverage}, {hits}
SELECT work_id, 'l', license_id, status FROM cov
UNION ALL
SELECT work_id, 'o', optout_id, 0 FROM blocked
ORDER BY 1, 2, 3
"""


def _licensee_ids(licensee_ids: Iterable[int] | None) -> list[int]:
    if licensee_ids is not None:
        return sorted(set(licensee_ids))
    from clearcue.tenancy import operator_organization

    return [operator_organization().pk]


def _sql(template: str) -> str:
    return template.format(ws=_ids_cte("ws"), lic=_ids_cte("lic"), coverage=_COVERAGE.strip(), hits=_HITS.strip(),
                           unknown=_UNKNOWN_RANK, no_license=_NO_LICENSE_RANK)


def _run(template: str, params: dict[str, Any], ws: Sequence[int], lic: Sequence[int]) -> list[tuple[Any, ...]]:
    """Execute one statement with the work ids and licensee ids bound as arrays."""
    with connection.cursor() as cursor:
        cursor.execute(_sql(template), {**params, "ws": _ids_param(ws), "lic": _ids_param(lic)})
        return list(cursor.fetchall())


def evaluate(work_ids: Iterable[int], use: str, territory: str, at: datetime | None = None, *,
             licensee_ids: Iterable[int] | None = None, as_of_size: int | None = None) -> Evaluation:
    """Verdict for each work: may it be used for `use` in `territory` at `at`, as known at ledger size N?

    `licensee_ids`: whose licenses count (default: the operator organization's; a client job passes the
    operator and the client). `as_of_size`: only what the ledger held at that size (default: everything).
    """
    try:
        use_value = Use(use)
    except ValueError:
        raise DomainError("unknown_use", f"Unknown use {use!r}.", details={"uses": [u.value for u in Use]}) from None
    try:
        territory_code = normalize_territory(territory)
    except ValueError as exc:
        raise DomainError("invalid_territory", str(exc)) from None
    if territory_code == "WORLD":
        raise DomainError("invalid_territory", "Evaluate for one territory (an ISO 3166-1 alpha-2 code), not WORLD.")
    moment = at or timezone.now()
    if timezone.is_naive(moment):
        raise DomainError("naive_time", "The evaluation time needs a time zone.")
    ids = sorted({int(w) for w in work_ids})
    evaluation = Evaluation(use=use_value.value, territory=territory_code, at=moment, as_of_size=as_of_size)
    if not ids:
        return evaluation
    params = {
        "at": connection.ops.adapt_datetimefield_value(moment),
        "use_bit": USE_BITS[use_value],
        "block": blocking_mask(use_value),
        "territory": f"%|{territory_code}|%",
        "size": as_of_size if as_of_size is not None else 2**62,
    }
    licensees = _licensee_ids(licensee_ids)
    denied: list[int] = []
    verdicts = evaluation.verdicts
    for work_id, rank, license_id, opted_out, rights_status in _run(_SUMMARY, params, ids, licensees):
        if rank == 0 and not opted_out:
            verdicts[work_id] = Verdict(work_id, True, (), (license_id,))
        else:
            denied.append(work_id)
            verdicts[work_id] = Verdict(work_id, False, _reasons(rank, bool(opted_out), rights_status))
    if denied:
        _add_details(evaluation, denied, params, licensees)
    return evaluation


def _reasons(rank: int, opted_out: bool, rights_status: str | None) -> tuple[str, ...]:
    reasons = [OPTED_OUT] if opted_out else []
    if rank == _UNKNOWN_RANK:
        return (UNKNOWN_WORK,)
    if rank == _NO_LICENSE_RANK:
        reasons.append(NO_LICENSE)
        if rights_status == "reserved":
            reasons.append(RIGHTS_RESERVED)
    elif rank != 0:
        reasons.append(_STATUS[rank])
    return tuple(reasons)


def _add_details(evaluation: Evaluation, denied: list[int], params: dict[str, Any], licensees: list[int]) -> None:
    """For denied works: every license considered (with every reason it fails) and every blocking opt-out."""
    licenses: dict[int, list[int]] = {}
    optouts: dict[int, list[int]] = {}
    statuses: dict[int, set[str]] = {}
    for work_id, kind, ref, status in _run(_DETAILS, params, denied, licensees):
        if kind == "l":
            licenses.setdefault(work_id, []).append(ref)
            if status:
                statuses.setdefault(work_id, set()).add(_STATUS[status])
        else:
            optouts.setdefault(work_id, []).append(ref)
    for work_id in denied:
        verdict = evaluation.verdicts[work_id]
        reasons = list(verdict.reasons)
        # Every license that failed, for whatever reason, is reported (the summary kept only the closest).
        for reason in sorted(statuses.get(work_id, ()), key=lambda r: list(_STATUS.values()).index(r)):
            if reason not in reasons:
                reasons.append(reason)
        evaluation.verdicts[work_id] = Verdict(work_id, False, tuple(reasons), tuple(licenses.get(work_id, ())),
                                               tuple(optouts.get(work_id, ())))
