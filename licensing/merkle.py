"""RFC 9162 Merkle tree math for an append-only log whose storage holds complete subtrees.

Pure and Django-free: every function takes loaded hashes or a ``fetch`` callable and never does I/O.

Hashing (RFC 9162 §2.1.1): ``MTH({}) = SHA-256()``, a leaf is ``SHA-256(0x00 || data)`` and an interior
node is ``SHA-256(0x01 || left || right)``, where for ``n > 1`` leaves the left child covers the largest
power of two strictly smaller than ``n``.

Storage model. A *node id* ``(level, index)`` names the complete, aligned subtree covering leaves
``[index * 2**level, (index + 1) * 2**level)``. The ledger stores the hash of every complete node and
nothing else; level 0 holds the leaf hashes. Node ``(level, index)`` exists in a tree of ``size`` leaves
iff ``(index + 1) * 2**level <= size``, and once written it never changes, which is what makes the
store append-only. Any hash the RFC needs (roots, proof elements) is either one stored node or the
right-to-left fold of a few stored nodes (the incomplete right edge of a tree), so every read below is one
batched ``fetch`` of O(log n) node ids:

============================  ============================================  ==============================
operation                     node ids to fetch (one call)                  count, at most
============================  ============================================  ==============================
append leaf ``i``             ``append_fetch_node_ids(i, 1)``               trailing 1 bits of ``i``
append ``m`` leaves at ``s``  ``append_fetch_node_ids(s, m)``               ``s.bit_count()``
same, with the new root       ``root_node_ids(s)`` (via ``batch_append``)   ``s.bit_count()``
root of ``size``              ``root_node_ids(size)``                       ``size.bit_count()``
inclusion ``(i, size)``       ``inclusion_proof_node_ids(i, size)``         ``2 * size.bit_length()``
consistency ``(m, n)``        ``consistency_proof_node_ids(m, n)``          ``2 * n.bit_length() + 1``
============================  ============================================  ==============================

A ``fetch`` callable receives the list of node ids and returns a mapping from (at least) those ids to
their 32-byte hashes; a missing id raises :class:`MissingNodeError`. Verifiers never fetch: they check
RFC 9162 proofs (§2.1.3.2, §2.1.4.2) and raise a :class:`ProofError` subclass on any failure.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from hashlib import sha256
from itertools import islice
from typing import Final, NamedTuple

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "LEAF_PREFIX",
    "NODE_PREFIX",
    "BatchAppend",
    "Fetch",
    "HashSizeError",
    "InvalidIndexError",
    "InvalidSizeError",
    "MerkleAccumulator",
    "MissingNodeError",
    "NodeId",
    "ProofError",
    "ProofLengthError",
    "ProofPlan",
    "RootMismatchError",
    "append_fetch_node_ids",
    "batch_append",
    "consistency_proof",
    "consistency_proof_node_ids",
    "consistency_proof_plan",
    "hashes_from_plan",
    "inclusion_proof",
    "inclusion_proof_node_ids",
    "inclusion_proof_plan",
    "leaf_hash",
    "node_hash",
    "node_leaf_range",
    "nodes_to_store_on_append",
    "nodes_to_store_on_batch_append",
    "plan_node_ids",
    "root_from",
    "root_from_consistency_proof",
    "root_from_inclusion_proof",
    "root_from_nodes",
    "root_node_ids",
    "roots_from_consistency_proof",
    "verify_consistency",
    "verify_inclusion",
]

# RFC 9162 §2.1.1 domain separation: a leaf hash can never be replayed as an interior node hash.
LEAF_PREFIX: Final = b"\x00"
NODE_PREFIX: Final = b"\x01"
HASH_SIZE: Final = 32
EMPTY_ROOT: Final = sha256(b"").digest()

NodeId = tuple[int, int]
"""``(level, index)``: the complete subtree over leaves ``[index * 2**level, (index + 1) * 2**level)``."""

ProofPlan = list[tuple[NodeId, ...]]
"""One entry per proof hash, in proof order; each entry lists the stored nodes, left to right, whose
right-to-left fold (``node_hash(a, node_hash(b, c))``) is that proof hash. A complete subtree is a
one-element entry; an incomplete right-edge subtree has one element per set bit of its width."""

Fetch = Callable[[Sequence[NodeId]], Mapping[NodeId, bytes]]
"""Loads stored node hashes: called once with every node id an operation needs."""


class ProofError(ValueError):
    """A Merkle proof, index or size failed RFC 9162 verification."""

    code = "merkle.proof_invalid"


class InvalidIndexError(ProofError):
    """A leaf index is not inside the tree (RFC 9162 §2.1.3.2 step 1)."""

    code = "merkle.index_out_of_range"


class InvalidSizeError(ProofError):
    """Tree sizes cannot be compared: second < first, or first is the empty tree (RFC 9162 §2.1.4.2)."""

    code = "merkle.invalid_sizes"


class ProofLengthError(ProofError):
    """A proof has more or fewer hashes than its index and sizes require."""

    code = "merkle.proof_length"

    def __init__(self, message: str, *, got: int, want: int) -> None:
        super().__init__(message)
        self.got = got
        self.want = want


class HashSizeError(ProofError):
    """A leaf hash or proof hash is not a 32-byte SHA-256 value."""

    code = "merkle.hash_size"


class RootMismatchError(ProofError):
    """The root recomputed from a proof differs from the root it was checked against."""

    code = "merkle.root_mismatch"

    def __init__(self, message: str, *, expected: bytes, calculated: bytes) -> None:
        super().__init__(message)
        self.expected = expected
        self.calculated = calculated


class MissingNodeError(LookupError):
    """The node store did not return hashes for node ids it must hold: the store is incomplete."""

    code = "merkle.missing_nodes"

    def __init__(self, missing: Sequence[NodeId]) -> None:
        super().__init__(f"node store lacks {len(missing)} node(s): {list(missing)[:8]}")
        self.missing = tuple(missing)


def leaf_hash(data: bytes) -> bytes:
    """Return the RFC 9162 §2.1.1 leaf hash ``SHA-256(0x00 || data)``."""
    return sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Return the RFC 9162 §2.1.1 interior node hash ``SHA-256(0x01 || left || right)``."""
    return sha256(NODE_PREFIX + left + right).digest()


