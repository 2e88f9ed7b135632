"""RFC 9162 Merkle math: published vectors, the naive reference as oracle, and the stored-node model."""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from licensing import merkle
from licensing.merkle import (
    EMPTY_ROOT,
    HashSizeError,
    InvalidIndexError,
    InvalidSizeError,
    MerkleAccumulator,
    MissingNodeError,
    NodeId,
    ProofError,
    ProofLengthError,
    RootMismatchError,
)
from tests.licensing import naive_merkle as naive

VECTORS = Path(__file__).resolve().parent.parent / "vectors" / "merkle"
INCLUSION_FILES = sorted((VECTORS / "inclusion").rglob("*.json"))
CONSISTENCY_FILES = sorted((VECTORS / "consistency").rglob("*.json"))
REFERENCE = json.loads((VECTORS / "reference-tree.json").read_text())
REFERENCE_LEAVES = [bytes.fromhex(h) for h in REFERENCE["leaves_hex"]]

# Deterministic leaves of varied lengths (including empty) for the stored-node tree under test.
MAX_SIZE = 300
LEAVES = [hashlib.sha256(i.to_bytes(4, "big")).digest()[: i % 37] for i in range(MAX_SIZE)]
LEAF_HASHES = [merkle.leaf_hash(leaf) for leaf in LEAVES]


class NodeStore:
    """In-memory node table with the DB layer's contract: one batched fetch per operation, counted."""

    def __init__(self) -> None:
        self.nodes: dict[NodeId, bytes] = {}
        self.calls: list[list[NodeId]] = []

    def fetch(self, ids: Sequence[NodeId]) -> Mapping[NodeId, bytes]:
        self.calls.append(list(ids))
        return {node: self.nodes[node] for node in ids if node in self.nodes}

    def fetch_within(self, size: int) -> merkle.Fetch:
        """A fetch that fails if asked for a node that is not complete in a tree of ``size`` leaves."""

        def fetch(ids: Sequence[NodeId]) -> Mapping[NodeId, bytes]:
            for level, index in ids:
                assert (index + 1) << level <= size, f"node {(level, index)} is not complete at size {size}"
            return self.fetch(ids)

        return fetch


def _build_store() -> NodeStore:
    store = NodeStore()
    for index, h in enumerate(LEAF_HASHES):
        store.nodes.update(merkle.nodes_to_store_on_append(index, h, store.fetch))
    return store


STORE = _build_store()


def _b64(value: str | None) -> bytes:
    return base64.b64decode(value or "")


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def _leaf_index(v: dict[str, Any]) -> int:
    """Older upstream files spell the field ``leafIndex``."""
    index: int = v["leafIdx"] if "leafIdx" in v else v["leafIndex"]
    return index


def _expected_inclusion_error(v: dict[str, Any]) -> type[ProofError] | None:
    """Predict the verifier's error from the vector alone, using the naive reference for the length."""
    index, size = _leaf_index(v), v["treeSize"]
    leaf, proof = _b64(v["leafHash"]), [_b64(p) for p in v["proof"] or []]
    if not 0 <= index < size:
        return InvalidIndexError
    if len(leaf) != 32:
        return HashSizeError
    if len(proof) != len(naive.path(index, [b""] * size)):
        return ProofLengthError
    if any(len(p) != 32 for p in proof):
        return HashSizeError
    # Right shape: all that is left is whether the hashes chain to the root, which only hashing can tell.
    return RootMismatchError if v["wantErr"] else None


def _expected_consistency_error(v: dict[str, Any]) -> type[ProofError] | None:
    size1, size2 = v["size1"], v["size2"]
    root1, root2, proof = _b64(v["root1"]), _b64(v["root2"]), [_b64(p) for p in v["proof"] or []]
    if size1 > size2:
        return InvalidSizeError
    if size1 == size2:
        if proof:
            return ProofLengthError
        return None if root1 == root2 else RootMismatchError
    if size1 == 0:
        return InvalidSizeError
    if len(proof) != len(naive.proof(size1, [b""] * size2)):
        return ProofLengthError
    if any(len(p) != 32 for p in proof):
        return HashSizeError
    return RootMismatchError if v["wantErr"] else None


# --- Constants and hashing --------------------------------------------------------------------------------


def test_domain_separation_constants_follow_rfc_9162() -> None:
    assert merkle.LEAF_PREFIX == b"\x00"
    assert merkle.NODE_PREFIX == b"\x01"
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert merkle.leaf_hash(b"") == hashlib.sha256(b"\x00").digest()
    assert merkle.node_hash(b"a" * 32, b"b" * 32) == hashlib.sha256(b"\x01" + b"a" * 32 + b"b" * 32).digest()


