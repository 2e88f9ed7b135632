"""State changes in licensing. Every one writes its ledger entry in the same transaction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from clearcue.context import request_id_var
from clearcue.exceptions import DomainError
from licensing import merkle
from licensing.canonical import CanonicalJSONError, canonical_bytes
from licensing.ledger import PAYLOAD_VERSION, Actor, EntryDraft, fetch_nodes, format_time, ledger_signer_key
from licensing.models import Checkpoint, EntryType, LedgerEntry, LedgerHead, node_key_of

_ENTRY_COLUMNS = ("leaf_index", "entry_type", "created_at", "actor_user_id", "actor_organization_id", "actor_name",
                  "request_id", "subject_type", "subject_id", "payload", "leaf_hash")


def _lock_head() -> tuple[int, bytes]:
    """Lock the log head row and return (size, root); the row is created by migration (or after a test flush)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT size, root_hash FROM licensing_ledgerhead WHERE id = 1 FOR UPDATE")
        else:  # SQLite: the IMMEDIATE transaction already holds the database write lock
            cursor.execute("SELECT size, root_hash FROM licensing_ledgerhead WHERE id = 1")
        row = cursor.fetchone()
    if row is None:
        LedgerHead.objects.get_or_create(pk=1, defaults={"size": 0, "root_hash": merkle.EMPTY_ROOT})
        return _lock_head()
    return int(row[0]), bytes(row[1])


def _insert(table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Bulk insert: COPY on PostgreSQL (the fastest path for batches), executemany elsewhere."""
    if not rows:
        return
    names = ", ".join(columns)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor, cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    else:
        with connection.cursor() as cursor:
            placeholders = ", ".join(["%s"] * len(columns))
            cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({placeholders})", rows)  # noqa: S608


def do_append_ledger_entries(drafts: Sequence[EntryDraft], *, actor: Actor,
                             request_id: str | None = None) -> list[LedgerEntry]:
    """Append entries to the log inside the caller's transaction (domain change and entry commit together).

    Serializes on the log head (a row lock on PostgreSQL; SQLite's IMMEDIATE transactions hold the write
    lock), so concurrent writers get dense, gapless, unique leaf indices. Appending m entries to a log of n
    costs one locked head read, one read of the popcount(n) peaks of the old tree, two bulk inserts and one
    head update.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("ledger entries must be appended inside the caller's transaction.atomic() block")
    if not drafts:
        return []
    unknown = sorted({d.entry_type for d in drafts} - set(EntryType.values))
    if unknown:
        raise DomainError("unknown_entry_type", "Unknown ledger entry type.", details={"entry_types": unknown})
    now = timezone.now()
    request_id = (request_id if request_id is not None else request_id_var.get())[:80]
    common = {"v": PAYLOAD_VERSION, "time": format_time(now), "actor": actor.as_json(), "request_id": request_id}
    payloads = []
    for position, draft in enumerate(drafts):
        body = {**common, "type": draft.entry_type, "subject": {"type": draft.subject_type, "id": draft.subject_id},
                "data": draft.data}
        try:
            payloads.append(canonical_bytes(body))
        except CanonicalJSONError as exc:
            raise DomainError("invalid_ledger_payload", str(exc), details={"draft": position}) from exc
    hashes = [merkle.leaf_hash(p) for p in payloads]

    # From here on the caller's transaction holds the head lock until it commits or rolls back.
    start, _ = _lock_head()
    # One read of the old tree's peaks: the ones the new leaves complete, and the rest of the new root.
    appended = merkle.batch_append(start, hashes, fetch_nodes)

    entries = [
        LedgerEntry(leaf_index=start + i, entry_type=d.entry_type, created_at=now, actor_user_id=actor.user_id,
                    actor_organization_id=actor.organization_id, actor_name=actor.name[:200], request_id=request_id,
                    subject_type=d.subject_type, subject_id=str(d.subject_id)[:64], payload=p, leaf_hash=h)
        for i, (d, p, h) in enumerate(zip(drafts, payloads, hashes, strict=True))
    ]
    _insert("licensing_ledgerentry", _ENTRY_COLUMNS,
            [tuple(getattr(e, c) for c in _ENTRY_COLUMNS) for e in entries])
    _insert("licensing_ledgernode", ("key", "hash"),
            [(node_key_of(node), digest) for node, digest in appended.nodes if node[0] > 0])
    with connection.cursor() as cursor:
        cursor.execute("UPDATE licensing_ledgerhead SET size = %s, root_hash = %s, updated_at = %s WHERE id = 1",
                       [start + len(entries), appended.root, now])
    return entries


def do_append_ledger_entry(entry_type: str, data: dict[str, Any], *, actor: Actor, subject_type: str = "",
                           subject_id: str = "", request_id: str | None = None) -> LedgerEntry:
    """Append one entry (see do_append_ledger_entries)."""
    draft = EntryDraft(entry_type=entry_type, data=data, subject_type=subject_type, subject_id=str(subject_id))
    return do_append_ledger_entries([draft], actor=actor, request_id=request_id)[0]


def do_publish_checkpoint(*, actor: Actor | None = None) -> Checkpoint:
    """Sign the current tree head as a C2SP checkpoint and store it (no-op if that size is already signed)."""
    from licensing import note

    signer = note.NoteSigner.from_key_string(ledger_signer_key())
    with transaction.atomic():
        size, root = _lock_head()
        existing = Checkpoint.objects.filter(tree_size=size).first()
        if existing is not None:
            return existing
        body = note.Checkpoint(origin=settings.LEDGER_ORIGIN, size=size, root_hash=root)
        signed = note.sign_note(note.format_checkpoint_body(body), [signer])
        return Checkpoint.objects.create(
            tree_size=size, root_hash=root, origin=settings.LEDGER_ORIGIN,
            key_name=signer.name, note=signed, created_at=timezone.now(),
        )
