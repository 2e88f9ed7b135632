"""Training manifests as Merkle trees: which works a model was trained on, provably, with membership proofs.

Pure and Django-free. A manifest is a list of records (work, asset SHA-256, the license that cleared the
work for `ai_training`, its basis), sorted by work key. Each record is one leaf: the RFC 9162 leaf hash of
its canonical JSON (`licensing.canonical`), and the manifest's root is the RFC 9162 Merkle tree hash
over the leaves in that order, so the same records always give the same root on any machine.

Keys are natural keys (`<collection slug>/<source key>` for works, the license's `key`), not database
ids, because a manifest must be reproducible from the catalog on another installation.

Because leaves are sorted by work key, the tree proves absence as well as presence: a work is absent when
two adjacent leaves bracket its key (or one leaf at an edge of the tree does), each shown with an
RFC 9162 §2.1.3 inclusion proof.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from licensing import merkle
from licensing.canonical import canonical_bytes

LEAF_FORMAT = "clearcue.manifest-record.v1"


class ManifestError(ValueError):
    """A manifest or a membership proof is malformed or does not verify."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, order=True)
class ManifestRecord:
    """One training work: its natural key, the asset's SHA-256, and the license (or basis) that cleared it."""

    work: str
    sha256: str
    license: str
    basis: str

    def to_json(self) -> dict[str, str]:
        """The record as hashed (keys sorted by canonical JSON)."""
        return {"basis": self.basis, "license": self.license, "sha256": self.sha256, "work": self.work}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ManifestRecord:
        """Inverse of `to_json`; refuses missing or non-string fields."""
        try:
            values = {k: data[k] for k in ("work", "sha256", "license", "basis")}
        except KeyError as exc:
            raise ManifestError("manifest_record_incomplete", f"record lacks {exc.args[0]!r}") from None
        if not all(isinstance(v, str) for v in values.values()):
            raise ManifestError("manifest_record_invalid", "record fields must be strings")
        return cls(**values)

    def leaf(self) -> bytes:
        """The RFC 9162 leaf hash of the canonical record."""
        return merkle.leaf_hash(canonical_bytes(self.to_json()))


def sort_records(records: Iterable[ManifestRecord]) -> list[ManifestRecord]:
    """Records in manifest order (by work key, as UTF-8 bytes); refuses a work listed twice."""
    ordered = sorted(records, key=lambda r: r.work.encode())
    for a, b in pairwise(ordered):
        if a.work == b.work:
            raise ManifestError("manifest_duplicate_work", f"work {a.work!r} is listed twice")
    return ordered


def tree_hash(leaves: Sequence[bytes]) -> bytes:
    """RFC 9162 §2.1.1 MTH over leaf hashes (the empty tree hashes to SHA-256 of nothing)."""
    acc = merkle.MerkleAccumulator()
    acc.extend_leaf_hashes(leaves)
    return acc.root()


def root_of(records: Sequence[ManifestRecord]) -> bytes:
    """The Merkle root of records already in manifest order."""
    return tree_hash([r.leaf() for r in records])


def _path(index: int, leaves: Sequence[bytes]) -> list[bytes]:
    """RFC 9162 §2.1.3.1 PATH(m, D[n]), leaf to root."""
    n = len(leaves)
    if n <= 1:
        return []
    k = 1 << ((n - 1).bit_length() - 1)
    if index < k:
        return [*_path(index, leaves[:k]), tree_hash(leaves[k:])]
    return [*_path(index - k, leaves[k:]), tree_hash(leaves[:k])]


def inclusion_proof(index: int, leaves: Sequence[bytes]) -> list[bytes]:
    """Audit path for leaf `index` (O(n log n) over in-memory leaves: manifests are built once, proved rarely)."""
    if not 0 <= index < len(leaves):
        raise ManifestError("manifest_index_out_of_range", f"leaf {index} outside a manifest of {len(leaves)}")
    return _path(index, leaves)