def test_leaf_and_node_hashes_differ_for_the_same_bytes() -> None:
    left, right = b"L" * 32, b"R" * 32
    assert merkle.leaf_hash(left + right) != merkle.node_hash(left, right)


# --- Published vectors ------------------------------------------------------------------------------------


def test_vector_folders_hold_the_copied_vectors() -> None:
    assert len(INCLUSION_FILES) >= 50
    assert len(CONSISTENCY_FILES) >= 50
    assert sum(_load(p)["wantErr"] is False for p in INCLUSION_FILES) >= 6
    assert sum(_load(p)["wantErr"] is False for p in CONSISTENCY_FILES) >= 9


@pytest.mark.parametrize("path", INCLUSION_FILES, ids=lambda p: str(p.relative_to(VECTORS)))
def test_inclusion_vector_is_accepted_or_rejected_with_the_right_error(path: Path) -> None:
    v = _load(path)
    index, size = _leaf_index(v), v["treeSize"]
    leaf, root, proof = _b64(v["leafHash"]), _b64(v["root"]), [_b64(p) for p in v["proof"] or []]
    expected = _expected_inclusion_error(v)
    if v["wantErr"] is False:
        assert expected is None
        merkle.verify_inclusion(leaf, index, size, proof, root)
    else:
        assert expected is not None
        with pytest.raises(expected) as caught:
            merkle.verify_inclusion(leaf, index, size, proof, root)
        assert type(caught.value) is expected


@pytest.mark.parametrize("path", CONSISTENCY_FILES, ids=lambda p: str(p.relative_to(VECTORS)))
def test_consistency_vector_is_accepted_or_rejected_with_the_right_error(path: Path) -> None:
    v = _load(path)
    size1, size2 = v["size1"], v["size2"]
    root1, root2, proof = _b64(v["root1"]), _b64(v["root2"]), [_b64(p) for p in v["proof"] or []]
    expected = _expected_consistency_error(v)
    if v["wantErr"] is False:
        assert expected is None
        merkle.verify_consistency(size1, size2, proof, root1, root2)
    else:
        assert expected is not None
        with pytest.raises(expected) as caught:
            merkle.verify_consistency(size1, size2, proof, root1, root2)
        assert type(caught.value) is expected


def test_reference_tree_roots_match_for_every_prefix() -> None:
    acc = MerkleAccumulator()
    for size in range(1, 9):
        acc.append(REFERENCE_LEAVES[size - 1])
        want = REFERENCE["roots_hex_by_size"][str(size)]
        assert naive.mth(REFERENCE_LEAVES[:size]).hex() == want
        assert acc.root().hex() == want


@pytest.mark.parametrize("case", REFERENCE["inclusion"], ids=lambda c: f"{c['leaf_index']}-of-{c['tree_size']}")
def test_reference_inclusion_proofs_are_generated_from_stored_nodes(case: dict[str, Any]) -> None:
    store = NodeStore()
    for index, leaf in enumerate(REFERENCE_LEAVES[: case["tree_size"]]):
        store.nodes.update(merkle.nodes_to_store_on_append(index, merkle.leaf_hash(leaf), store.fetch))
    got = merkle.inclusion_proof(case["leaf_index"], case["tree_size"], store.fetch)
    assert [h.hex() for h in got] == case["proof_hex"]


@pytest.mark.parametrize("case", REFERENCE["consistency"], ids=lambda c: f"{c['first']}-to-{c['second']}")
def test_reference_consistency_proofs_are_generated_from_stored_nodes(case: dict[str, Any]) -> None:
    store = NodeStore()
    store.nodes.update(
        merkle.nodes_to_store_on_batch_append(
            0, [merkle.leaf_hash(leaf) for leaf in REFERENCE_LEAVES[: case["second"]]], store.fetch
        )
    )
    got = merkle.consistency_proof(case["first"], case["second"], store.fetch)
    assert [h.hex() for h in got] == case["proof_hex"]


# --- Typed rejections, one per mutation -------------------------------------------------------------------


def _reference_inclusion(index: int = 5, size: int = 8) -> tuple[bytes, list[bytes], bytes]:
    leaves = REFERENCE_LEAVES[:size]
    return merkle.leaf_hash(leaves[index]), naive.path(index, leaves), naive.mth(leaves)


def test_inclusion_proof_with_wrong_leaf_is_rejected() -> None:
    _leaf, proof, root = _reference_inclusion()
    with pytest.raises(RootMismatchError) as caught:
        merkle.verify_inclusion(merkle.leaf_hash(b"not the entry"), 5, 8, proof, root)
    assert caught.value.expected == root
    assert caught.value.code == "merkle.root_mismatch"


