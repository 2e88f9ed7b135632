"""Rights evaluation of most of a catalog at once (PostgreSQL): the same answer as `licensing.rights`' SQL
shapes, with the per-work reduction done on columns instead of rows.

Past a few hundred thousand works the row-at-a-time executor is the cost, not the data: joining a million
requested ids to a million license links, aggregating per work and grouping the answer took 4-5 s on two
cores, and moving a million ids in and out as text arrays another second. Here one statement computes, set-
based, what depends on the question:

- every license's status for the use, territory, time and ledger size asked (the `ls` of the SQL shapes:
  revocation, validity, use, territory), for the licensees asked about;
- the license links and the works that party- and collection-scoped licenses cover, as known at that size;
- the opt-outs in force that block the use (the match index, withdrawals, effective times);

and returns them as binary arrays (a million ids in ~8 MB, decoded by numpy without a Python object per id).
numpy then does the per-work reduction: a work's rank is its best license status, its mask every failing
status among its licenses, its allowing license the lowest-id license with status 0, opted out if a blocking
opt-out names it (a constrained one yields to an allowing license whose document it names). Works no license
covers (usually few) are looked up in a second statement: registered by then (no license) or not (unknown),
rights reserved in-band. `tests/licensing/test_rights.py` holds every shape to the same answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from typing import TYPE_CHECKING, Any

import numpy as np
import psycopg
from psycopg.adapt import Dumper, Loader
from psycopg.pq import Format

if TYPE_CHECKING:
    from numpy.typing import NDArray

    Ids = NDArray[np.int64]

_INT8_ARRAY_OID = 1016
_INT4_ARRAY_OID = 1007


class _Int8ArrayLoader(Loader):
    """bigint[] in binary format -> int64 ndarray (one-dimensional, no NULLs: what array_agg of a NOT NULL
    column returns; NULL, the aggregate of no rows, is handled by the caller)."""

    format = Format.BINARY
    item = np.dtype([("length", ">i4"), ("value", ">i8")])

    def load(self, data: Any) -> Any:
        raw = bytes(data)
        ndim, has_nulls = np.frombuffer(raw, ">i4", count=2)
        if ndim == 0:
            return np.empty(0, np.int64)
        if ndim != 1 or has_nulls:
            raise ValueError("expected a one-dimensional array without NULLs")
        count = int(np.frombuffer(raw, ">i4", count=1, offset=12)[0])
        return np.frombuffer(raw, self.item, count=count, offset=20)["value"].astype(np.int64)


class _Int4ArrayLoader(_Int8ArrayLoader):
    item = np.dtype([("length", ">i4"), ("value", ">i4")])


class _Int8ArrayDumper(Dumper):
    """int64 ndarray -> bigint[] in binary format."""

    format = Format.BINARY
    oid = _INT8_ARRAY_OID

    def dump(self, obj: Any) -> bytes:
        values = np.asarray(obj, dtype=np.int64)
        body = np.empty(len(values), _Int8ArrayLoader.item)
        body["length"] = 8
        body["value"] = values
        header = np.array([1, 0, 20, len(values), 1], dtype=">i4")  # ndim, no NULLs, int8, length, lower bound
        return header.tobytes() + body.tobytes()


def _cursor(connection: Any) -> psycopg.Cursor[Any]:
    cursor: psycopg.Cursor[Any] = psycopg.Cursor(connection)  # server-side binding: binary results
    cursor.adapters.register_loader(_INT8_ARRAY_OID, _Int8ArrayLoader)
    cursor.adapters.register_loader(_INT4_ARRAY_OID, _Int4ArrayLoader)
    cursor.adapters.register_dumper(np.ndarray, _Int8ArrayDumper)
    return cursor


# One row of arrays (`{statuses}` and `{hit}` are licensing.rights' CTEs): license statuses; license links;
# works of scoped licenses; allowing licenses that carry a document reference; blocking opt-out hits, each
# flagged constrained or not, with the constraint texts.
_STATEMENT = """
WITH lic(id) AS (SELECT unnest(%(lic)s::bigint[])),
{statuses},
scoped AS (
    SELECT w.id AS work_id, ls.id AS license_id
    FROM ls JOIN licensing_work w ON w.rights_holder_id = ls.scope_party_id
    WHERE ls.scope = 'party' AND w.ledger_index < %(size)s
    UNION ALL
    SELECT w.id, ls.id
    FROM ls JOIN licensing_work w ON w.collection_id = ls.scope_collection_id
    WHERE ls.scope = 'collection' AND w.ledger_index < %(size)s
),
{hit}
SELECT s.*, k.*, c.*, d.*, h.* FROM
    (SELECT array_agg(id), array_agg(status) FROM ls) s,
    (SELECT array_agg(work_id), array_agg(license_id) FROM licensing_licensework
     WHERE ledger_index < %(size)s) k,
    (SELECT array_agg(work_id), array_agg(license_id) FROM scoped) c,
    (SELECT array_agg(l.id), array_agg(l.document_ref) FROM ls JOIN licensing_license l ON l.id = ls.id
     WHERE ls.status = 0 AND l.document_ref <> '') d,
    (SELECT array_agg(work_id), array_agg(optout_id), array_agg((cons <> '')::int),
            array_agg(cons) FILTER (WHERE cons <> '') FROM hit) h
