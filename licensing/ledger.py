"""The rights ledger on the database: who may write it, how proofs are read, how it is verified.

Writes happen only in `licensing.actions` (`do_append_ledger_entries`, `do_publish_checkpoint`); this
module holds the read side and the pure-ish pieces they share: the actor record, the entry draft, the
batched node fetcher that feeds `licensing.merkle`, and the full verification used by `verify_ledger`.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from hashlib import sha256
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection, transaction

from clearcue.exceptions import DomainError
from licensing import merkle
from licensing.models import NODE_LEVEL_SHIFT, Checkpoint, node_key_of

PAYLOAD_VERSION = 1


@dataclass(frozen=True)
class Actor:
    """Who caused an entry: user and organization ids (if any) and a display name frozen at write time."""

    name: str
    user_id: int | None = None
    organization_id: int | None = None

    @classmethod
    def of(cls, user: Any, organization: Any = None) -> Actor:
        """The actor record of a user (acting for an organization, when known)."""
        if user is None or not getattr(user, "is_authenticated", False):
            return cls.system()
        display = user.get_full_name() or user.get_username()
        if organization is not None:
            display = f"{display} ({organization.name})"
        return cls(name=display, user_id=user.pk, organization_id=getattr(organization, "pk", None))

    @classmethod
    def system(cls, component: str = "clearcue") -> Actor:
        """The platform itself (scheduled tasks, migrations, commands run without a user)."""
        return cls(name=f"system:{component}")

    def as_json(self) -> dict[str, Any]:
        """The actor as it appears in the payload."""
        return {"name": self.name, "organization_id": self.organization_id, "user_id": self.user_id}


@dataclass(frozen=True)
class EntryDraft:
    """An entry about to be appended: its type, subject and JSON body (no floats)."""

    entry_type: str
    data: Mapping[str, Any] = field(default_factory=dict)
    subject_type: str = ""
    subject_id: str = ""


def format_time(moment: datetime) -> str:
    """RFC 3339 UTC with microseconds, the one time format inside payloads."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# --- Node storage -------------------------------------------------------------------------------------------


def fetch_nodes(ids: Sequence[merkle.NodeId]) -> dict[merkle.NodeId, bytes]:
    """Load node hashes in one round trip: level 0 from the entries' leaf hashes, higher levels from LedgerNode.

    Raw SQL on purpose: this is the hot path of every proof and append, and ORM overhead would dominate it.
    """
    leaves = [index for level, index in ids if level == 0]
    inner = {node_key_of(node): node for node in ids if node[0] > 0}
    # Only "%s" placeholders are interpolated into the SQL text; values travel as parameters.
    parts, params = [], []
    if leaves:
        placeholders = ", ".join(["%s"] * len(leaves))
        parts.append(f"SELECT 0, leaf_index, leaf_hash FROM licensing_ledgerentry WHERE leaf_index IN ({placeholders})")  # noqa: S608
        params.extend(leaves)
    if inner:
        placeholders = ", ".join(["%s"] * len(inner))
        parts.append(f"SELECT 1, key, hash FROM licensing_ledgernode WHERE key IN ({placeholders})")  # noqa: S608
        params.extend(inner)
    found: dict[merkle.NodeId, bytes] = {}
    if not parts:
        return found
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(parts), params)
        for kind, key, digest in cursor.fetchall():
            found[inner[key] if kind else (0, key)] = bytes(digest)
    return found


# --- Reads --------------------------------------------------------------------------------------------------


def current_head() -> tuple[int, bytes]:
    """(size, root) of the log as committed now."""
    with connection.cursor() as cursor:  # raw: read on every proof request
        cursor.execute("SELECT size, root_hash FROM licensing_ledgerhead WHERE id = 1")
        row = cursor.fetchone()
    return (int(row[0]), bytes(row[1])) if row else (0, merkle.EMPTY_ROOT)


