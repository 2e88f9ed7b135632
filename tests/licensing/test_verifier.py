"""Offline auditor verifier: files as served by the ledger API, exit codes, and no Django dependency."""

from __future__ import annotations

import ast
import base64
import json
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from licensing import merkle, note, verifier
from licensing.merkle import NodeId, ProofLengthError, RootMismatchError
from licensing.note import Checkpoint, NoteSigner, SignatureInvalidError, UnknownKeyError
from licensing.verifier import (
    EXIT_FAIL,
    EXIT_OK,
    EXIT_UNUSABLE,
    CheckpointMismatchError,
    LeafHashMismatchError,
    UnusableInputError,
)

REPO = Path(__file__).resolve().parents[2]
ORIGIN = "ledger.clearcue.example/main"
PAYLOADS = [f'{{"entry": {i}, "action": "license.grant"}}'.encode() for i in range(37)]
OLD_SIZE, NEW_SIZE = 21, 37


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class Log:
    """A small ledger built with the stored-node API, plus files an auditor would download."""

    def __init__(self, directory: Path, signer: NoteSigner, payloads: Sequence[bytes] = PAYLOADS) -> None:
        self.dir = directory
        self.signer = signer
        self.payloads = list(payloads)
        self.nodes: dict[NodeId, bytes] = {}
        self.nodes.update(
            merkle.nodes_to_store_on_batch_append(0, [merkle.leaf_hash(p) for p in self.payloads], self.fetch)
        )

    def fetch(self, ids: Sequence[NodeId]) -> Mapping[NodeId, bytes]:
        return {node: self.nodes[node] for node in ids}

    def checkpoint(self, size: int, name: str | None = None, origin: str = ORIGIN) -> Path:
        cp = Checkpoint(origin, size, merkle.root_from(size, self.fetch))
        path = self.dir / (name or f"checkpoint-{size}.txt")
        path.write_text(note.sign_checkpoint(cp, [self.signer]), encoding="utf-8")
        return path

    def inclusion(self, index: int, size: int, **overrides: Any) -> Path:
        doc: dict[str, Any] = {
            "leaf_index": index,
            "tree_size": size,
            "leaf_hash": _b64(merkle.leaf_hash(self.payloads[index])),
            "inclusion_path": [_b64(h) for h in merkle.inclusion_proof(index, size, self.fetch)],
        }
        doc.update(overrides)
        doc = {k: v for k, v in doc.items() if v is not None}
        path = self.dir / f"inclusion-{index}-{size}.json"
        path.write_text(json.dumps(doc))
        return path

    def consistency(self, size1: int, size2: int, **overrides: Any) -> Path:
        doc: dict[str, Any] = {
            "first": size1,
            "second": size2,
            "consistency_path": [_b64(h) for h in merkle.consistency_proof(size1, size2, self.fetch)],
        }
        doc.update(overrides)
        doc = {k: v for k, v in doc.items() if v is not None}
        path = self.dir / f"consistency-{size1}-{size2}.json"
        path.write_text(json.dumps(doc))
        return path


@pytest.fixture
def signer() -> NoteSigner:
    return NoteSigner.from_private_key(ORIGIN, Ed25519PrivateKey.generate())


@pytest.fixture
def vkey(signer: NoteSigner) -> str:
    return signer.verifier().key_string


@pytest.fixture
def log(tmp_path: Path, signer: NoteSigner) -> Log:
    return Log(tmp_path, signer)


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = verifier.main(argv)
    out, err = capsys.readouterr()
    return status, out, err


# --- checkpoint -------------------------------------------------------------------------------------------


def test_valid_checkpoint_prints_origin_size_and_root(log: Log, vkey: str, capsys: pytest.CaptureFixture[str]) -> None:
    path = log.checkpoint(NEW_SIZE)
    status, out, _ = _run(["checkpoint", "--vkey", vkey, str(path)], capsys)
    root = _b64(merkle.root_from(NEW_SIZE, log.fetch))
    assert status == EXIT_OK
    assert out == f"OK: checkpoint {ORIGIN} size {NEW_SIZE} root {root} signed by {'+'.join(vkey.split('+', 2)[:2])}\n"