"""

# Works no license covers: registered by the ledger size asked about, and rights reserved in-band.
_UNCOVERED = """
SELECT array_agg(w.id) FILTER (WHERE w.ledger_index < %(size)s),
       array_agg(w.id) FILTER (WHERE w.rights_status = 'reserved')
FROM licensing_work w WHERE w.id IN (SELECT unnest(%(ids)s::bigint[]))
"""

# Group key bits: rank (0-10) in bits 0-3, failing-status mask (bits 1-5 of it) in 4-9, opted out 10, reserved 11.
_RANK_BITS = 4


def _ints(value: Any) -> Ids:
    return np.empty(0, np.int64) if value is None else np.asarray(value, dtype=np.int64)


def _positions(sorted_ids: Ids, values: Ids) -> tuple[Ids, NDArray[np.bool_]]:
    """Index of each value in `sorted_ids` (ascending, unique), and whether it is there. Database ids are
    dense, so a lookup table indexed by id is the usual path (a gather instead of a binary search)."""
    if len(sorted_ids) == 0:
        return np.zeros(len(values), np.int64), np.zeros(len(values), bool)
    low, high = int(sorted_ids[0]), int(sorted_ids[-1])
    if low >= 0 and high <= 4 * len(sorted_ids) + 1_000_000:
        table = np.full(high + 2, -1, np.int64)
        table[sorted_ids] = np.arange(len(sorted_ids))
        where = table[np.clip(values, 0, high + 1)]
        present = where >= 0
        return np.where(present, where, 0), present
    where = np.minimum(np.searchsorted(sorted_ids, values), len(sorted_ids) - 1)
    return where, sorted_ids[where] == values


@dataclass
class _Columns:
    """What one statement says about the works asked about, by their index in `ids`."""

    pair_index: Ids  # coverage pairs: the work's index, the license, its status
    pair_license: Ids
    pair_status: Ids
    blocked_index: Ids  # blocking opt-outs: the work's index, the opt-out
    blocked_optout: Ids


def _read(cursor: psycopg.Cursor[Any], ids: Ids, sql: str, params: dict[str, Any], licensees: list[int]) -> _Columns:
    cursor.execute(sql, {**params, "lic": licensees}, binary=True)
    row = cursor.fetchone()
    assert row is not None  # aggregates without GROUP BY return one row
    (ls_id, ls_status, link_work, link_license, scoped_work, scoped_license, doc_license, doc_refs,
     hit_work, hit_optout, hit_is_constrained, hit_constraints) = row
    # License statuses, sorted by license id for lookups.
    ls_id = _ints(ls_id)
    order = np.argsort(ls_id)
    ls_id, ls_status = ls_id[order], _ints(ls_status)[order]
    # Coverage pairs (work, license) of the licenses asked about, for the works asked about.
    pair_work = np.concatenate([_ints(link_work), _ints(scoped_work)])
    pair_license = np.concatenate([_ints(link_license), _ints(scoped_license)])
    at_license, counted = _positions(ls_id, pair_license)
    at_work, asked = _positions(ids, pair_work)
    keep = counted & asked
    pair_index, pair_license, pair_status = at_work[keep], pair_license[keep], ls_status[at_license[keep]]
    # Opt-out hits on the works asked about. Unconstrained ones block; a constrained one unless an allowing
    # license of the work names its document (constraints and document references compared as codes).
    at_hit, hit_asked = _positions(ids, _ints(hit_work))
    hit_optout = _ints(hit_optout)
    blocks = hit_asked.copy()
    constraints = list(hit_constraints or ())
    if constraints:
        codes: dict[str, int] = {}
        hit_code = np.full(len(hit_optout), -1, np.int64)
        hit_code_values = np.array([codes.setdefault(c, len(codes)) for c in constraints], np.int64)
        # The aggregates of one query read the hits in the same order: the constraints belong to the flagged rows.
        hit_code[np.flatnonzero(_ints(hit_is_constrained))] = hit_code_values
        doc_ids = _ints(doc_license)
        doc_codes = np.array([codes.get(ref, -1) for ref in (doc_refs or ())], np.int64)
        order = np.argsort(doc_ids)
        allowing = pair_status == 0
        at_doc, has_doc = _positions(doc_ids[order], pair_license[allowing])
        named = np.where(has_doc, doc_codes[order][at_doc] if len(doc_ids) else -1, -1)
        width = len(codes) + 1
        ok_keys = pair_index[allowing][named >= 0] * width + named[named >= 0]
        constrained = hit_code >= 0
        yields = np.zeros(len(hit_optout), bool)
        yields[constrained] = np.isin(at_hit[constrained] * width + hit_code[constrained], ok_keys)
        blocks &= ~yields
    return _Columns(pair_index, pair_license, pair_status, at_hit[blocks], hit_optout[blocks])


def evaluate_columns(ids: Ids, params: dict[str, Any], licensees: list[int], *, sql: str, no_license: int,
                     unknown: int) -> list[tuple[tuple[int, int, bool, bool], list[int], list[int] | None]]:
    """Outcome groups of the sorted unique work `ids`: ((rank, mask, opted, reserved), work ids ascending,
    allowing license ids alongside or None), with the ranks and masks of `licensing.rights`.

    `sql` is `_STATEMENT` with the license statuses (`ls`) and opt-out hits (`hit`) of licensing.rights filled
    in: the rules live there."""
    from django.db import connection

    connection.ensure_connection()
    n = len(ids)
    with _cursor(connection.connection) as cursor:
        columns = _read(cursor, ids, sql, params, licensees)
        pair_index, pair_license, pair_status = columns.pair_index, columns.pair_license, columns.pair_status
        # Per work: best status, mask of failing statuses, lowest allowing license, opted out.
        covered = np.zeros(n, bool)
        covered[pair_index] = True
        rank = np.full(n, 99, np.int64)
        np.minimum.at(rank, pair_index, pair_status)
        mask = np.zeros(n, np.int64)
        for status in range(1, 6):
            mask[pair_index[pair_status == status]] |= 1 << status
        allowing = pair_status == 0
        best_license = np.full(n, np.iinfo(np.int64).max, np.int64)
        np.minimum.at(best_license, pair_index[allowing], pair_license[allowing])
        opted = np.zeros(n, bool)
        opted[columns.blocked_index] = True
        # Works without coverage: registered by then, rights reserved.
        reserved = np.zeros(n, bool)
        uncovered = ids[~covered]
        if len(uncovered):
            cursor.execute(_UNCOVERED, {"size": params["size"], "ids": uncovered}, binary=True)
            found = cursor.fetchone()
            assert found is not None
            registered, reserved_ids = _ints(found[0]), _ints(found[1])
            rank[~covered] = np.where(np.isin(uncovered, registered), no_license, unknown)
            where, present = _positions(ids, reserved_ids)
            reserved[where[present]] = True
    key = rank | (mask << _RANK_BITS) | (opted.astype(np.int64) << 10) | (reserved.astype(np.int64) << 11)
    order = np.argsort(key, kind="stable")  # ids are ascending, so each group's ids stay ascending
    ordered_key = key[order]
    bounds = [0, *(np.flatnonzero(ordered_key[1:] != ordered_key[:-1]) + 1).tolist(), n]
    groups = []
    for start, end in pairwise(bounds):
        value = int(ordered_key[start])
        group_key = (value & 15, (value >> _RANK_BITS) & 63, bool(value >> 10 & 1), bool(value >> 11 & 1))
        members = order[start:end]
        allowed = group_key[0] == 0 and not group_key[2]
        groups.append((group_key, ids[members].tolist(), best_license[members].tolist() if allowed else None))
    return groups


def details_columns(denied: Ids, params: dict[str, Any], licensees: list[int], *,
                    sql: str) -> dict[int, tuple[tuple[int, ...], tuple[int, ...]]]:
    """For the sorted unique `denied` work ids: every license considered and every blocking opt-out, both
    ascending (what `licensing.rights._details` reads row by row, for sets too large for that)."""
    from django.db import connection

    connection.ensure_connection()
    with _cursor(connection.connection) as cursor:
        columns = _read(cursor, denied, sql, params, licensees)
    licenses = _per_work(denied, columns.pair_index, columns.pair_license)
    optouts = _per_work(denied, columns.blocked_index, columns.blocked_optout)
    return {w: (licenses.get(w, ()), optouts.get(w, ())) for w in {*licenses, *optouts}}


def _per_work(ids: Ids, index: Ids, values: Ids) -> dict[int, tuple[int, ...]]:
    """Work id -> its distinct values ascending, from parallel (index into `ids`, value) arrays."""
    if len(index) == 0:
        return {}
    order = np.lexsort((values, index))
    index, values = index[order], values[order]
    distinct = np.ones(len(index), bool)
    distinct[1:] = (index[1:] != index[:-1]) | (values[1:] != values[:-1])
    index, values = index[distinct], values[distinct]
    starts = np.flatnonzero(np.concatenate(([True], index[1:] != index[:-1])))
    bounds = [*starts.tolist(), len(index)]
    flat = values.tolist()
    return {w: tuple(flat[a:b]) for w, (a, b) in zip(ids[index[starts]].tolist(), pairwise(bounds), strict=True)}