def test_inclusion_proof_with_truncated_path_is_rejected() -> None:
    leaf, proof, root = _reference_inclusion()
    with pytest.raises(ProofLengthError) as caught:
        merkle.verify_inclusion(leaf, 5, 8, proof[:-1], root)
    assert (caught.value.got, caught.value.want) == (2, 3)


def test_inclusion_proof_with_extra_hash_is_rejected() -> None:
    leaf, proof, root = _reference_inclusion()
    with pytest.raises(ProofLengthError):
        merkle.verify_inclusion(leaf, 5, 8, [*proof, root], root)


def test_inclusion_proof_with_flipped_bit_is_rejected() -> None:
    leaf, proof, root = _reference_inclusion()
    for position in range(len(proof)):
        bad = list(proof)
        bad[position] = bytes([bad[position][0] ^ 1]) + bad[position][1:]
        with pytest.raises(RootMismatchError):
            merkle.verify_inclusion(leaf, 5, 8, bad, root)


def test_inclusion_proof_for_index_beyond_tree_is_rejected() -> None:
    leaf, proof, root = _reference_inclusion()
    with pytest.raises(InvalidIndexError):
        merkle.verify_inclusion(leaf, 8, 8, proof, root)
    with pytest.raises(InvalidIndexError):
        merkle.verify_inclusion(leaf, -1, 8, proof, root)


def test_inclusion_proof_with_short_hash_is_rejected() -> None:
    leaf, proof, root = _reference_inclusion()
    with pytest.raises(HashSizeError):
        merkle.verify_inclusion(leaf, 5, 8, [proof[0][:31], *proof[1:]], root)
    with pytest.raises(HashSizeError):
        merkle.verify_inclusion(leaf[:31], 5, 8, proof, root)


def test_consistency_proof_with_swapped_roots_is_rejected() -> None:
    old, new = naive.mth(REFERENCE_LEAVES[:6]), naive.mth(REFERENCE_LEAVES)
    proof = naive.proof(6, REFERENCE_LEAVES)
    merkle.verify_consistency(6, 8, proof, old, new)
    with pytest.raises(RootMismatchError):
        merkle.verify_consistency(6, 8, proof, new, old)


def test_consistency_proof_with_wrong_second_root_reports_the_second_root() -> None:
    old, new = naive.mth(REFERENCE_LEAVES[:6]), naive.mth(REFERENCE_LEAVES)
    with pytest.raises(RootMismatchError) as caught:
        merkle.verify_consistency(6, 8, naive.proof(6, REFERENCE_LEAVES), old, EMPTY_ROOT)
    assert caught.value.calculated == new


def test_consistency_from_the_empty_tree_or_backwards_is_rejected() -> None:
    with pytest.raises(InvalidSizeError):
        merkle.verify_consistency(0, 3, [], EMPTY_ROOT, naive.mth(REFERENCE_LEAVES[:3]))
    with pytest.raises(InvalidSizeError):
        merkle.verify_consistency(4, 3, [], EMPTY_ROOT, EMPTY_ROOT)
    with pytest.raises(InvalidSizeError):
        merkle.consistency_proof_plan(0, 3)


def test_consistency_proof_with_truncated_path_is_rejected() -> None:
    proof = naive.proof(6, REFERENCE_LEAVES)
    with pytest.raises(ProofLengthError):
        merkle.verify_consistency(6, 8, proof[:-1], naive.mth(REFERENCE_LEAVES[:6]), naive.mth(REFERENCE_LEAVES))


def test_every_typed_error_is_a_value_error_with_a_stable_code() -> None:
    for cls in (InvalidIndexError, InvalidSizeError, ProofLengthError, HashSizeError, RootMismatchError):
        assert issubclass(cls, ProofError)
        assert issubclass(cls, ValueError)
        assert cls.code.startswith("merkle.")


# --- Stored-node model against the naive reference --------------------------------------------------------


def test_root_from_stored_nodes_matches_naive_root_for_every_size() -> None:
    assert merkle.root_from(0, STORE.fetch) == EMPTY_ROOT
    for size in range(1, MAX_SIZE + 1):
        assert merkle.root_from(size, STORE.fetch_within(size)) == naive.mth(LEAVES[:size]), size
        assert len(merkle.root_node_ids(size)) == size.bit_count()