def node_leaf_range(node: NodeId) -> tuple[int, int]:
    """Return the half-open leaf range ``[start, end)`` covered by a node id."""
    level, index = node
    return index << level, (index + 1) << level


def _largest_power_of_two_below(n: int) -> int:
    """Return ``k``, the largest power of two with ``k < n`` (the RFC 9162 split point); ``n > 1``."""
    return 1 << ((n - 1).bit_length() - 1)


def _range_node_ids(start: int, end: int) -> tuple[NodeId, ...]:
    """Return the stored nodes, left to right, that tile ``[start, end)``.

    Valid for every range the RFC's recursion produces: ``start`` is a multiple of the largest power of
    two not above ``end - start``, so the tiling is the binary decomposition of the width.
    """
    ids: list[NodeId] = []
    width = end - start
    pos = start
    for level in range(width.bit_length() - 1, -1, -1):
        if width >> level & 1:
            ids.append((level, pos >> level))
            pos += 1 << level
    return tuple(ids)


def _fold(hashes: Sequence[bytes]) -> bytes:
    """Fold subtree hashes right to left into the hash of their concatenated range (RFC 9162 MTH)."""
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = sha256(NODE_PREFIX + h + acc).digest()
    return acc


def _fetch_all(fetch: Fetch, ids: Sequence[NodeId]) -> Mapping[NodeId, bytes]:
    """Call ``fetch`` once for ``ids`` (skipping the call when there is nothing to load) and check it."""
    if not ids:
        return {}
    nodes = fetch(ids)
    missing = [node for node in ids if node not in nodes]
    if missing:
        raise MissingNodeError(missing)
    return nodes


def _check_size(size: int) -> None:
    """Reject negative tree sizes, which no caller can mean."""
    if size < 0:
        raise InvalidSizeError(f"tree size must be >= 0, got {size}")


def plan_node_ids(plan: Iterable[Iterable[NodeId]]) -> list[NodeId]:
    """Return the distinct node ids a plan needs, in first-use order, ready for one batched fetch."""
    return list(dict.fromkeys(node for entry in plan for node in entry))