def _resolve_size(size: int | None) -> int:
    """`size`, or the current size when None; refuses sizes the log has not reached (one head read)."""
    current, _ = current_head()
    if size is None:
        return current
    if size < 0 or size > current:
        raise DomainError("tree_size_out_of_range", f"Tree size must be between 0 and {current}.",
                          details={"tree_size": size, "current_size": current})
    return size


@dataclass(frozen=True)
class InclusionProof:
    """An RFC 9162 inclusion proof with the leaf hash and the root it proves against."""

    leaf_index: int
    tree_size: int
    leaf_hash: bytes
    root_hash: bytes
    inclusion_path: list[bytes]


@dataclass(frozen=True)
class ConsistencyProof:
    """An RFC 9162 consistency proof with both roots."""

    first: int
    second: int
    first_root_hash: bytes
    second_root_hash: bytes
    consistency_path: list[bytes]


def root_at(size: int) -> bytes:
    """The root of the log's first `size` entries (one batched read)."""
    return merkle.root_from(_resolve_size(size), fetch_nodes)


def prove_inclusion(leaf_index: int, tree_size: int | None = None) -> InclusionProof:
    """Inclusion proof of entry `leaf_index` in the tree of `tree_size` (default: current) entries.

    One head read and one node read fetch the path, the leaf and the root together.
    """
    size = _resolve_size(tree_size)
    if not 0 <= leaf_index < size:
        raise DomainError("leaf_index_out_of_range", "leaf_index must be below tree_size.",
                          details={"leaf_index": leaf_index, "tree_size": size})
    plan = merkle.inclusion_proof_plan(leaf_index, size)
    leaf, peaks = (0, leaf_index), tuple(merkle.root_node_ids(size))
    nodes = fetch_nodes(merkle.plan_node_ids([*plan, peaks, (leaf,)]))
    return InclusionProof(leaf_index, size, nodes[leaf], merkle.root_from_nodes(size, nodes),
                          merkle.hashes_from_plan(plan, nodes))


def prove_consistency(first: int, second: int | None = None) -> ConsistencyProof:
    """Consistency proof between tree sizes `first` <= `second` (default: current), with both roots."""
    size = _resolve_size(second)
    if not 0 <= first <= size:
        raise DomainError("invalid_tree_sizes", "Need 0 <= first <= second.",
                          details={"first": first, "second": size})
    plan = merkle.consistency_proof_plan(first, size)
    roots = [tuple(merkle.root_node_ids(first)), tuple(merkle.root_node_ids(size))]
    nodes = fetch_nodes(merkle.plan_node_ids([*plan, *roots]))
    return ConsistencyProof(first, size, merkle.root_from_nodes(first, nodes), merkle.root_from_nodes(size, nodes),
                            merkle.hashes_from_plan(plan, nodes))


def inclusion_proof(leaf_index: int, tree_size: int) -> list[bytes]:
    """RFC 9162 inclusion path of entry `leaf_index` in the tree of `tree_size` entries."""
    return prove_inclusion(leaf_index, tree_size).inclusion_path


def consistency_proof(first: int, second: int) -> list[bytes]:
    """RFC 9162 consistency path between tree sizes `first` <= `second`."""
    return prove_consistency(first, second).consistency_path


def b64(data: bytes) -> str:
    """Standard base64, as in checkpoints and RFC 9162 JSON APIs."""
    return base64.b64encode(data).decode("ascii")


# --- Verification -------------------------------------------------------------------------------------------


@dataclass
class VerificationReport:
    """Outcome of a full ledger verification: counts, and the first divergence found (if any)."""

    entries: int = 0
    nodes: int = 0
    checkpoints: int = 0
    root: bytes = merkle.EMPTY_ROOT
    problem: str | None = None
    index: int | None = None
    expected: str | None = None
    found: str | None = None

    @property
    def ok(self) -> bool:
        """True when nothing diverged."""
        return self.problem is None

    def fail(self, problem: str, *, index: int | None, expected: str, found: str) -> VerificationReport:
        """Record the first divergence."""
        self.problem, self.index, self.expected, self.found = problem, index, expected, found
        return self