def test_every_proof_for_small_trees_matches_naive_proofs() -> None:
    for size in range(1, 41):
        for index in range(size):
            got = merkle.inclusion_proof(index, size, STORE.fetch_within(size))
            assert got == naive.path(index, LEAVES[:size]), (index, size)
        for first in range(1, size + 1):
            got = merkle.consistency_proof(first, size, STORE.fetch_within(size))
            assert got == naive.proof(first, LEAVES[:size]), (first, size)


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_inclusion_proof_from_stored_nodes_matches_naive_path(data: st.DataObject) -> None:
    size = data.draw(st.integers(1, MAX_SIZE), label="size")
    index = data.draw(st.integers(0, size - 1), label="index")
    calls_before = len(STORE.calls)
    proof = merkle.inclusion_proof(index, size, STORE.fetch_within(size))
    assert len(STORE.calls) - calls_before <= 1
    assert proof == naive.path(index, LEAVES[:size])
    assert len(merkle.inclusion_proof_node_ids(index, size)) <= 2 * size.bit_length()
    merkle.verify_inclusion(LEAF_HASHES[index], index, size, proof, naive.mth(LEAVES[:size]))


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_consistency_proof_from_stored_nodes_matches_naive_subproof(data: st.DataObject) -> None:
    size2 = data.draw(st.integers(1, MAX_SIZE), label="size2")
    size1 = data.draw(st.integers(1, size2), label="size1")
    calls_before = len(STORE.calls)
    proof = merkle.consistency_proof(size1, size2, STORE.fetch_within(size2))
    assert len(STORE.calls) - calls_before <= 1
    assert proof == naive.proof(size1, LEAVES[:size2])
    assert len(merkle.consistency_proof_node_ids(size1, size2)) <= 2 * size2.bit_length() + 1
    root1, root2 = naive.mth(LEAVES[:size1]), naive.mth(LEAVES[:size2])
    merkle.verify_consistency(size1, size2, proof, root1, root2)
    first, second = merkle.roots_from_consistency_proof(size1, size2, proof, root1) if size1 < size2 else (root1, root2)
    assert (first, second) == (root1, root2)


@settings(max_examples=100, deadline=None)
@given(cuts=st.lists(st.integers(0, MAX_SIZE), max_size=8))
def test_batch_append_creates_the_same_nodes_as_sequential_append(cuts: list[int]) -> None:
    store = NodeStore()
    bounds = [0, *sorted(cuts), MAX_SIZE]
    for start, end in itertools.pairwise(bounds):
        calls_before = len(store.calls)
        created = merkle.nodes_to_store_on_batch_append(start, LEAF_HASHES[start:end], store.fetch)
        assert len(store.calls) - calls_before <= 1
        if store.calls[calls_before:]:
            assert len(store.calls[-1]) <= start.bit_count()
        for node, h in created:
            assert node not in store.nodes, f"{node} created twice"
            store.nodes[node] = h
    assert store.nodes == STORE.nodes


@settings(max_examples=60, deadline=None)
@given(start=st.integers(0, MAX_SIZE), count=st.integers(0, 80))
def test_batch_append_with_root_returns_the_new_root_from_one_fetch(start: int, count: int) -> None:
    end = min(start + count, MAX_SIZE)
    store = NodeStore()
    store.nodes = {node: h for node, h in STORE.nodes.items() if (node[1] + 1) << node[0] <= start}
    result = merkle.batch_append(start, LEAF_HASHES[start:end], store.fetch)
    assert result.root == naive.mth(LEAVES[:end])
    assert result.nodes == merkle.nodes_to_store_on_batch_append(start, LEAF_HASHES[start:end], STORE.fetch)
    assert store.calls == ([merkle.root_node_ids(start)] if start else [])


def test_append_creates_exactly_the_complete_nodes() -> None:
    for size in range(MAX_SIZE + 1):
        complete = {(level, index) for level in range(size.bit_length()) for index in range(size >> level)}
        assert complete == {node for node in STORE.nodes if (node[1] + 1) << node[0] <= size}
    assert len(STORE.nodes) == 2 * MAX_SIZE - MAX_SIZE.bit_count()


def test_append_fetches_only_the_left_siblings_it_completes() -> None:
    store = NodeStore()
    for index, h in enumerate(LEAF_HASHES[:64]):
        store.calls.clear()
        store.nodes.update(merkle.nodes_to_store_on_append(index, h, store.fetch))
        trailing_ones = (index ^ (index + 1)).bit_length() - 1
        if trailing_ones == 0:
            assert store.calls == []
        else:
            assert store.calls == [[(level, (index >> level) - 1) for level in range(trailing_ones - 1, -1, -1)]]


