"""Rights evaluation: may work W be used for use U, in territory T, at time t, as known at ledger size N?

One function, `evaluate`, answers it for any number of works with set-based SQL statements (one for every
work, one more for the details of the denied ones), never a Python loop per work; for most of a catalog at
once (PostgreSQL), `licensing.rights_columnar` computes the same answer with the per-work reduction on numpy
columns. It reads:

- licenses held by the licensees asked about (by default the platform operator), whose scope covers the work
  (listed works, all works of the rights holder, or the work's collection), checked for revocation, validity
  period, permitted use and territory (included and not excluded);
- opt-outs in force at `at` (effective, not withdrawn) whose subject matches the work (the work, its rights
  holder or a credited party, an ISCC code of its asset, an identifier, a creator name) and whose reserved
  uses block `use`. Any disallow wins over any allow. A "constrained" opt-out counts as not allowed unless
  its constraint names (by document reference) a license that allows the work. Which works a subject names
  is resolved when the opt-out or the work is written (licensing.optout_matches), against the work's
  current catalog record.

Two clocks: `at` is valid time (license dates, revocation and withdrawal effective times), `as_of_size` is
transaction time: only rows whose ledger entry index is below it count, so an audit can ask what we knew
when a job ran (the ledger size recorded with the job's gate decision).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from itertools import pairwise
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


# Work id -> (licenses considered, blocking opt-outs), for denied works.
_Details = dict[int, tuple[tuple[int, ...], tuple[int, ...]]]


@dataclass(frozen=True)
class _Group:
    """Works that share one outcome (allowed, or the same reason codes), with ids ascending.

    `license_ids` runs parallel to `work_ids` for allowed works (the lowest-id license that allows each)."""

    allowed: bool
    reasons: tuple[str, ...]
    work_ids: list[int]
    license_ids: list[int] | None = None


class _Verdicts(Mapping[int, Verdict]):
    """Per-work verdicts, built on access from the grouped answer (a million works cost a million objects
    only when every one of them is looked at). Iterates in ascending work id."""

    def __init__(self, evaluation: Evaluation) -> None:
        self._evaluation = evaluation
        self._where: dict[int, tuple[int, int]] | None = None

    def _index(self) -> dict[int, tuple[int, int]]:
        if self._where is None:
            self._where = {w: (g, i) for g, group in enumerate(self._evaluation.groups)
                           for i, w in enumerate(group.work_ids)}
        return self._where

    def __getitem__(self, work_id: int) -> Verdict:
        g, i = self._index()[work_id]
        group = self._evaluation.groups[g]
        if group.allowed:
            return Verdict(work_id, True, (), (group.license_ids[i],) if group.license_ids else ())
        return self._evaluation.denied_verdict(work_id, group.reasons)

    def __iter__(self) -> Iterator[int]:
        return iter(sorted(self._index()))

    def __len__(self) -> int:
        return sum(len(group.work_ids) for group in self._evaluation.groups)

    def __contains__(self, work_id: object) -> bool:
        return work_id in self._index()


@dataclass
class Evaluation:
    """Verdicts for a set of works, with the question that was asked.

    The answer arrives grouped by outcome (one group of allowed works, one per combination of reason codes);
    the licenses and opt-outs behind the denied verdicts are read on first access to one of them, in one
    statement for every denied work, pinned to the ledger size the evaluation ran at, so they answer the
    same question even if the ledger has grown since."""

    use: str
    territory: str
    at: datetime
    as_of_size: int | None
    groups: list[_Group] = field(default_factory=list)
    size: int = 0  # the ledger size the answer is pinned to (as_of_size, or the size when it ran)
    _details: Callable[[list[int]], _Details] | None = field(default=None, repr=False)
    _loaded: _Details | None = field(default=None, repr=False)

    @cached_property
    def verdicts(self) -> Mapping[int, Verdict]:
        """Work id -> Verdict, for every work asked about (its index is built once, on first lookup)."""
        return _Verdicts(self)

    def allowed_ids(self) -> list[int]:
        """Works that may be used, ascending."""
        ids = [w for group in self.groups if group.allowed for w in group.work_ids]
        return ids if sum(group.allowed for group in self.groups) <= 1 else sorted(ids)

    def denied_ids(self) -> list[int]:
        """Works that may not be used, ascending (no details are read)."""
        return sorted(w for group in self.groups if not group.allowed for w in group.work_ids)

    def denied(self) -> list[Verdict]:
        """Verdicts of works that may not be used, with the licenses and opt-outs behind them, ascending."""
        reasons = {w: group.reasons for group in self.groups if not group.allowed for w in group.work_ids}
        return [self.denied_verdict(w, reasons[w]) for w in sorted(reasons)]

    def reason_counts(self) -> dict[str, int]:
        """How many works each reason code applies to."""
        counts: dict[str, int] = {}
        for group in self.groups:
            for reason in group.reasons:
                counts[reason] = counts.get(reason, 0) + len(group.work_ids)
        return dict(sorted(counts.items()))

    def denied_verdict(self, work_id: int, reasons: tuple[str, ...]) -> Verdict:
        """The full verdict of a denied work (reads the details of every denied work on first use)."""
        if reasons == (UNKNOWN_WORK,):
            return Verdict(work_id, False, reasons)
        if self._loaded is None:
            self._loaded = self._details(self.denied_ids()) if self._details else {}
        licenses, optouts = self._loaded.get(work_id, ((), ()))
        return Verdict(work_id, False, reasons, licenses, optouts)


def _ids_cte(name: str) -> str:
    """A CTE turning the array parameter `name` into rows: unnest on PostgreSQL, json_each on SQLite."""
    if connection.vendor == "postgresql":
        return f"{name}(id) AS (SELECT unnest(%({name})s::bigint[]))"
    return f"{name}(id) AS (SELECT CAST(value AS INTEGER) FROM json_each(%({name})s))"  # noqa: S608 (constant name)


def _ids_param(ids: Sequence[int]) -> str:
    """The ids as one array literal: PostgreSQL's text form of bigint[] (cast in the statement), or JSON for
    SQLite. Built with one join: psycopg's list adaptation inspects every element (0.6 ms per 1,000 ids)."""
    if connection.vendor == "postgresql":
        return "{" + ",".join(map(str, ids)) + "}"
    return json.dumps(list(ids))