def hashes_from_plan(plan: Iterable[Sequence[NodeId]], nodes: Mapping[NodeId, bytes]) -> list[bytes]:
    """Turn a proof plan and the fetched node hashes into the proof's list of hashes."""
    try:
        return [_fold([nodes[node] for node in entry]) for entry in plan]
    except KeyError as missing:
        raise MissingNodeError([missing.args[0]]) from None


# --- Appending --------------------------------------------------------------------------------------------


def append_fetch_node_ids(start_size: int, count: int = 1) -> list[NodeId]:
    """Return the stored nodes needed to append ``count`` leaves to a tree of ``start_size`` leaves.

    These are the right-edge perfect subtrees of the current tree (``root_node_ids(start_size)``) that
    the new leaves complete into a parent; at most ``log2(start_size) + 1`` ids, none when the new leaves
    merge with nothing already stored.
    """
    _check_size(start_size)
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    end = start_size + count
    needed: list[NodeId] = []
    for level, index in _range_node_ids(0, start_size):
        # A right-edge peak always has an even index (a left child): it is read only if its right
        # sibling is completed by the new leaves.
        if (index + 2) << level <= end:
            needed.append((level, index))
    return needed


def _append_onto(
    stack: list[tuple[int, int, bytes]], start_size: int, leaf_hashes: Sequence[bytes]
) -> list[tuple[NodeId, bytes]]:
    """Append leaves onto a right-edge stack of ``(level, index, hash)``; return the nodes created.

    ``stack`` must hold at least the peaks the new leaves merge with, largest first; it is left holding
    the new tree's peaks (those it was given plus the new ones).
    """
    created: list[tuple[NodeId, bytes]] = []
    for offset, h in enumerate(leaf_hashes):
        if len(h) != HASH_SIZE:
            raise HashSizeError(f"leaf hash {start_size + offset} has {len(h)} bytes, want {HASH_SIZE}")
        level, index = 0, start_size + offset
        created.append(((0, index), h))
        while index & 1:
            sibling_level, sibling_index, sibling = stack.pop()
            # Invariant: the popped node is this node's left sibling; anything else means a gap.
            if sibling_level != level or sibling_index != index - 1:
                raise MissingNodeError([(level, index - 1)])
            h = sha256(NODE_PREFIX + sibling + h).digest()
            level, index = level + 1, index >> 1
            created.append(((level, index), h))
        stack.append((level, index, h))
    return created


def nodes_to_store_on_batch_append(
    start_size: int, leaf_hashes: Sequence[bytes], fetch: Fetch
) -> list[tuple[NodeId, bytes]]:
    """Return every complete node created by appending ``leaf_hashes`` to a tree of ``start_size`` leaves.

    Calls ``fetch`` at most once, with ``append_fetch_node_ids(start_size, len(leaf_hashes))``. The result
    is in creation order: each leaf ``(0, i)`` is followed by the parents it completes, bottom-up.
    """
    ids = append_fetch_node_ids(start_size, len(leaf_hashes))
    stored = _fetch_all(fetch, ids)
    # The peaks that get merged are always the smallest ones, so the fetched ids are a valid stack.
    stack = [(level, index, stored[(level, index)]) for level, index in ids]
    return _append_onto(stack, start_size, leaf_hashes)


class BatchAppend(NamedTuple):
    """Result of :func:`batch_append`: the nodes to store (creation order) and the new tree's root."""

    nodes: list[tuple[NodeId, bytes]]
    root: bytes


def batch_append(start_size: int, leaf_hashes: Sequence[bytes], fetch: Fetch) -> BatchAppend:
    """Append leaves like :func:`nodes_to_store_on_batch_append` and also return the new root.

    Fetches all of ``root_node_ids(start_size)`` (popcount of the old size, one call) instead of only the
    merged peaks, because the unmerged ones are still peaks of the new tree and the root needs them.
    """
    ids = root_node_ids(start_size)
    stored = _fetch_all(fetch, ids)
    stack = [(level, index, stored[(level, index)]) for level, index in ids]
    created = _append_onto(stack, start_size, leaf_hashes)
    root = _fold([h for _, _, h in stack]) if stack else EMPTY_ROOT
    return BatchAppend(created, root)