def test_missing_stored_node_raises_missing_node_error() -> None:
    partial = NodeStore()
    partial.nodes = {node: h for node, h in STORE.nodes.items() if node != (2, 0)}
    with pytest.raises(MissingNodeError) as caught:
        merkle.inclusion_proof(7, 8, partial.fetch)
    assert caught.value.missing == ((2, 0),)
    with pytest.raises(MissingNodeError):
        merkle.root_from(5, partial.fetch)
    with pytest.raises(MissingNodeError):
        merkle.nodes_to_store_on_append(7, LEAF_HASHES[7], partial.fetch)


def test_proof_plan_lists_node_ids_for_one_batched_fetch() -> None:
    # Leaf 2 of 7: sibling leaf 3, then complete node [0,2), then the incomplete right edge [4,7).
    assert merkle.inclusion_proof_plan(2, 7) == [((0, 3),), ((1, 0),), ((1, 2), (0, 6))]
    assert merkle.inclusion_proof_node_ids(2, 7) == [(0, 3), (1, 0), (1, 2), (0, 6)]
    assert merkle.consistency_proof_plan(3, 7) == [((0, 2),), ((0, 3),), ((1, 0),), ((1, 2), (0, 6))]
    assert merkle.root_node_ids(7) == [(2, 0), (1, 2), (0, 6)]
    assert merkle.append_fetch_node_ids(7, 1) == [(2, 0), (1, 2), (0, 6)]
    assert merkle.append_fetch_node_ids(6, 1) == []
    assert merkle.append_fetch_node_ids(6, 2) == [(2, 0), (1, 2)]
    assert merkle.node_leaf_range((3, 2)) == (16, 24)


def test_batch_append_rejects_a_leaf_hash_of_the_wrong_size() -> None:
    with pytest.raises(HashSizeError):
        merkle.nodes_to_store_on_batch_append(0, [b"short"], NodeStore().fetch)


# --- Streaming accumulator --------------------------------------------------------------------------------


def test_accumulator_root_matches_naive_root_after_every_leaf() -> None:
    acc = MerkleAccumulator()
    assert acc.root() == EMPTY_ROOT
    for size, leaf in enumerate(LEAVES[:100], start=1):
        acc.append(leaf)
        assert acc.size == size
        assert acc.root() == naive.mth(LEAVES[:size])


@settings(max_examples=25, deadline=None)
@given(size=st.integers(0, 3000), resume_at=st.integers(0, 3000))
def test_accumulator_bulk_extend_matches_naive_root(size: int, resume_at: int) -> None:
    leaves = [i.to_bytes(3, "big") * (i % 5) for i in range(size)]
    resume_at = min(resume_at, size)
    want = naive.mth(leaves)

    acc = MerkleAccumulator()
    acc.extend(leaves)
    assert (acc.size, acc.root()) == (size, want)

    by_hash = MerkleAccumulator()
    by_hash.extend_leaf_hashes(merkle.leaf_hash(leaf) for leaf in leaves)
    assert by_hash.root() == want

    first = MerkleAccumulator()
    first.extend(leaves[:resume_at])
    resumed = MerkleAccumulator.from_peaks(resume_at, first.peaks)
    resumed.extend(iter(leaves[resume_at:]))
    assert resumed.root() == want


def test_accumulator_peaks_are_the_stored_root_nodes() -> None:
    for size in (1, 5, 64, 255, MAX_SIZE):
        acc = MerkleAccumulator()
        acc.extend_leaf_hashes(LEAF_HASHES[:size])
        assert acc.peaks == [STORE.nodes[node] for node in merkle.root_node_ids(size)]


def test_accumulator_accepts_aligned_subtree_roots() -> None:
    acc = MerkleAccumulator()
    acc.append_subtree(6, STORE.nodes[(6, 0)])
    acc.append_subtree(5, STORE.nodes[(5, 2)])
    acc.extend_leaf_hashes(LEAF_HASHES[96:100])
    assert acc.root() == naive.mth(LEAVES[:100])
    with pytest.raises(ValueError, match="cannot be appended"):
        acc.append_subtree(3, STORE.nodes[(3, 0)])


def test_accumulator_rejects_malformed_input() -> None:
    acc = MerkleAccumulator()
    with pytest.raises(HashSizeError):
        acc.append_leaf_hash(b"short")
    with pytest.raises(HashSizeError):
        acc.extend_leaf_hashes([b"\x00" * 32] * 1023 + [b"short"] + [b"\x00" * 32])
    with pytest.raises(ValueError, match="peaks"):
        MerkleAccumulator.from_peaks(3, [b"\x00" * 32])