# A license's status rank (see _STATUS) for the question asked; `l` is the license, `rv` its revocation in force.
_LICENSE_STATUS = """CASE
            WHEN rv.id IS NOT NULL THEN 5
            WHEN l.valid_from > %(at)s THEN 4
            WHEN l.valid_until IS NOT NULL AND l.valid_until <= %(at)s THEN 3
            WHEN (l.uses_mask & %(use_bit)s) = 0 THEN 2
            WHEN l.excluded_territories LIKE %(territory)s
                 OR NOT (l.territories LIKE '%%|WORLD|%%' OR l.territories LIKE %(territory)s) THEN 1
            ELSE 0
        END"""
_REVOCATION = """LEFT JOIN licensing_licenserevocation rv
        ON rv.license_id = l.id AND rv.ledger_index < %(size)s AND rv.effective_at <= %(at)s"""

# `cov`: the licenses covering each work (listed works, all works of the rights holder, the work's collection),
# with their status. Two forms of the same answer:
# - large sets: every license of the licensees asked about gets its status once (`ls`: 100k licenses, instead
#   of evaluating dates, uses and territory patterns once per work), then hash and merge joins over whole
#   tables map works to them;
# - small sets (PostgreSQL, a generic prepared plan that cannot know how many ids it gets): a LATERAL subquery
#   per work, so every lookup is an index probe for that work rather than a scan of every license link
#   (100k links: 31 ms of a 1,000-work evaluation). The work itself is read for party- and collection-scoped
#   licenses only when there are any (`sc`, evaluated once): at 1M works that probe cost 6 us per work.
# `ls`: every license of the licensees asked about with its status, once per evaluation (large sets and
# licensing.rights_columnar).
_LICENSE_STATUSES = """ls AS MATERIALIZED (
    SELECT l.id, l.scope, l.scope_party_id, l.scope_collection_id, {status} AS status
    FROM licensing_license l
    {revocation}
    WHERE l.ledger_index < %(size)s AND l.licensee_id IN (SELECT id FROM lic)
)"""