def _stream(sql: str, chunk: int) -> Iterator[tuple[Any, ...]]:
    """Stream rows of a query without loading them all (a server-side cursor on PostgreSQL)."""
    if connection.vendor == "postgresql":
        with transaction.atomic():
            raw = connection.connection  # psycopg 3 connection; named cursors stream from the server
            # Binary results: bytea arrives as raw bytes (no hex decoding), ~2x the rows/s of text mode.
            with raw.cursor(name=f"ledger_verify_{id(sql)}", binary=True) as cursor:
                cursor.itersize = chunk
                cursor.execute(sql)
                yield from cursor
    else:
        with connection.cursor() as cursor:
            cursor.execute(sql)
            while rows := cursor.fetchmany(chunk):
                yield from rows


def _iter_entries(chunk: int) -> Iterator[tuple[int, bytes, bytes]]:
    """Stream (leaf_index, payload, leaf_hash) in index order."""
    for index, payload, digest in _stream(
        "SELECT leaf_index, payload, leaf_hash FROM licensing_ledgerentry ORDER BY leaf_index", chunk
    ):
        yield index, bytes(payload), bytes(digest)


def verify_ledger(*, verifier_keys: Sequence[str] | None = None, chunk: int = 50_000) -> VerificationReport:
    """Recompute every leaf hash, every stored subtree hash, the root, and check every checkpoint.

    Each leaf and each interior node is hashed exactly once (n + n - 1 SHA-256 calls, the minimum to check
    every stored hash); the head root and each checkpoint's root are folded from the recomputed subtrees.
    Stops at the first divergence and reports it precisely (what, at which index, expected vs found).
    """
    from licensing import note  # local: keeps cryptography out of module import for web paths

    report = VerificationReport()
    size, head_root = current_head()
    checkpoints = list(Checkpoint.objects.order_by("tree_size"))
    needed = {node for m in {size, *(c.tree_size for c in checkpoints if c.tree_size <= size)}
              for node in merkle.root_node_ids(m)}

    leaves: list[bytes] = []
    prefix = sha256(merkle.LEAF_PREFIX)
    for index, payload, stored in _iter_entries(chunk):
        if index != len(leaves):
            return report.fail("gap_in_leaf_indices", index=len(leaves), expected=str(len(leaves)), found=str(index))
        hasher = prefix.copy()
        hasher.update(payload)
        computed = hasher.digest()
        if computed != stored:
            return report.fail("leaf_hash_mismatch", index=index, expected=computed.hex(), found=stored.hex())
        leaves.append(computed)
    report.entries = len(leaves)
    if report.entries != size:
        return report.fail("size_mismatch", index=report.entries, expected=str(size), found=str(report.entries))

    subtrees: dict[merkle.NodeId, bytes] = {}
    problem = _verify_nodes(report, leaves, size, chunk, needed, subtrees)
    if problem is not None:
        return problem
    report.root = merkle.root_from_nodes(size, subtrees)
    if report.root != head_root:
        return report.fail("head_root_mismatch", index=size, expected=report.root.hex(), found=head_root.hex())

    keys = list(verifier_keys) if verifier_keys is not None else [ledger_verifier_key()]
    verifiers = [note.NoteVerifier.from_key_string(k) for k in keys]
    previous: Checkpoint | None = None
    for checkpoint in checkpoints:
        try:
            text, _ = note.open_note(checkpoint.note, verifiers)
            body = note.parse_checkpoint_body(text)
        except note.NoteError as exc:
            return report.fail("checkpoint_signature_invalid", index=checkpoint.tree_size,
                               expected="a valid signature by the ledger key", found=f"{type(exc).__name__}: {exc}")
        if body.size != checkpoint.tree_size or body.root_hash != bytes(checkpoint.root_hash):
            return report.fail("checkpoint_row_mismatch", index=checkpoint.tree_size,
                               expected=f"{checkpoint.tree_size} {bytes(checkpoint.root_hash).hex()}",
                               found=f"{body.size} {body.root_hash.hex()}")
        if checkpoint.tree_size > size:
            return report.fail("checkpoint_beyond_log", index=checkpoint.tree_size, expected=f"<= {size}",
                               found=str(checkpoint.tree_size))
        recomputed = merkle.root_from_nodes(checkpoint.tree_size, subtrees)
        if body.root_hash != recomputed:
            return report.fail("checkpoint_root_mismatch", index=checkpoint.tree_size, expected=recomputed.hex(),
                               found=body.root_hash.hex())
        if previous is not None:
            try:
                merkle.verify_consistency(previous.tree_size, checkpoint.tree_size,
                                          consistency_proof(previous.tree_size, checkpoint.tree_size),
                                          bytes(previous.root_hash), body.root_hash)
            except merkle.ProofError as exc:
                return report.fail("checkpoints_inconsistent", index=checkpoint.tree_size,
                                   expected=f"consistent with checkpoint {previous.tree_size}", found=str(exc))
        previous = checkpoint
        report.checkpoints += 1
    return report


