"""State changes in licensing. Every one writes its ledger entry in the same transaction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from clearcue.context import request_id_var
from clearcue.exceptions import DomainError
from licensing import merkle
from licensing.canonical import CanonicalJSONError, canonical_bytes
from licensing.ledger import PAYLOAD_VERSION, Actor, EntryDraft, fetch_nodes, format_time, ledger_signer_key
from licensing.models import Checkpoint, EntryType, LedgerEntry, LedgerHead, LedgerNode, node_key_of


def _lock_head() -> LedgerHead:
    """Lock the log head row (created by migration; recreated empty if a test flush removed it)."""
    head = LedgerHead.objects.select_for_update().filter(pk=1).first()
    if head is None:
        LedgerHead.objects.get_or_create(pk=1, defaults={"size": 0, "root_hash": merkle.EMPTY_ROOT})
        head = LedgerHead.objects.select_for_update().get(pk=1)
    return head


def do_append_ledger_entries(drafts: Sequence[EntryDraft], *, actor: Actor,
                             request_id: str | None = None) -> list[LedgerEntry]:
    """Append entries to the log inside the caller's transaction (domain change and entry commit together).

    Serializes on the log head (a row lock on PostgreSQL; SQLite's IMMEDIATE transactions hold the write
    lock), so concurrent writers get dense, gapless, unique leaf indices. Appending m entries to a log of n
    costs one head read, one read of at most log2(n)+1 right-edge nodes, and bulk inserts.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("ledger entries must be appended inside the caller's transaction.atomic() block")
    if not drafts:
        return []
    unknown = sorted({d.entry_type for d in drafts} - set(EntryType.values))
    if unknown:
        raise DomainError("unknown_entry_type", "Unknown ledger entry type.", details={"entry_types": unknown})
    now = timezone.now()
    request_id = request_id if request_id is not None else request_id_var.get()
    payloads = []
    for position, draft in enumerate(drafts):
        body: dict[str, Any] = {
            "v": PAYLOAD_VERSION,
            "type": draft.entry_type,
            "time": format_time(now),
            "actor": actor.as_json(),
            "request_id": request_id,
            "subject": {"type": draft.subject_type, "id": draft.subject_id},
            "data": draft.data,
        }
        try:
            payloads.append(canonical_bytes(body))
        except CanonicalJSONError as exc:
            raise DomainError("invalid_ledger_payload", str(exc), details={"draft": position}) from exc

    with transaction.atomic():
        head = _lock_head()
        start = head.size
        hashes = [merkle.leaf_hash(p) for p in payloads]
        seen: dict[merkle.NodeId, bytes] = {}

        def fetch(ids: Sequence[merkle.NodeId]) -> dict[merkle.NodeId, bytes]:
            loaded = fetch_nodes(ids)
            seen.update(loaded)
            return loaded

        created = merkle.nodes_to_store_on_batch_append(start, hashes, fetch)
        seen.update(created)
        entries = [
            LedgerEntry(
                leaf_index=start + i, entry_type=d.entry_type, created_at=now, actor_user_id=actor.user_id,
                actor_organization_id=actor.organization_id, actor_name=actor.name[:200],
                request_id=request_id[:80], subject_type=d.subject_type, subject_id=str(d.subject_id)[:64],
                payload=p, leaf_hash=h,
            )
            for i, (d, p, h) in enumerate(zip(drafts, payloads, hashes, strict=True))
        ]
        LedgerEntry.objects.bulk_create(entries, batch_size=2000)
        LedgerNode.objects.bulk_create(
            [LedgerNode(key=node_key_of(node), hash=digest) for node, digest in created if node[0] > 0],
            batch_size=2000,
        )
        head.size = start + len(entries)
        # The new root folds the new tree's peaks: most were just created or fetched; load the rest.
        missing = [node for node in merkle.root_node_ids(head.size) if node not in seen]
        seen.update(fetch_nodes(missing) if missing else {})
        head.root_hash = merkle.root_from_nodes(head.size, seen)
        head.save(update_fields=["size", "root_hash", "updated_at"])
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
        head = _lock_head()
        existing = Checkpoint.objects.filter(tree_size=head.size).first()
        if existing is not None:
            return existing
        body = note.Checkpoint(origin=settings.LEDGER_ORIGIN, size=head.size, root_hash=bytes(head.root_hash))
        signed = note.sign_note(note.format_checkpoint_body(body), [signer])
        return Checkpoint.objects.create(
            tree_size=head.size, root_hash=bytes(head.root_hash), origin=settings.LEDGER_ORIGIN,
            key_name=signer.name, note=signed, created_at=timezone.now(),
        )