_COVERAGE = {
    "large": """
{statuses},
cov AS (
    SELECT lw.work_id, ls.id AS license_id, ls.status
    FROM ws JOIN licensing_licensework lw ON lw.work_id = ws.id JOIN ls ON ls.id = lw.license_id
    WHERE lw.ledger_index < %(size)s
    UNION ALL
    SELECT w.id, ls.id, ls.status
    FROM ls JOIN licensing_work w ON w.rights_holder_id = ls.scope_party_id JOIN ws ON ws.id = w.id
    WHERE ls.scope = 'party' AND w.ledger_index < %(size)s
    UNION ALL
    SELECT w.id, ls.id, ls.status
    FROM ls JOIN licensing_work w ON w.collection_id = ls.scope_collection_id JOIN ws ON ws.id = w.id
    WHERE ls.scope = 'collection' AND w.ledger_index < %(size)s
)""",
    "small": """
sc AS (SELECT EXISTS (SELECT 1 FROM licensing_license WHERE scope <> 'works') AS scoped),
cov AS (
    SELECT l.work_id, l.id AS license_id, l.document_ref, {status} AS status
    FROM (
        SELECT ws.id AS work_id, x.* FROM ws CROSS JOIN LATERAL (
            SELECT {columns} FROM licensing_licensework lw JOIN licensing_license l ON l.id = lw.license_id
            WHERE lw.work_id = ws.id AND lw.ledger_index < %(size)s
            UNION ALL
            SELECT {columns} FROM licensing_work w
            JOIN licensing_license l ON l.scope = 'party' AND l.scope_party_id = w.rights_holder_id
            WHERE w.id = ws.id AND w.ledger_index < %(size)s AND (SELECT scoped FROM sc)
            UNION ALL
            SELECT {columns} FROM licensing_work w
            JOIN licensing_license l ON l.scope = 'collection' AND l.scope_collection_id = w.collection_id
            WHERE w.id = ws.id AND w.ledger_index < %(size)s AND (SELECT scoped FROM sc)
            OFFSET 0
        ) x
    ) l
    {revocation}
    WHERE l.ledger_index < %(size)s AND l.licensee_id IN (SELECT id FROM lic)
)""",
}

_LICENSE_COLUMNS = ("l.id, l.document_ref, l.valid_from, l.valid_until, l.uses_mask, l.territories, "
                    "l.excluded_territories, l.licensee_id, l.ledger_index")

# Opt-outs in force that block the use, through the match index (licensing.optout_matches: which works each
# opt-out's subject names, resolved when the opt-out or the work was written): one probe per work.
_HIT = """hit AS (
    SELECT m.work_id, m.optout_id, m."constraint" AS cons
    FROM {matches} m
    WHERE m.ledger_index < %(size)s AND m.effective_from <= %(at)s AND (m.reserved_mask & %(block)s) != 0
      AND NOT EXISTS (SELECT 1 FROM licensing_optoutwithdrawal ow
                      WHERE ow.optout_id = m.optout_id AND ow.ledger_index < %(size)s AND ow.effective_at <= %(at)s)
)"""
_HITS = _HIT + """,
{ok_doc_and_blocked}"""

_MATCHES = {
    "large": "(SELECT m.* FROM ws JOIN licensing_optoutmatch m ON m.work_id = ws.id)",
    "small": """(SELECT x.* FROM ws CROSS JOIN LATERAL (
        SELECT m.* FROM licensing_optoutmatch m WHERE m.work_id = ws.id OFFSET 0) x)""",
}

# A constrained opt-out yields to an allowing license whose document it names: the document references of the
# allowing licenses, read only for works with a constrained hit (rare), so `cov` stays narrow for large sets.
_OK_DOC = {
    "large": """ok_doc AS (
    SELECT DISTINCT cov.work_id, l.document_ref FROM cov JOIN licensing_license l ON l.id = cov.license_id
    WHERE cov.status = 0 AND l.document_ref <> '' AND cov.work_id IN (SELECT work_id FROM hit WHERE cons <> '')
),""",
    "small": """ok_doc AS (
    SELECT DISTINCT work_id, document_ref FROM cov
    WHERE status = 0 AND document_ref <> '' AND work_id IN (SELECT work_id FROM hit WHERE cons <> '')
),""",
}

