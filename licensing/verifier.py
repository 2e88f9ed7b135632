"""Offline verifier for Clearcue ledger checkpoints and proofs, for auditors.

Needs only Python, the ``cryptography`` package and this package's pure ``merkle`` and ``note`` modules;
it never imports Django and never touches the network. Run it as::

    python -m licensing.verifier checkpoint --vkey VKEY CHECKPOINT_FILE
    python -m licensing.verifier inclusion --vkey VKEY --checkpoint CHECKPOINT_FILE --proof PROOF_JSON
    python -m licensing.verifier consistency --vkey VKEY --old OLD_CHECKPOINT --new NEW_CHECKPOINT --proof PROOF_JSON

``--vkey`` takes a verifier key string (``<name>+<hex8>+<base64>``) or a file holding one key per line
(``#`` starts a comment); repeat it to trust several keys. ``--origin`` additionally pins the log's origin.

Proof files are the JSON documents served by the ledger API:

* inclusion: ``{"leaf_index": int, "tree_size": int, "leaf_hash": base64, "inclusion_path": [base64, ...]}``
  where ``"payload"`` (base64 of the raw entry bytes) may replace or accompany ``"leaf_hash"``;
* consistency: ``{"first": int, "second": int, "consistency_path": [base64, ...]}`` (RFC 9162 names;
  ``"tree_size_1"``/``"tree_size_2"`` are accepted too).

Exit status: 0 and one ``OK: ...`` line on success; 1 and ``FAIL <error class>: <message>`` when a
signature or proof does not verify; 2 and ``ERROR <error class>: <message>`` (on stderr) when the input
cannot be used (unreadable file, bad JSON or base64, malformed key, note or checkpoint).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from licensing.merkle import ProofError, leaf_hash, verify_consistency, verify_inclusion
from licensing.note import (
    AmbiguousKeyError,
    Checkpoint,
    MalformedCheckpointError,
    MalformedKeyError,
    MalformedNoteError,
    NoteError,
    NoteSignature,
    NoteVerifier,
    OriginMismatchError,
    open_checkpoint,
)

__all__ = [
    "EXIT_FAIL",
    "EXIT_OK",
    "EXIT_UNUSABLE",
    "CheckpointMismatchError",
    "ConsistencyProof",
    "InclusionProof",
    "LeafHashMismatchError",
    "UnusableInputError",
    "check_consistency",
    "check_inclusion",
    "load_verifiers",
    "main",
    "parse_consistency_proof",
    "parse_inclusion_proof",
    "read_checkpoint",
    "verify_checkpoint_file",
    "verify_consistency_files",
    "verify_inclusion_files",
]

EXIT_OK: Final = 0
EXIT_FAIL: Final = 1
EXIT_UNUSABLE: Final = 2


class UnusableInputError(Exception):
    """An input file or argument cannot be read or parsed, so nothing could be verified."""

    code = "verifier.unusable_input"


class CheckpointMismatchError(ProofError):
    """A proof is for different tree sizes than the checkpoints it is checked against."""

    code = "verifier.checkpoint_mismatch"


class LeafHashMismatchError(ProofError):
    """A proof's ``leaf_hash`` is not the RFC 9162 leaf hash of its ``payload``."""

    code = "verifier.leaf_hash_mismatch"


# Errors meaning "this does not verify" (exit 1); anything else we raise means "cannot check" (exit 2).
_FAILURES: Final = (ProofError, OriginMismatchError, NoteError)
_UNUSABLE: Final = (
    UnusableInputError,
    MalformedKeyError,
    MalformedNoteError,
    MalformedCheckpointError,
    AmbiguousKeyError,
)


@dataclass(frozen=True)
class InclusionProof:
    """An inclusion proof document: which leaf, in which tree size, and its audit path."""

    leaf_index: int
    tree_size: int
    leaf_hash: bytes
    inclusion_path: tuple[bytes, ...]


@dataclass(frozen=True)
class ConsistencyProof:
    """A consistency proof document between two tree sizes."""

    first: int
    second: int
    consistency_path: tuple[bytes, ...]


def _encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _read_bytes(path: str | Path) -> bytes:
    """Read a file (``-`` is standard input) or raise :class:`UnusableInputError`."""
    if str(path) == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise UnusableInputError(f"cannot read {path}: {exc.strerror or exc}") from None