def nodes_to_store_on_append(leaf_index: int, leaf_hash: bytes, fetch: Fetch) -> list[tuple[NodeId, bytes]]:
    """Return the complete nodes created by appending leaf ``leaf_index`` (the tree had that many leaves).

    The list holds ``((0, leaf_index), leaf_hash)`` then each parent it completes, bottom-up. ``fetch``
    is called at most once, with the left siblings ``append_fetch_node_ids(leaf_index)`` (one per
    trailing 1 bit of ``leaf_index``), and not at all for an even index.
    """
    return nodes_to_store_on_batch_append(leaf_index, [leaf_hash], fetch)


# --- Roots ------------------------------------------------------------------------------------------------


def root_node_ids(size: int) -> list[NodeId]:
    """Return the perfect subtrees of the binary decomposition of ``size``, left (largest) to right."""
    _check_size(size)
    return list(_range_node_ids(0, size))


def root_from_nodes(size: int, nodes: Mapping[NodeId, bytes]) -> bytes:
    """Return the RFC 9162 §2.1.1 root of a ``size``-leaf tree from already-fetched node hashes."""
    ids = root_node_ids(size)
    if not ids:
        return EMPTY_ROOT
    return hashes_from_plan([tuple(ids)], nodes)[0]


def root_from(size: int, fetch: Fetch) -> bytes:
    """Return the root of a ``size``-leaf tree with one fetch of ``root_node_ids(size)``."""
    ids = root_node_ids(size)
    return root_from_nodes(size, _fetch_all(fetch, ids))


# --- Inclusion proofs -------------------------------------------------------------------------------------


def inclusion_proof_plan(index: int, size: int) -> ProofPlan:
    """Return the plan of ``PATH(index, D[size])`` (RFC 9162 §2.1.3.1), leaf sibling first.

    Entry ``j`` is the sibling subtree at the ``j``-th step up from the leaf. All entries are single
    complete nodes except possibly one right-edge subtree, so the plan needs at most ``2 * log2(size)``
    node ids.
    """
    _check_size(size)
    if not 0 <= index < size:
        raise InvalidIndexError(f"leaf index {index} is outside a tree of size {size}")
    entries: list[tuple[NodeId, ...]] = []
    lo, hi = 0, size
    # Iterative form of PATH: descend from the root, recording the sibling at each split.
    while hi - lo > 1:
        k = _largest_power_of_two_below(hi - lo)
        if index < lo + k:
            entries.append(_range_node_ids(lo + k, hi))
            hi = lo + k
        else:
            entries.append(_range_node_ids(lo, lo + k))
            lo += k
    entries.reverse()
    return entries


def inclusion_proof_node_ids(index: int, size: int) -> list[NodeId]:
    """Return the distinct stored node ids needed for the inclusion proof of ``index`` in ``size``."""
    return plan_node_ids(inclusion_proof_plan(index, size))


def inclusion_proof(index: int, size: int, fetch: Fetch) -> list[bytes]:
    """Return the RFC 9162 §2.1.3.1 inclusion proof (audit path) with one batched fetch."""
    plan = inclusion_proof_plan(index, size)
    return hashes_from_plan(plan, _fetch_all(fetch, plan_node_ids(plan)))


# --- Consistency proofs -----------------------------------------------------------------------------------


def consistency_proof_plan(size1: int, size2: int) -> ProofPlan:
    """Return the plan of ``PROOF(size1, D[size2])`` (RFC 9162 §2.1.4.1), deepest subtree first.

    Defined for ``0 < size1 < size2``; for ``size1 == size2`` the proof is empty. At most one entry is an
    incomplete right-edge subtree, so the plan needs at most ``2 * log2(size2) + 1`` node ids.
    """
    _check_size(size1)
    if size2 < size1:
        raise InvalidSizeError(f"second tree size {size2} is smaller than first tree size {size1}")
    if size1 == size2:
        return []
    if size1 == 0:
        raise InvalidSizeError("a consistency proof from the empty tree is meaningless")
    entries: list[tuple[NodeId, ...]] = []
    lo, hi = 0, size2
    complete_left = True  # SUBPROOF's b: true while the old tree is a prefix of the left-most path.
    # Iterative form of SUBPROOF(m, D[n], b): descend, recording the subtree not taken at each split.
    while size1 - lo != hi - lo:
        k = _largest_power_of_two_below(hi - lo)
        if size1 - lo <= k:
            entries.append(_range_node_ids(lo + k, hi))
            hi = lo + k
        else:
            entries.append(_range_node_ids(lo, lo + k))
            lo += k
            complete_left = False
    if not complete_left:
        entries.append(_range_node_ids(lo, hi))
    entries.reverse()
    return entries