_BLOCKED = """{ok_doc}
blocked AS (
    SELECT hit.work_id, hit.optout_id FROM hit
    LEFT JOIN ok_doc ON ok_doc.work_id = hit.work_id AND ok_doc.document_ref = hit.cons
    WHERE hit.cons = '' OR ok_doc.work_id IS NULL
)"""

# One row per work: rank (0 allows, else the closest failing status, no license or unknown work), the
# allowing license, a bitmask of every status seen among its licenses, opted out, rights reserved in-band.
_SUMMARY = """
WITH {ws}, {lic}, {coverage}, {hits},
best AS (
    SELECT work_id, MIN(status) AS status, MIN(CASE WHEN status = 0 THEN license_id END) AS license_id,
        {mask} AS mask{best_extra}
    FROM cov GROUP BY work_id
),
out AS ({out}),
v AS (
    SELECT ws.id,
        CASE WHEN best.work_id IS NOT NULL THEN best.status
             WHEN EXISTS (SELECT 1 FROM licensing_work w WHERE w.id = ws.id AND w.ledger_index < %(size)s)
             THEN {no_license} ELSE {unknown} END AS rank,
        best.license_id, COALESCE(best.mask, 0) AS mask, out.work_id IS NOT NULL AS opted,
        CASE WHEN best.work_id IS NULL THEN EXISTS (
            SELECT 1 FROM licensing_work w WHERE w.id = ws.id AND w.rights_status = 'reserved') ELSE FALSE
        END AS reserved{v_extra}
    FROM ws
    LEFT JOIN best ON best.work_id = ws.id
    LEFT JOIN out ON out.work_id = ws.id
)
{select}
"""
# Three shapes of the answer. "grouped" (PostgreSQL, large sets): one row per outcome with its work ids as one
# array, so a million works arrive as a handful of rows; the details of denied works are read on first use.
# "complete" (PostgreSQL, small sets): a row per work with the licenses considered and the blocking opt-outs,
# so one prepared statement answers everything. "per_work" (SQLite): a row per work, details on first use.
_SHAPES = {
    "grouped": {"best_extra": "", "out": "SELECT DISTINCT work_id FROM blocked", "v_extra": "", "select": """
SELECT rank, mask, opted, reserved, array_agg(id),
    CASE WHEN rank = 0 AND NOT opted THEN array_agg(license_id) END
FROM v GROUP BY rank, mask, opted, reserved"""},
    "complete": {"best_extra": ", array_agg(DISTINCT license_id ORDER BY license_id) AS licenses",
                 "out": "SELECT work_id, array_agg(DISTINCT optout_id ORDER BY optout_id) AS optouts "
                        "FROM blocked GROUP BY work_id",
                 "v_extra": ", best.licenses, out.optouts",
                 "select": "SELECT rank, mask, opted, reserved, id, license_id, licenses, optouts FROM v"},
    "per_work": {"best_extra": "", "out": "SELECT DISTINCT work_id FROM blocked", "v_extra": "",
                 "select": "SELECT rank, mask, opted, reserved, id, license_id, NULL, NULL FROM v"},
}


def _summary(shape: str) -> str:
    text = _SUMMARY
    for name, value in _SHAPES[shape].items():
        text = text.replace("{" + name + "}", value)
    return text


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


def _sql(template: str, *, small: bool = False) -> str:
    size = "small" if small else "large"
    hits = (_HITS.strip().replace("{ok_doc_and_blocked}", _BLOCKED.strip()).replace("{matches}", _MATCHES[size])
            .replace("{ok_doc}", _OK_DOC[size]))
    coverage = (_COVERAGE[size].strip().replace("{statuses}", _LICENSE_STATUSES).replace("{status}", _LICENSE_STATUS)
                .replace("{revocation}", _REVOCATION).replace("{columns}", _LICENSE_COLUMNS))
    return template.format(ws=_ids_cte("ws"), lic=_ids_cte("lic"), coverage=coverage, hits=hits,
                           unknown=_UNKNOWN_RANK, no_license=_NO_LICENSE_RANK, mask=_mask())


def _mask() -> str:
    """Bit 1 << status set for every failing status among a work's licenses (one aggregate on PostgreSQL;
    SQLite has no bitwise aggregate)."""
    if connection.vendor == "postgresql":
        return "bit_or((1 << status) & 62)"
    return ("MAX(CASE WHEN status = 1 THEN 2 ELSE 0 END) + MAX(CASE WHEN status = 2 THEN 4 ELSE 0 END)"
            " + MAX(CASE WHEN status = 3 THEN 8 ELSE 0 END) + MAX(CASE WHEN status = 4 THEN 16 ELSE 0 END)"
            " + MAX(CASE WHEN status = 5 THEN 32 ELSE 0 END)")


