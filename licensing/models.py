"""Licensing models. So far: the append-only rights ledger (RFC 9162 Merkle log) and its checkpoints."""

from __future__ import annotations

import pgtrigger
from django.db import models

# Node ids (level, index) are packed into one integer key: level in the top byte, index below.
NODE_LEVEL_SHIFT = 56


def node_key_of(node: tuple[int, int]) -> int:
    """Pack a Merkle node id (level, index) into LedgerNode's integer key."""
    level, index = node
    return (level << NODE_LEVEL_SHIFT) | index


class EntryType(models.TextChoices):
    """Known ledger entry types; adding a member here is all it takes to write a new kind of entry."""

    WORK_REGISTERED = "work.registered"
    WORK_UPDATED = "work.updated"
    PARTY_REGISTERED = "party.registered"
    LICENSE_GRANTED = "license.granted"
    LICENSE_REVOKED = "license.revoked"
    OPTOUT_REGISTERED = "optout.registered"
    OPTOUT_WITHDRAWN = "optout.withdrawn"
    MODEL_REGISTERED = "model.registered"
    MANIFEST_CREATED = "manifest.created"
    GATE_DECIDED = "gate.decided"
    OUTPUT_SEALED = "output.sealed"
    LEDGER_NOTE = "ledger.note"


_APPEND_ONLY = [
    pgtrigger.Protect(name="append_only_no_update", operation=pgtrigger.Update),
    pgtrigger.Protect(name="append_only_no_delete", operation=pgtrigger.Delete),
]


class LedgerHead(models.Model):
    """The single mutable row of the log: its size and root. Writers lock it to serialize appends."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    size = models.BigIntegerField(default=0)
    root_hash = models.BinaryField(max_length=32)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=models.Q(id=1), name="licensing_ledgerhead_singleton")]

    def __str__(self) -> str:
        return f"ledger head: {self.size} entries"


class LedgerEntry(models.Model):
    """One leaf of the log. `payload` (canonical JSON) is what is hashed; the other columns index it."""

    leaf_index = models.BigIntegerField(primary_key=True)
    entry_type = models.CharField(max_length=64, db_index=True)
    created_at = models.DateTimeField()
    # Actor and subject are plain ids, not foreign keys: a ledger row must never be updated or cascaded
    # when a user or object is deleted, and the frozen name keeps who acted readable forever.
    actor_user_id = models.BigIntegerField(null=True, blank=True)
    actor_organization_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    actor_name = models.CharField(max_length=200)
    request_id = models.CharField(max_length=80, blank=True, db_index=True)
    subject_type = models.CharField(max_length=64, blank=True)
    subject_id = models.CharField(max_length=64, blank=True)
    payload = models.BinaryField()
    leaf_hash = models.BinaryField(max_length=32, unique=True)

    class Meta:
        ordering = ["leaf_index"]
        verbose_name_plural = "ledger entries"
        indexes = [models.Index(fields=["subject_type", "subject_id"], name="ledger_subject_idx")]
        triggers = _APPEND_ONLY

    def __str__(self) -> str:
        return f"#{self.leaf_index} {self.entry_type}"


class LedgerNode(models.Model):
    """Hash of a complete, aligned subtree at level >= 1 (level 0 is `LedgerEntry.leaf_hash`).

    Storing every complete subtree makes appends O(log n) and any root or proof a single batched read of
    O(log n) rows (see licensing/merkle.py).
    """

    key = models.BigIntegerField(primary_key=True)  # (level << 56) | index
    hash = models.BinaryField(max_length=32)

    class Meta:
        triggers = _APPEND_ONLY

    def __str__(self) -> str:
        return f"node level {self.key >> NODE_LEVEL_SHIFT} index {self.key & ((1 << NODE_LEVEL_SHIFT) - 1)}"


class Checkpoint(models.Model):
    """A signed tree head in the C2SP tlog-checkpoint signed-note format."""

    tree_size = models.BigIntegerField(unique=True)
    root_hash = models.BinaryField(max_length=32)
    origin = models.CharField(max_length=200)
    key_name = models.CharField(max_length=200)
    note = models.TextField()
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["tree_size"]
        triggers = _APPEND_ONLY

    def __str__(self) -> str:
        return f"checkpoint {self.tree_size}"