@dataclass(frozen=True)
class LeafProof:
    """One record of the manifest with its position and audit path."""

    index: int
    record: ManifestRecord
    path: tuple[bytes, ...]

    def to_json(self) -> dict[str, Any]:
        """JSON form with hex hashes."""
        return {"index": self.index, "record": self.record.to_json(), "path": [h.hex() for h in self.path]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LeafProof:
        """Inverse of `to_json`."""
        try:
            return cls(int(data["index"]), ManifestRecord.from_json(data["record"]),
                       tuple(bytes.fromhex(h) for h in data["path"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ManifestError("manifest_proof_malformed", f"malformed leaf proof: {exc}") from None


@dataclass(frozen=True)
class MembershipProof:
    """Proof that `work` is (one leaf) or is not (its neighbours in key order) in a manifest of `size` leaves."""

    work: str
    size: int
    included: bool
    leaves: tuple[LeafProof, ...]

    def to_json(self) -> dict[str, Any]:
        """JSON form, as the API serves it."""
        return {"work": self.work, "size": self.size, "included": self.included,
                "leaves": [leaf.to_json() for leaf in self.leaves]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MembershipProof:
        """Inverse of `to_json`."""
        try:
            return cls(str(data["work"]), int(data["size"]), bool(data["included"]),
                       tuple(LeafProof.from_json(x) for x in data["leaves"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ManifestError("manifest_proof_malformed", f"malformed membership proof: {exc}") from None


def prove_membership(work: str, records: Sequence[ManifestRecord]) -> MembershipProof:
    """Presence proof (the work's leaf) or absence proof (the adjacent leaves around where it would sit)."""
    leaves = [r.leaf() for r in records]
    keys = [r.work.encode() for r in records]
    target = work.encode()
    lo, hi = 0, len(keys)
    while lo < hi:  # first position whose key >= target
        mid = (lo + hi) // 2
        if keys[mid] < target:
            lo = mid + 1
        else:
            hi = mid
    if lo < len(keys) and keys[lo] == target:
        positions = [lo]
    else:
        positions = [i for i in (lo - 1, lo) if 0 <= i < len(keys)]
    proofs = tuple(LeafProof(i, records[i], tuple(inclusion_proof(i, leaves))) for i in positions)
    return MembershipProof(work, len(records), bool(positions) and keys[positions[0]] == target, proofs)


def verify_membership(proof: MembershipProof, root: bytes) -> bool:
    """Check a membership proof against a manifest root; return whether the work is in the manifest.

    Raises ManifestError (or a `licensing.merkle.ProofError`) when the proof does not establish either
    answer: a wrong path, a neighbour pair that is not adjacent, keys that do not bracket the work.
    """
    for leaf in proof.leaves:
        merkle.verify_inclusion(leaf.record.leaf(), leaf.index, proof.size, leaf.path, root)
    target = proof.work.encode()
    if proof.included:
        if len(proof.leaves) != 1 or proof.leaves[0].record.work != proof.work:
            raise ManifestError("manifest_proof_mismatch", "a presence proof must show the work's own leaf")
        return True
    if proof.size == 0:
        if proof.leaves:
            raise ManifestError("manifest_proof_mismatch", "an empty manifest has no leaves to show")
        if root != tree_hash([]):
            raise ManifestError("manifest_proof_mismatch", "root is not the empty tree's")
        return False
    shown = sorted(proof.leaves, key=lambda p: p.index)
    if len(shown) == 2:
        left, right = shown
        if right.index != left.index + 1 or not left.record.work.encode() < target < right.record.work.encode():
            raise ManifestError("manifest_proof_not_adjacent", "neighbours must be adjacent and bracket the work")
        return False
    if len(shown) == 1:
        edge = shown[0]
        key = edge.record.work.encode()
        if edge.index == 0 and target < key:
            return False
        if edge.index == proof.size - 1 and key < target:
            return False
    raise ManifestError("manifest_proof_not_adjacent", "the leaves shown do not prove the work's absence")