# Work sets up to this size run as a server-side prepared statement on PostgreSQL: the statement is planned
# once per connection (planning these CTEs costs ~5-8 ms, more than executing them for a thousand works),
# and a generic plan drives the joins from the work ids through the indexes. Larger sets are planned per
# call, with the array's real size, so they get hash joins.
PREPARED_MAX = 20_000


def _run(template: str, params: dict[str, Any], ws: Sequence[int], lic: Sequence[int]) -> list[tuple[Any, ...]]:
    """Execute one statement with the work ids and licensee ids bound as arrays."""
    bound = {**params, "ws": _ids_param(ws), "lic": _ids_param(lic)}
    if connection.vendor == "postgresql" and len(ws) <= PREPARED_MAX:
        import psycopg

        connection.ensure_connection()
        with psycopg.Cursor(connection.connection) as raw:
            raw.execute(_sql(template, small=True), bound, prepare=True)
            return list(raw.fetchall())
    with connection.cursor() as cursor:
        cursor.execute(_sql(template), bound)
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
    ids = _unique_ids(work_ids)
    evaluation = Evaluation(use=use_value.value, territory=territory_code, at=moment, as_of_size=as_of_size)
    if not ids:
        return evaluation
    licensees = _licensee_ids(licensee_ids)
    if as_of_size is None:  # pin what "everything" means, so details read later answer the same question
        from licensing.ledger import current_head

        evaluation.size = current_head()[0]
    else:
        evaluation.size = as_of_size
    params: dict[str, Any] = {
        "at": connection.ops.adapt_datetimefield_value(moment),
        "use_bit": USE_BITS[use_value],
        "block": blocking_mask(use_value),
        "territory": f"%|{territory_code}|%",
        "size": evaluation.size,
    }
    if connection.vendor != "postgresql":
        shape = "per_work"
    elif len(ids) <= PREPARED_MAX:
        shape = "complete"
    else:
        shape = "columnar" if _columnar(len(ids)) else "grouped"
    groups: dict[tuple[int, int, bool, bool], _Group] = {}
    details: _Details = {}
    rows: Iterable[tuple[Any, ...]]
    if shape == "columnar":  # outcome groups, ids already ascending
        import numpy as np

        from licensing.rights_columnar import evaluate_columns

        rows = [(*key, work_ids, license_ids, None, None) for key, work_ids, license_ids in evaluate_columns(
            np.asarray(ids, dtype=np.int64), params, licensees, sql=_columnar_sql(), no_license=_NO_LICENSE_RANK,
            unknown=_UNKNOWN_RANK)]
    elif shape == "grouped":
        rows = ((*row, None, None) for row in _run(_summary(shape), params, ids, licensees))
    else:
        rows = _run(_summary(shape), params, ids, licensees)
    row_ids: Any
    row_license: Any
    for rank, mask, opted, reserved, row_ids, row_license, licenses, optouts in rows:
        key = (rank, mask, bool(opted), bool(reserved))
        group = groups.get(key)
        if group is None:
            allowed = rank == 0 and not opted
            group = groups[key] = _Group(allowed, () if allowed else _reasons(*key), [], [] if allowed else None)
        if shape in ("grouped", "columnar"):
            group.work_ids.extend(row_ids)
            if group.license_ids is not None:
                group.license_ids.extend(row_license)
            continue
        group.work_ids.append(int(row_ids))
        if group.license_ids is not None:
            group.license_ids.append(int(row_license))
        elif shape == "complete" and rank != _UNKNOWN_RANK:
            details[row_ids] = (tuple(licenses or ()), tuple(optouts or ()))
    if shape != "columnar":
        for group in groups.values():
            _ascending(group)
    evaluation.groups = sorted(groups.values(), key=lambda g: (not g.allowed, g.reasons))
    if shape == "complete":
        evaluation._loaded = details
    else:
        evaluation._details = lambda denied: _details(denied, params, licensees)
    return evaluation