def consistency_proof_node_ids(size1: int, size2: int) -> list[NodeId]:
    """Return the distinct stored node ids needed for the consistency proof from ``size1`` to ``size2``."""
    return plan_node_ids(consistency_proof_plan(size1, size2))


def consistency_proof(size1: int, size2: int, fetch: Fetch) -> list[bytes]:
    """Return the RFC 9162 §2.1.4.1 consistency proof between two tree sizes with one batched fetch."""
    plan = consistency_proof_plan(size1, size2)
    return hashes_from_plan(plan, _fetch_all(fetch, plan_node_ids(plan)))


# --- Verification -----------------------------------------------------------------------------------------


def _check_hashes(proof: Sequence[bytes], what: str) -> None:
    """Reject any proof element that is not a SHA-256 value."""
    for position, element in enumerate(proof):
        if len(element) != HASH_SIZE:
            raise HashSizeError(f"{what} element {position} has {len(element)} bytes, want {HASH_SIZE}")


def _inclusion_proof_length(index: int, size: int) -> int:
    """Return the audit path length for ``index < size``: inner levels plus right-border levels."""
    inner = (index ^ (size - 1)).bit_length()
    return inner + (index >> inner).bit_count()


def root_from_inclusion_proof(leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes:
    """Return the root that an inclusion proof implies, following RFC 9162 §2.1.3.2 steps 1-5."""
    if not 0 <= index < size:
        raise InvalidIndexError(f"leaf index {index} is outside a tree of size {size}")
    if len(leaf_hash) != HASH_SIZE:
        raise HashSizeError(f"leaf hash has {len(leaf_hash)} bytes, want {HASH_SIZE}")
    want = _inclusion_proof_length(index, size)
    if len(proof) != want:
        raise ProofLengthError(
            f"inclusion proof for leaf {index} of {size} has {len(proof)} hashes, want {want}",
            got=len(proof),
            want=want,
        )
    _check_hashes(proof, "inclusion proof")
    fn, sn, r = index, size - 1, leaf_hash
    for p in proof:
        if sn == 0:  # Step 4a; unreachable once the length matched, kept as the RFC's own guard.
            raise ProofLengthError("inclusion proof is too long", got=len(proof), want=want)
        if fn & 1 or fn == sn:
            r = sha256(NODE_PREFIX + p + r).digest()
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = sha256(NODE_PREFIX + r + p).digest()
        fn >>= 1
        sn >>= 1
    if sn != 0:  # Step 5.
        raise ProofLengthError("inclusion proof is too short", got=len(proof), want=want)
    return r


def verify_inclusion(leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> None:
    """Check an RFC 9162 §2.1.3.2 inclusion proof; raise a :class:`ProofError` subclass if it fails."""
    calculated = root_from_inclusion_proof(leaf_hash, index, size, proof)
    if calculated != root:
        raise RootMismatchError(
            f"inclusion proof for leaf {index} of {size} does not lead to the given root",
            expected=root,
            calculated=calculated,
        )


def _consistency_proof_length(size1: int, size2: int) -> int:
    """Return the consistency proof length for ``0 < size1 < size2``."""
    inner = ((size1 - 1) ^ (size2 - 1)).bit_length()
    border = ((size1 - 1) >> inner).bit_count()
    shift = (size1 & -size1).bit_length() - 1  # trailing zero bits of size1
    # When size1 is a power of two its own root is the seed and is not sent (RFC 9162 §2.1.4.2 step 2).
    seed_sent = 0 if size1 == 1 << shift else 1
    return seed_sent + inner - shift + border


def roots_from_consistency_proof(size1: int, size2: int, proof: Sequence[bytes], root1: bytes) -> tuple[bytes, bytes]:
    """Return ``(first_root, second_root)`` implied by a proof (RFC 9162 §2.1.4.2 steps 1-6).

    Only for ``0 < size1 < size2``; :func:`verify_consistency` handles the equal-size case.
    """
    if size2 < size1:
        raise InvalidSizeError(f"second tree size {size2} is smaller than first tree size {size1}")
    if size1 <= 0 or size1 == size2:
        raise InvalidSizeError(f"no consistency proof exists from size {size1} to size {size2}")
    want = _consistency_proof_length(size1, size2)
    if len(proof) != want:
        raise ProofLengthError(
            f"consistency proof from {size1} to {size2} has {len(proof)} hashes, want {want}",
            got=len(proof),
            want=want,
        )
    _check_hashes(proof, "consistency proof")
    path = list(proof)
    if size1 & (size1 - 1) == 0:  # Step 2: first is a power of two.
        path.insert(0, root1)
    fn, sn = size1 - 1, size2 - 1  # Step 3.
    while fn & 1:  # Step 4.
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]  # Step 5.
    for c in path[1:]:  # Step 6.
        if sn == 0:
            raise ProofLengthError("consistency proof is too long", got=len(proof), want=want)
        if fn & 1 or fn == sn:
            fr = sha256(NODE_PREFIX + c + fr).digest()
            sr = sha256(NODE_PREFIX + c + sr).digest()
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = sha256(NODE_PREFIX + sr + c).digest()
        fn >>= 1
        sn >>= 1
    if sn != 0:  # Step 7, size part.
        raise ProofLengthError("consistency proof is too short", got=len(proof), want=want)
    return fr, sr


def root_from_consistency_proof(size1: int, size2: int, proof: Sequence[bytes], root1: bytes) -> bytes:
    """Return the second root a consistency proof implies, after checking it reproduces ``root1``."""
    if size1 == size2 and size1 >= 0:
        if proof:
            raise ProofLengthError(
                f"tree sizes are equal ({size1}) but the proof has {len(proof)} hashes", got=len(proof), want=0
            )
        return root1
    first, second = roots_from_consistency_proof(size1, size2, proof, root1)
    if first != root1:
        raise RootMismatchError(
            f"consistency proof does not reproduce the first root (size {size1})",
            expected=root1,
            calculated=first,
        )
    return second


def verify_consistency(size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes) -> None:
    """Check an RFC 9162 §2.1.4.2 consistency proof; raise a :class:`ProofError` subclass if it fails.

    Equal sizes need an empty proof and equal roots; a first size of 0 is rejected because the empty
    tree is trivially a prefix of every tree and such a "proof" would prove nothing.
    """
    if size1 < 0:
        raise InvalidSizeError(f"tree size must be >= 0, got {size1}")
    calculated = root_from_consistency_proof(size1, size2, proof, root1)
    if calculated != root2:
        raise RootMismatchError(
            f"consistency proof from size {size1} does not lead to the second root (size {size2})",
            expected=root2,
            calculated=calculated,
        )


# --- Streaming accumulator --------------------------------------------------------------------------------

# Leaves are hashed in aligned blocks of this many: a block's subtree is built level by level with list
# comprehensions, which spends far less interpreter time per hash than a per-leaf stack merge.
_BLOCK_LEVEL: Final = 10
_BLOCK: Final = 1 << _BLOCK_LEVEL


class MerkleAccumulator:
    """Streaming RFC 9162 root over appended leaves, keeping only the O(log n) right-edge peaks.

    This is a compact range ``[0, size)``: ``peaks`` are the hashes of ``root_node_ids(size)``. Use it to
    recompute a whole ledger's root, or to resume from stored peaks (:meth:`from_peaks`). Appending an
    aligned perfect subtree root (:meth:`append_subtree`) lets callers hash blocks in parallel.
    """

    __slots__ = ("_peaks", "_size")

    def __init__(self) -> None:
        self._size = 0
        self._peaks: list[bytes] = []

    @classmethod
    def from_peaks(cls, size: int, peaks: Sequence[bytes]) -> MerkleAccumulator:
        """Resume from the hashes of ``root_node_ids(size)``, left to right."""
        _check_size(size)
        if len(peaks) != size.bit_count():
            raise ValueError(f"a tree of size {size} has {size.bit_count()} peaks, got {len(peaks)}")
        for peak in peaks:
            if len(peak) != HASH_SIZE:
                raise HashSizeError(f"peak has {len(peak)} bytes, want {HASH_SIZE}")
        acc = cls()
        acc._size = size
        acc._peaks = list(peaks)
        return acc

    @property
    def size(self) -> int:
        """Number of leaves appended so far."""
        return self._size

    @property
    def peaks(self) -> list[bytes]:
        """Hashes of ``root_node_ids(size)``, left to right (a copy)."""
        return list(self._peaks)

    def root(self) -> bytes:
        """Return the RFC 9162 root of the leaves appended so far (``EMPTY_ROOT`` when none)."""
        if not self._peaks:
            return EMPTY_ROOT
        return _fold(self._peaks)

    def append_leaf_hash(self, leaf_hash: bytes) -> None:
        """Append one leaf by its hash."""
        if len(leaf_hash) != HASH_SIZE:
            raise HashSizeError(f"leaf hash has {len(leaf_hash)} bytes, want {HASH_SIZE}")
        self._push(0, leaf_hash)

    def append(self, data: bytes) -> None:
        """Append one leaf by its raw entry bytes."""
        self._push(0, sha256(LEAF_PREFIX + data).digest())

    def append_subtree(self, level: int, subtree_root: bytes) -> None:
        """Append ``2**level`` leaves at once by the root of their perfect subtree.

        The current size must be a multiple of ``2**level`` so the subtree is aligned.
        """
        if level < 0 or self._size & ((1 << level) - 1):
            raise ValueError(f"a level-{level} subtree cannot be appended at size {self._size}")
        if len(subtree_root) != HASH_SIZE:
            raise HashSizeError(f"subtree root has {len(subtree_root)} bytes, want {HASH_SIZE}")
        self._push(level, subtree_root)

    def extend_leaf_hashes(self, leaf_hashes: Iterable[bytes]) -> None:
        """Append many leaves by their hashes."""
        self._extend(leaf_hashes, hashed=True)

    def extend(self, payloads: Iterable[bytes]) -> None:
        """Append many leaves by their raw entry bytes."""
        self._extend(payloads, hashed=False)

    def _push(self, level: int, h: bytes) -> None:
        """Merge an aligned level-``level`` subtree hash into the right edge."""
        peaks = self._peaks
        n = self._size >> level
        self._size += 1 << level
        while n & 1:
            h = sha256(NODE_PREFIX + peaks.pop() + h).digest()
            n >>= 1
        peaks.append(h)

    def _push_each(self, items: Sequence[bytes], *, hashed: bool) -> None:
        """Append leaves one at a time (the slow path, for unaligned heads and short tails)."""
        for item in items:
            if hashed:
                self.append_leaf_hash(item)
            else:
                self._push(0, sha256(LEAF_PREFIX + item).digest())

    def _extend(self, items: Iterable[bytes], *, hashed: bool) -> None:
        """Append leaves one by one up to block alignment, then a whole block at a time."""
        it = iter(items)
        digest = sha256
        node, leaf = NODE_PREFIX, LEAF_PREFIX
        while True:
            head = (-self._size) % _BLOCK
            if head:
                # Unaligned start (resumed accumulator, or a previous short batch): go leaf by leaf.
                chunk = list(islice(it, head))
                self._push_each(chunk, hashed=hashed)
                if len(chunk) < head:
                    return
            chunk = list(islice(it, _BLOCK))
            if not chunk:
                return
            if len(chunk) < _BLOCK:
                self._push_each(chunk, hashed=hashed)
                return
            if hashed:
                for h in chunk:
                    if len(h) != HASH_SIZE:
                        raise HashSizeError(f"leaf hash has {len(h)} bytes, want {HASH_SIZE}")
                pairs = iter(chunk)
                level = [digest(node + a + b).digest() for a, b in zip(pairs, pairs, strict=True)]
            else:
                # Hash leaves and their parents in one pass: no list of leaf hashes is built.
                pairs = iter(chunk)
                level = [
                    digest(node + digest(leaf + a).digest() + digest(leaf + b).digest()).digest()
                    for a, b in zip(pairs, pairs, strict=True)
                ]
            while len(level) > 1:
                pairs = iter(level)
                level = [digest(node + a + b).digest() for a, b in zip(pairs, pairs, strict=True)]
            self._push(_BLOCK_LEVEL, level[0])
