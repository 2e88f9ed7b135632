"""Which works each opt-out names: the opt-out match index, written when either side is written.

An opt-out names works through its subject: the work itself, a party (the works it holds or is credited on),
a creator name, an ISCC code of an asset, an identifier. Rights evaluation used to resolve all eight of those
paths for every work it was asked about (ten index probes per work, 2.4 s of a 1M-work evaluation); the
matches change only when an opt-out is registered or a work's catalog record is written, so they are resolved
then, set-based, and evaluation reads one narrow row per match instead.

A match row copies the opt-out's immutable columns (reserved uses, effective time, constraint, ledger index),
so evaluation decides "in force and blocking" without reading the opt-out. Whether it was withdrawn is still
read from the withdrawals (a separate, append-only fact). Matches are derived data, like a work's credits:
a work update replaces its matches, and the index is rebuilt from the catalog and the opt-outs by
`record_matches()` with no arguments (the migration that created it does so).

Only actions call these, inside the transaction that writes the opt-outs or the works.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from django.db import connection

# (work, opt-out) pairs by kind of subject; {o} restricts the opt-outs, {w} the works (each "TRUE" or a
# membership test on the ids bound as %(ids)s).
_PAIRS = """
SELECT o.id AS optout_id, o.subject_work_id AS work_id FROM licensing_optout o
    WHERE o.subject_kind = 'work' AND {o} AND {w:o.subject_work_id}
UNION
SELECT o.id, w.id FROM licensing_optout o JOIN licensing_work w ON w.rights_holder_id = o.subject_party_id
    WHERE o.subject_kind = 'party' AND {o} AND {w:w.id}
UNION
SELECT o.id, c.work_id FROM licensing_optout o JOIN licensing_workcreator c ON c.party_id = o.subject_party_id
    WHERE o.subject_kind = 'party' AND {o} AND {w:c.work_id}
UNION
SELECT o.id, c.work_id FROM licensing_optout o JOIN licensing_workcreator c ON c.name_normalized = o.subject_value
    WHERE o.subject_kind = 'creator_name' AND {o} AND {w:c.work_id}
UNION
SELECT o.id, w.id FROM licensing_optout o JOIN licensing_work w ON w.iscc_code = o.subject_value
    WHERE o.subject_kind = 'iscc' AND o.subject_value <> '' AND {o} AND {w:w.id}
UNION
SELECT o.id, w.id FROM licensing_optout o JOIN licensing_work w ON w.iscc_data = o.subject_value
    WHERE o.subject_kind = 'iscc' AND o.subject_value <> '' AND {o} AND {w:w.id}
UNION
SELECT o.id, w.id FROM licensing_optout o JOIN licensing_work w ON w.iscc_instance = o.subject_value
    WHERE o.subject_kind = 'iscc' AND o.subject_value <> '' AND {o} AND {w:w.id}
UNION
SELECT o.id, i.work_id FROM licensing_optout o
    JOIN licensing_workidentifier i ON i.scheme = {scheme} AND i.value = {value}
    WHERE o.subject_kind = 'identifier' AND {o} AND {w:i.work_id}
"""

_INSERT = """
INSERT INTO licensing_optoutmatch (work_id, optout_id, reserved_mask, effective_from, "constraint", ledger_index)
SELECT m.work_id, o.id, o.reserved_mask, o.effective_from, o."constraint", o.ledger_index
FROM ({pairs}) m JOIN licensing_optout o ON o.id = m.optout_id
"""


def _member(column: str) -> str:
    """`column` is one of the ids bound as %(ids)s (an array on PostgreSQL, a JSON list on SQLite)."""
    if connection.vendor == "postgresql":
        return f"{column} = ANY(%(ids)s::bigint[])"
    return f"{column} IN (SELECT CAST(value AS INTEGER) FROM json_each(%(ids)s))"  # noqa: S608 (constant names)


def _pairs(by: str) -> str:
    """The (opt-out, work) pairs of the opt-outs (`by="optout"`), of the works (`"work"`) or of all (`""`)."""
    pairs = _PAIRS.replace("{o}", _member("o.id") if by == "optout" else "TRUE")
    for column in ("o.subject_work_id", "w.id", "c.work_id", "i.work_id"):
        pairs = pairs.replace("{w:" + column + "}", _member(column) if by == "work" else "TRUE")
    # An identifier subject is "scheme:value" with no ':' in the scheme: split it so the (scheme, value)
    # index finds the works.
    if connection.vendor == "postgresql":
        scheme = "split_part(o.subject_value, ':', 1)"
        value = "substr(o.subject_value, strpos(o.subject_value, ':') + 1)"
    else:
        scheme, value = ("substr(o.subject_value, 1, instr(o.subject_value, ':') - 1)",
                         "substr(o.subject_value, instr(o.subject_value, ':') + 1)")
    return pairs.replace("{scheme}", scheme).replace("{value}", value).strip()


def _statement(by: str) -> str:
    """The INSERT for the matches `_pairs(by)` names."""
    return _INSERT.replace("{pairs}", _pairs(by))


def _ids(ids: Sequence[int]) -> Any:
    return list(ids) if connection.vendor == "postgresql" else json.dumps(list(ids))


def record_matches(*, optout_ids: Sequence[int] | None = None, work_ids: Sequence[int] | None = None) -> int:
    """Insert the matches of newly registered opt-outs (against every work), or of newly written works (against
    every opt-out; call `forget_matches` first for works that had matches), or with neither argument, of
    everything (rebuilding an empty index). Returns the number of matches written."""
    if optout_ids is not None and work_ids is not None:
        raise ValueError("record_matches takes opt-out ids or work ids, not both")
    by, ids = ("optout", optout_ids) if optout_ids is not None else ("work", work_ids) if work_ids is not None \
        else ("", None)
    if ids is not None and not ids:
        return 0
    with connection.cursor() as cursor:
        cursor.execute(_statement(by), {"ids": _ids(ids)} if ids is not None else None)
        return max(cursor.rowcount, 0)


def compare_matches() -> tuple[set[tuple[int, int]], set[tuple[int, int]]]:
    """(missing, extra): the (work, opt-out) pairs the catalog and the opt-outs imply that the index lacks, and
    the pairs it holds that they do not imply. Both empty when the index is right."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT work_id, optout_id FROM ({_pairs('')}) p")  # noqa: S608 (constant text)
        implied = {(int(w), int(o)) for w, o in cursor.fetchall()}
        cursor.execute("SELECT work_id, optout_id FROM licensing_optoutmatch")
        stored = {(int(w), int(o)) for w, o in cursor.fetchall()}
    return implied - stored, stored - implied


def rebuild_matches() -> int:
    """Replace the whole index by the matches the catalog and the opt-outs imply (call inside a transaction)."""
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM licensing_optoutmatch")
    return record_matches()


def forget_matches(work_ids: Sequence[int]) -> None:
    """Delete the matches of works whose catalog record is being rewritten (re-matched by `record_matches`)."""
    if not work_ids:
        return
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM licensing_optoutmatch WHERE {_member('work_id')}",  # noqa: S608 (constant)
                       {"ids": _ids(work_ids)})