def test_checkpoint_signed_by_an_untrusted_key_fails_with_unknown_key_error(
    log: Log, capsys: pytest.CaptureFixture[str]
) -> None:
    _, other = note.generate_key(ORIGIN)
    status, out, _ = _run(["checkpoint", "--vkey", other, str(log.checkpoint(5))], capsys)
    assert status == EXIT_FAIL
    assert out.startswith("FAIL UnknownKeyError: ")
    with pytest.raises(UnknownKeyError):
        verifier.verify_checkpoint_file(log.checkpoint(5), [other])


def test_checkpoint_with_an_edited_root_fails_with_signature_invalid_error(
    log: Log, vkey: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = log.checkpoint(5)
    lines = path.read_text().split("\n")
    lines[2] = _b64(b"\x00" * 32)
    path.write_text("\n".join(lines))
    status, out, _ = _run(["checkpoint", "--vkey", vkey, str(path)], capsys)
    assert (status, out.split(":")[0]) == (EXIT_FAIL, "FAIL SignatureInvalidError")
    with pytest.raises(SignatureInvalidError):
        verifier.verify_checkpoint_file(path, [vkey])


def test_checkpoint_from_another_origin_fails_when_origin_is_pinned(
    log: Log, vkey: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = _run(["checkpoint", "--vkey", vkey, "--origin", "other.example", str(log.checkpoint(5))], capsys)
    assert (status, out.split(":")[0]) == (EXIT_FAIL, "FAIL OriginMismatchError")


def test_vkey_can_be_a_file_of_keys_with_comments(
    log: Log, vkey: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, other = note.generate_key("witness.example")
    keys = tmp_path / "trusted.keys"
    keys.write_text(f"# Clearcue ledger keys\n{other}\n\n{vkey}\n")
    status, out, _ = _run(["checkpoint", "--vkey", str(keys), str(log.checkpoint(3))], capsys)
    assert status == EXIT_OK, out


def test_malformed_vkey_is_unusable_input(log: Log, vkey: str, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = _run(["checkpoint", "--vkey", vkey[:-2], str(log.checkpoint(3))], capsys)
    assert status == EXIT_UNUSABLE
    assert out == ""
    assert err.startswith("ERROR MalformedKeyError: ")


def test_missing_or_garbled_checkpoint_file_is_unusable_input(
    log: Log, vkey: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, err = _run(["checkpoint", "--vkey", vkey, str(tmp_path / "nope.txt")], capsys)
    assert (status, err.split(":")[0]) == (EXIT_UNUSABLE, "ERROR UnusableInputError")
    garbled = tmp_path / "garbled.txt"
    garbled.write_bytes(b"not a note at all")
    status, _, err = _run(["checkpoint", "--vkey", vkey, str(garbled)], capsys)
    assert (status, err.split(":")[0]) == (EXIT_UNUSABLE, "ERROR MalformedNoteError")


def test_missing_arguments_exit_with_usage_error() -> None:
    with pytest.raises(SystemExit) as caught:
        verifier.main(["checkpoint"])
    assert caught.value.code == EXIT_UNUSABLE


# --- inclusion --------------------------------------------------------------------------------------------


def test_inclusion_proof_with_leaf_hash_verifies(log: Log, vkey: str, capsys: pytest.CaptureFixture[str]) -> None:
    for index in (0, 20, 36):
        argv = ["inclusion", "--vkey", vkey, "--checkpoint", str(log.checkpoint(NEW_SIZE))]
        status, out, _ = _run([*argv, "--proof", str(log.inclusion(index, NEW_SIZE))], capsys)
        assert status == EXIT_OK, out
        assert out.startswith(f"OK: leaf {index} (leaf hash ")
        assert f"is included in {ORIGIN} at size {NEW_SIZE}" in out


def test_inclusion_proof_with_payload_instead_of_leaf_hash_verifies(log: Log, vkey: str) -> None:
    proof = log.inclusion(7, OLD_SIZE, leaf_hash=None, payload=_b64(PAYLOADS[7]))
    line = verifier.verify_inclusion_files(log.checkpoint(OLD_SIZE), proof, [vkey])
    assert line.startswith("OK: leaf 7 ")


def test_inclusion_proof_whose_payload_disagrees_with_its_leaf_hash_fails(log: Log, vkey: str) -> None:
    proof = log.inclusion(7, OLD_SIZE, payload=_b64(PAYLOADS[8]))
    with pytest.raises(LeafHashMismatchError):
        verifier.verify_inclusion_files(log.checkpoint(OLD_SIZE), proof, [vkey])


def test_inclusion_proof_for_another_tree_size_fails_with_checkpoint_mismatch(
    log: Log, vkey: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["inclusion", "--vkey", vkey, "--checkpoint", str(log.checkpoint(NEW_SIZE))]
    status, out, _ = _run([*argv, "--proof", str(log.inclusion(3, OLD_SIZE))], capsys)
    assert (status, out.split(":")[0]) == (EXIT_FAIL, "FAIL CheckpointMismatchError")


def test_inclusion_proof_for_a_different_entry_fails_with_root_mismatch(
    log: Log, vkey: str, capsys: pytest.CaptureFixture[str]
) -> None:
    proof = log.inclusion(3, NEW_SIZE, leaf_hash=_b64(merkle.leaf_hash(b"forged entry")))
    argv = ["inclusion", "--vkey", vkey, "--checkpoint", str(log.checkpoint(NEW_SIZE)), "--proof", str(proof)]
    status, out, _ = _run(argv, capsys)
    assert (status, out.split(":")[0]) == (EXIT_FAIL, "FAIL RootMismatchError")
    with pytest.raises(RootMismatchError):
        verifier.verify_inclusion_files(log.checkpoint(NEW_SIZE), proof, [vkey])


def test_inclusion_proof_with_a_dropped_hash_fails_with_proof_length_error(log: Log, vkey: str) -> None:
    good = json.loads(log.inclusion(3, NEW_SIZE).read_text())
    proof = log.inclusion(3, NEW_SIZE, inclusion_path=good["inclusion_path"][:-1])
    with pytest.raises(ProofLengthError):
        verifier.verify_inclusion_files(log.checkpoint(NEW_SIZE), proof, [vkey])


@pytest.mark.parametrize(
    "overrides",
    [
        {"leaf_index": True},
        {"leaf_index": -1},
        {"tree_size": "37"},
        {"leaf_hash": "not base64!"},
        {"leaf_hash": None},
        {"inclusion_path": "AAAA"},
        {"inclusion_path": [17]},
    ],
    ids=["bool-index", "negative-index", "string-size", "bad-base64", "no-leaf", "path-not-list", "path-item"],
)
def test_malformed_inclusion_proof_is_unusable_input(
    log: Log, vkey: str, overrides: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    proof = log.inclusion(3, NEW_SIZE, **overrides)
    argv = ["inclusion", "--vkey", vkey, "--checkpoint", str(log.checkpoint(NEW_SIZE)), "--proof", str(proof)]
    status, _, err = _run(argv, capsys)
    assert (status, err.split(":")[0]) == (EXIT_UNUSABLE, "ERROR UnusableInputError")


def test_inclusion_proof_that_is_not_json_is_unusable_input(log: Log, vkey: str, tmp_path: Path) -> None:
    bad = tmp_path / "proof.json"
    bad.write_text("{not json")
    with pytest.raises(UnusableInputError):
        verifier.verify_inclusion_files(log.checkpoint(NEW_SIZE), bad, [vkey])


# --- consistency ------------------------------------------------------------------------------------------


def test_consistency_proof_between_two_checkpoints_verifies(
    log: Log, vkey: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["consistency", "--vkey", vkey, "--old", str(log.checkpoint(OLD_SIZE)), "--new"]
    status, out, _ = _run([*argv, str(log.checkpoint(NEW_SIZE)), "--proof", str(log.consistency(21, 37))], capsys)
    assert status == EXIT_OK, out
    assert out.startswith(f"OK: {ORIGIN} at size {NEW_SIZE} ")
    assert f"extends size {OLD_SIZE}" in out


def test_consistency_proof_accepts_tree_size_field_names(log: Log, vkey: str) -> None:
    proof = log.consistency(OLD_SIZE, NEW_SIZE, first=None, second=None, tree_size_1=OLD_SIZE, tree_size_2=NEW_SIZE)
    line = verifier.verify_consistency_files(log.checkpoint(OLD_SIZE), log.checkpoint(NEW_SIZE), proof, [vkey])
    assert line.startswith("OK: ")


def test_consistency_proof_with_a_truncated_path_fails_with_proof_length_error(
    log: Log, vkey: str, capsys: pytest.CaptureFixture[str]
) -> None:
    good = json.loads(log.consistency(OLD_SIZE, NEW_SIZE).read_text())
    proof = log.consistency(OLD_SIZE, NEW_SIZE, consistency_path=good["consistency_path"][:-1])
    argv = ["consistency", "--vkey", vkey, "--old", str(log.checkpoint(OLD_SIZE))]
    status, out, _ = _run([*argv, "--new", str(log.checkpoint(NEW_SIZE)), "--proof", str(proof)], capsys)
    assert (status, out.split(":")[0]) == (EXIT_FAIL, "FAIL ProofLengthError")


def test_consistency_with_a_rewritten_history_fails_with_root_mismatch(log: Log, vkey: str, tmp_path: Path) -> None:
    # The fork rewrites entry 10, before the old checkpoint: its proof cannot reproduce the old root.
    forked_payloads = [*PAYLOADS[:10], b"rewritten entry", *PAYLOADS[11:]]
    (tmp_path / "fork").mkdir()
    fork = Log(tmp_path / "fork", log.signer, forked_payloads)
    with pytest.raises(RootMismatchError):
        verifier.verify_consistency_files(
            log.checkpoint(OLD_SIZE), fork.checkpoint(NEW_SIZE), fork.consistency(OLD_SIZE, NEW_SIZE), [vkey]
        )


def test_consistency_proof_for_other_sizes_fails_with_checkpoint_mismatch(log: Log, vkey: str) -> None:
    with pytest.raises(CheckpointMismatchError):
        verifier.verify_consistency_files(
            log.checkpoint(OLD_SIZE), log.checkpoint(NEW_SIZE), log.consistency(20, NEW_SIZE), [vkey]
        )


def test_consistency_between_two_logs_fails_with_origin_mismatch(log: Log, vkey: str) -> None:
    other = log.checkpoint(NEW_SIZE, name="other.txt", origin="other.example/log")
    with pytest.raises(note.OriginMismatchError):
        verifier.verify_consistency_files(log.checkpoint(OLD_SIZE), other, log.consistency(OLD_SIZE, NEW_SIZE), [vkey])


# --- Packaging: runnable as a module, free of Django ------------------------------------------------------


def test_module_runs_offline_as_a_script(log: Log, vkey: str) -> None:
    argv = ["inclusion", "--vkey", vkey, "--checkpoint", str(log.checkpoint(NEW_SIZE))]
    argv += ["--proof", str(log.inclusion(36, NEW_SIZE))]
    done = subprocess.run(
        [sys.executable, "-m", "licensing.verifier", *argv], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert done.returncode == EXIT_OK, done.stderr
    assert done.stdout.startswith("OK: leaf 36 ")
    probe = subprocess.run(
        [sys.executable, "-c", "import sys, licensing.verifier; print('django' in sys.modules)"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    assert probe.stdout.strip() == "False"


@pytest.mark.parametrize("module", ["merkle", "note", "verifier"])
def test_pure_module_imports_only_stdlib_cryptography_and_its_siblings(module: str) -> None:
    tree = ast.parse((REPO / "licensing" / f"{module}.py").read_text())
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            roots.add(node.module)
    allowed_local = {"licensing.merkle", "licensing.note"}
    for name in roots:
        top = name.split(".")[0]
        assert top in sys.stdlib_module_names or top == "cryptography" or name in allowed_local, name
