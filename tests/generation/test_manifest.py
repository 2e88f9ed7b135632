"""Training-manifest Merkle trees: roots match RFC 9162, presence and absence proofs verify, forgeries fail."""

from __future__ import annotations

import hashlib
import random

import pytest

from generation.manifest import (
    ManifestError,
    ManifestRecord,
    MembershipProof,
    prove_membership,
    root_of,
    sort_records,
    tree_hash,
    verify_membership,
)
from licensing import merkle


def _records(n: int, seed: int = 0) -> list[ManifestRecord]:
    rng = random.Random(seed)
    keys = rng.sample(range(10_000), n)
    return sort_records(ManifestRecord(f"corpus/work-{k:05d}.abc", hashlib.sha256(str(k).encode()).hexdigest(),
                                       f"lic-{k % 3}", "permission") for k in keys)


def _naive_mth(leaves: list[bytes]) -> bytes:
    """RFC 9162 §2.1.1 MTH written directly from the definition (reference only)."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return merkle.node_hash(_naive_mth(leaves[:k]), _naive_mth(leaves[k:]))


@pytest.mark.parametrize("n", [0, 1, 2, 3, 7, 8, 33])
def test_manifest_root_is_the_rfc9162_tree_hash_of_sorted_canonical_records(n: int) -> None:
    records = _records(n)
    assert root_of(records) == _naive_mth([r.leaf() for r in records])


def test_the_same_records_in_any_order_give_the_same_root() -> None:
    records = _records(20)
    shuffled = records[:]
    random.Random(3).shuffle(shuffled)
    assert root_of(sort_records(shuffled)) == root_of(records)


def test_a_changed_asset_hash_or_license_changes_the_root() -> None:
    records = _records(10)
    changed = records[:]
    changed[4] = ManifestRecord(records[4].work, "0" * 64, records[4].license, records[4].basis)
    assert root_of(changed) != root_of(records)
    relicensed = records[:]
    relicensed[4] = ManifestRecord(records[4].work, records[4].sha256, "other-license", records[4].basis)
    assert root_of(relicensed) != root_of(records)


def test_a_work_listed_twice_is_refused() -> None:
    record = _records(1)[0]
    with pytest.raises(ManifestError) as exc:
        sort_records([record, record])
    assert exc.value.code == "manifest_duplicate_work"


@pytest.mark.parametrize("n", [1, 2, 5, 16, 31])
def test_every_member_has_a_presence_proof_that_verifies(n: int) -> None:
    records = _records(n)
    root = root_of(records)
    for record in records:
        proof = prove_membership(record.work, records)
        assert proof.included
        assert verify_membership(MembershipProof.from_json(proof.to_json()), root) is True


@pytest.mark.parametrize("work", ["corpus/aaa.abc", "corpus/work-05000x.abc", "corpus/zzz.abc"])
def test_absent_works_get_an_absence_proof_from_their_neighbours(work: str) -> None:
    records = _records(25)
    proof = prove_membership(work, records)
    assert not proof.included
    assert verify_membership(proof, root_of(records)) is False


def test_absence_in_an_empty_manifest() -> None:
    proof = prove_membership("corpus/x.abc", [])
    assert verify_membership(proof, tree_hash([])) is False


def test_a_presence_proof_against_another_root_fails() -> None:
    records = _records(9)
    proof = prove_membership(records[3].work, records)
    with pytest.raises(merkle.ProofError):
        verify_membership(proof, root_of(_records(9, seed=1)))


def test_claiming_absence_with_non_adjacent_neighbours_fails() -> None:
    records = _records(12)
    honest = prove_membership(records[5].work, records)  # present: forge an absence claim around it
    left = prove_membership(records[4].work, records).leaves[0]
    right = prove_membership(records[6].work, records).leaves[0]
    forged = MembershipProof(honest.work, honest.size, False, (left, right))
    with pytest.raises(ManifestError) as exc:
        verify_membership(forged, root_of(records))
    assert exc.value.code == "manifest_proof_not_adjacent"


def test_a_tampered_record_inside_a_proof_fails() -> None:
    records = _records(8)
    proof = prove_membership(records[2].work, records)
    data = proof.to_json()
    data["leaves"][0]["record"]["license"] = "forged"
    with pytest.raises(merkle.ProofError):
        verify_membership(MembershipProof.from_json(data), root_of(records))


def test_malformed_proof_json_is_a_typed_error() -> None:
    with pytest.raises(ManifestError) as exc:
        MembershipProof.from_json({"work": "x", "size": 1, "included": True, "leaves": [{"index": 0}]})
    assert exc.value.code == "manifest_proof_malformed"