def _verify_nodes(report: VerificationReport, leaves: list[bytes], size: int, chunk: int,
                  needed: set[merkle.NodeId], subtrees: dict[merkle.NodeId, bytes]) -> VerificationReport | None:
    """Check every stored subtree hash (levels >= 1) against its recomputation from the leaves.

    Nodes are streamed in key order, which is level-major, so each level is compared in one pass while only
    the level below it is held in memory. The subtrees in `needed` (root peaks) are copied into `subtrees`.
    """
    node = merkle.node_hash

    def next_level(below: list[bytes], level: int) -> list[bytes]:
        for wanted in needed:
            if wanted[0] == level - 1:
                subtrees[wanted] = below[wanted[1]]
        return [node(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)]

    def missing(level: int, index: int, digest: bytes) -> VerificationReport:
        return report.fail("node_hash_mismatch", index=index << level,
                           expected=f"level {level} node {index}: {digest.hex()}", found="missing")

    level, index = 1, 0
    expected = next_level(leaves, 1)
    for key, digest in _stream("SELECT key, hash FROM licensing_ledgernode ORDER BY key", chunk):
        node_level, node_index = key >> NODE_LEVEL_SHIFT, key & ((1 << NODE_LEVEL_SHIFT) - 1)
        while node_level > level:
            if index < len(expected):
                return missing(level, index, expected[index])
            level, index = level + 1, 0
            expected = next_level(expected, level)
        if node_level < level or node_index != index or index >= len(expected):
            if node_level == level and node_index > index and index < len(expected):
                return missing(level, index, expected[index])
            return report.fail("unexpected_node", index=node_index << node_level, expected="no such node",
                               found=f"level {node_level} node {node_index}")
        if bytes(digest) != expected[index]:
            return report.fail("node_hash_mismatch", index=index << level,
                               expected=f"level {level} node {index}: {expected[index].hex()}",
                               found=bytes(digest).hex())
        report.nodes += 1
        index += 1
    while expected:
        if index < len(expected):
            return missing(level, index, expected[index])
        level, index = level + 1, 0
        expected = next_level(expected, level)
    return None


# --- Keys ---------------------------------------------------------------------------------------------------


def _key_path(setting: str) -> Path:
    return Path(getattr(settings, setting))


def ledger_signer_key() -> str:
    """The checkpoint signing key (signed-note `PRIVATE+KEY+...` string) from settings or its file."""
    configured: str | None = settings.LEDGER_SIGNING_KEY
    if configured:
        return configured
    path = _key_path("LEDGER_SIGNING_KEY_PATH")
    if not path.exists():
        raise DomainError("ledger_key_missing",
                          f"No ledger signing key at {path}; create one with `manage.py init_ledger_key`.",
                          status=503)
    return path.read_text(encoding="utf-8").strip()


def ledger_verifier_key() -> str:
    """The public verifier key string (`<name>+<id>+<key>`) that auditors use."""
    from licensing import note

    return note.NoteSigner.from_key_string(ledger_signer_key()).verifier().key_string