# Sets of at least this fraction of the catalog are evaluated by licensing.rights_columnar: it reads every
# license link once instead of probing per requested work, and reduces per work with numpy.
COLUMNAR_FRACTION = 0.25


def _columnar(count: int) -> bool:
    return count >= COLUMNAR_FRACTION * _catalog_size()


def _catalog_size() -> float:
    """The planner's estimate of the number of license links (no count(*): it is read on every large call)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE oid = 'licensing_licensework'::regclass")
        row = cursor.fetchone()
    return max(float(row[0]) if row else 0.0, 0.0)


def _columnar_sql() -> str:
    from licensing.rights_columnar import _STATEMENT

    return (_STATEMENT.replace("{statuses}", _LICENSE_STATUSES).replace("{status}", _LICENSE_STATUS)
            .replace("{revocation}", _REVOCATION).replace("{hit}", _HIT.replace("{matches}", "licensing_optoutmatch")))


def _unique_ids(work_ids: Iterable[int]) -> list[int]:
    """The work ids asked about, ascending and once each (vectorized for large lists of ints)."""
    if isinstance(work_ids, Sequence) and len(work_ids) > PREPARED_MAX and isinstance(work_ids[0], int):
        import numpy as np

        values = np.asarray(work_ids)
        if values.dtype.kind in "iu" and values.ndim == 1:
            values = np.sort(values)  # (np.unique hashes, several times slower on a million ints)
            ordered: list[int] = values[np.concatenate(([True], values[1:] != values[:-1]))].tolist()
            return ordered
    return sorted({int(w) for w in work_ids})


def _ascending(group: _Group) -> None:
    """Put a group's work ids (and the parallel license ids) in ascending order. The database returns them
    unordered: sorting a million ids inside the statement cost more than half a second, while here they
    mostly arrive in the order they were sent, which is checked in one vectorized pass."""
    ids = group.work_ids
    if len(ids) < 4096:
        if any(a > b for a, b in pairwise(ids)):
            order = sorted(range(len(ids)), key=ids.__getitem__)
            group.work_ids[:] = [ids[i] for i in order]
            if group.license_ids is not None:
                group.license_ids[:] = [group.license_ids[i] for i in order]
        return
    import numpy as np  # only for large sets (an evaluation of many works; not in the API's usual path)

    values = np.fromiter(ids, dtype=np.int64, count=len(ids))
    if bool((values[1:] > values[:-1]).all()):
        return
    order = np.argsort(values, kind="stable")
    group.work_ids[:] = values[order].tolist()
    if group.license_ids is not None:
        group.license_ids[:] = np.asarray(group.license_ids, dtype=np.int64)[order].tolist()


def _reasons(rank: int, mask: int, opted_out: bool, reserved: bool) -> tuple[str, ...]:
    """Reason codes of a denied work: opted out first, then the closest failing status, then every other
    status any of its licenses failed with."""
    if rank == _UNKNOWN_RANK:
        return (UNKNOWN_WORK,)
    reasons = [OPTED_OUT] if opted_out else []
    if rank == _NO_LICENSE_RANK:
        reasons.append(NO_LICENSE)
        if reserved:
            reasons.append(RIGHTS_RESERVED)
    elif rank != 0:
        reasons.append(_STATUS[rank])
    reasons.extend(reason for status, reason in _STATUS.items()
                   if status and mask & (1 << status) and reason not in reasons)
    return tuple(reasons)


def _details(denied: list[int], params: dict[str, Any],
             licensees: list[int]) -> _Details:
    """For denied works: every license considered and every blocking opt-out."""
    if connection.vendor == "postgresql" and len(denied) > PREPARED_MAX and _columnar(len(denied)):
        import numpy as np

        from licensing.rights_columnar import details_columns

        return details_columns(np.asarray(denied, dtype=np.int64), params, licensees, sql=_columnar_sql())
    licenses: dict[int, list[int]] = {}
    optouts: dict[int, list[int]] = {}
    for work_id, kind, ref, _status in _run(_DETAILS, params, denied, licensees):
        (licenses if kind == "l" else optouts).setdefault(work_id, []).append(ref)
    return {w: (tuple(dict.fromkeys(licenses.get(w, ()))), tuple(dict.fromkeys(optouts.get(w, ()))))
            for w in {*licenses, *optouts}}