def load_verifiers(values: Sequence[str]) -> list[NoteVerifier]:
    """Turn ``--vkey`` values (key strings, or files of one key per line) into trusted verifiers."""
    keys: list[str] = []
    for value in values:
        candidate = Path(value)
        if "+" not in value or candidate.is_file():
            text = _read_bytes(candidate).decode("utf-8", errors="replace")
            keys.extend(
                line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")
            )
        else:
            keys.append(value.strip())
    if not keys:
        raise UnusableInputError("no verifier key given")
    return [NoteVerifier.from_key_string(key) for key in keys]


def read_checkpoint(
    path: str | Path, verifiers: Sequence[NoteVerifier], *, origin: str | None = None
) -> tuple[Checkpoint, tuple[NoteSignature, ...]]:
    """Read a signed checkpoint file and verify it against the trusted keys."""
    return open_checkpoint(_read_bytes(path), verifiers, origin=origin)


def _load_json(path: str | Path) -> Mapping[str, Any]:
    raw = _read_bytes(path)
    try:
        doc = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UnusableInputError(f"{path} is not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise UnusableInputError(f"{path} must hold a JSON object")
    return doc


def _field(doc: Mapping[str, Any], *names: str) -> Any:
    for name in names:
        if name in doc:
            return doc[name]
    raise UnusableInputError(f"proof lacks the field {names[0]!r}")


def _size(doc: Mapping[str, Any], *names: str) -> int:
    value = _field(doc, *names)
    # bool is an int subclass in Python; JSON true must not pass for 1.
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise UnusableInputError(f"proof field {names[0]!r} must be a non-negative integer, got {value!r}")
    return value


def _bytes(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        raise UnusableInputError(f"proof field {what} must be a base64 string")
    try:
        return base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise UnusableInputError(f"proof field {what} is not valid base64") from None


def _path(doc: Mapping[str, Any], name: str) -> tuple[bytes, ...]:
    value = _field(doc, name)
    if not isinstance(value, list):
        raise UnusableInputError(f"proof field {name!r} must be a list of base64 strings")
    return tuple(_bytes(item, f"{name}[{i}]") for i, item in enumerate(value))


def parse_inclusion_proof(doc: Mapping[str, Any]) -> InclusionProof:
    """Validate an inclusion proof document; ``leaf_hash`` is derived from ``payload`` when needed."""
    given = _bytes(doc["leaf_hash"], "'leaf_hash'") if "leaf_hash" in doc else None
    derived = leaf_hash(_bytes(doc["payload"], "'payload'")) if "payload" in doc else None
    if given is None and derived is None:
        raise UnusableInputError("inclusion proof needs 'leaf_hash' or 'payload'")
    if given is not None and derived is not None and given != derived:
        raise LeafHashMismatchError(
            f"leaf_hash {_encode(given)} is not the leaf hash of the payload ({_encode(derived)})"
        )
    return InclusionProof(
        leaf_index=_size(doc, "leaf_index"),
        tree_size=_size(doc, "tree_size"),
        leaf_hash=derived if derived is not None else given or b"",
        inclusion_path=_path(doc, "inclusion_path"),
    )


def parse_consistency_proof(doc: Mapping[str, Any]) -> ConsistencyProof:
    """Validate a consistency proof document (``first``/``second`` or ``tree_size_1``/``tree_size_2``)."""
    return ConsistencyProof(
        first=_size(doc, "first", "tree_size_1"),
        second=_size(doc, "second", "tree_size_2"),
        consistency_path=_path(doc, "consistency_path"),
    )


def check_inclusion(checkpoint: Checkpoint, proof: InclusionProof) -> str:
    """Check that a verified checkpoint's tree contains the proof's leaf; return the OK line."""
    if proof.tree_size != checkpoint.size:
        raise CheckpointMismatchError(
            f"proof is for tree size {proof.tree_size} but the checkpoint has size {checkpoint.size}"
        )
    verify_inclusion(proof.leaf_hash, proof.leaf_index, proof.tree_size, proof.inclusion_path, checkpoint.root_hash)
    return (
        f"OK: leaf {proof.leaf_index} (leaf hash {_encode(proof.leaf_hash)}) is included in "
        f"{checkpoint.origin} at size {checkpoint.size}, root {_encode(checkpoint.root_hash)}"
    )


def check_consistency(old: Checkpoint, new: Checkpoint, proof: ConsistencyProof) -> str:
    """Check that the old checkpoint's tree is a prefix of the new one's; return the OK line."""
    if old.origin != new.origin:
        raise OriginMismatchError(f"checkpoints come from different logs: {old.origin!r} and {new.origin!r}")
    if (proof.first, proof.second) != (old.size, new.size):
        raise CheckpointMismatchError(
            f"proof is from size {proof.first} to {proof.second} but the checkpoints have sizes "
            f"{old.size} and {new.size}"
        )
    verify_consistency(proof.first, proof.second, proof.consistency_path, old.root_hash, new.root_hash)
    return (
        f"OK: {new.origin} at size {new.size} (root {_encode(new.root_hash)}) extends size {old.size} "
        f"(root {_encode(old.root_hash)})"
    )


def _signed_by(signatures: Sequence[NoteSignature]) -> str:
    return ", ".join(f"{s.name}+{s.key_id:08x}" for s in signatures)


def verify_checkpoint_file(path: str | Path, vkeys: Sequence[str], *, origin: str | None = None) -> str:
    """Verify a checkpoint file's signature; return the OK line with its origin, size and root."""
    checkpoint, signatures = read_checkpoint(path, load_verifiers(vkeys), origin=origin)
    return (
        f"OK: checkpoint {checkpoint.origin} size {checkpoint.size} root {_encode(checkpoint.root_hash)} "
        f"signed by {_signed_by(signatures)}"
    )


def verify_inclusion_files(
    checkpoint_path: str | Path, proof_path: str | Path, vkeys: Sequence[str], *, origin: str | None = None
) -> str:
    """Verify a checkpoint file, then an inclusion proof file against it; return the OK line."""
    checkpoint, _ = read_checkpoint(checkpoint_path, load_verifiers(vkeys), origin=origin)
    return check_inclusion(checkpoint, parse_inclusion_proof(_load_json(proof_path)))


def verify_consistency_files(
    old_path: str | Path,
    new_path: str | Path,
    proof_path: str | Path,
    vkeys: Sequence[str],
    *,
    origin: str | None = None,
) -> str:
    """Verify two checkpoint files, then a consistency proof between them; return the OK line."""
    verifiers = load_verifiers(vkeys)
    old, _ = read_checkpoint(old_path, verifiers, origin=origin)
    new, _ = read_checkpoint(new_path, verifiers, origin=origin)
    return check_consistency(old, new, parse_consistency_proof(_load_json(proof_path)))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m licensing.verifier",
        description="Verify Clearcue ledger checkpoints and Merkle proofs offline (RFC 9162, C2SP checkpoints).",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    def common(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--vkey",
            action="append",
            required=True,
            metavar="VKEY_STRING_OR_FILE",
            help="trusted verifier key <name>+<hex8>+<base64>, or a file of keys (repeatable)",
        )
        sub.add_argument("--origin", help="require checkpoints to come from this log origin")

    checkpoint = commands.add_parser("checkpoint", help="verify a signed checkpoint")
    common(checkpoint)
    checkpoint.add_argument("checkpoint_file", metavar="CHECKPOINT_FILE")

    inclusion = commands.add_parser("inclusion", help="verify that an entry is in a checkpoint's tree")
    common(inclusion)
    inclusion.add_argument("--checkpoint", required=True, metavar="FILE")
    inclusion.add_argument("--proof", required=True, metavar="FILE")

    consistency = commands.add_parser("consistency", help="verify that a newer checkpoint extends an older one")
    common(consistency)
    consistency.add_argument("--old", required=True, metavar="FILE")
    consistency.add_argument("--new", required=True, metavar="FILE")
    consistency.add_argument("--proof", required=True, metavar="FILE")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the process exit status (0 OK, 1 FAIL, 2 unusable input)."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "checkpoint":
            line = verify_checkpoint_file(args.checkpoint_file, args.vkey, origin=args.origin)
        elif args.command == "inclusion":
            line = verify_inclusion_files(args.checkpoint, args.proof, args.vkey, origin=args.origin)
        else:
            line = verify_consistency_files(args.old, args.new, args.proof, args.vkey, origin=args.origin)
    except _UNUSABLE as exc:
        print(f"ERROR {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_UNUSABLE
    except _FAILURES as exc:
        print(f"FAIL {type(exc).__name__}: {exc}")
        return EXIT_FAIL
    print(line)
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
