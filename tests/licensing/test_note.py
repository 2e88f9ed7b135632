"""C2SP signed notes and checkpoints: Go known-answer vectors, malformed input, and typed rejections."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from licensing import note
from licensing.note import (
    AmbiguousKeyError,
    Checkpoint,
    MalformedCheckpointError,
    MalformedKeyError,
    MalformedNoteError,
    NoteError,
    NoteSigner,
    NoteVerifier,
    OriginMismatchError,
    SignatureInvalidError,
    UnknownKeyError,
)

GO: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parent.parent / "vectors" / "note" / "sumdb-note.json").read_text()
)
TEXT: str = GO["text"]
PETER_SIG: str = GO["peter"]["signature_line"]
ENOCH_SIG: str = GO["enoch"]["signature_line"]
PETER = NoteVerifier.from_key_string(GO["peter"]["verifier_key"])
ENOCH = NoteVerifier.from_key_string(GO["enoch"]["verifier_key"])

# The C2SP tlog-checkpoint example body.
C2SP_BODY = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"


# --- Known answers from golang.org/x/mod/sumdb/note -------------------------------------------------------


def test_go_signer_key_reproduces_the_go_signature_byte_for_byte() -> None:
    signer = NoteSigner.from_key_string(GO["peter"]["signer_key"])
    assert note.sign_note(TEXT, [signer]) == TEXT + "\n" + PETER_SIG


def test_go_key_strings_round_trip_and_carry_the_expected_key_ids() -> None:
    signer = NoteSigner.from_key_string(GO["peter"]["signer_key"])
    assert signer.key_string == GO["peter"]["signer_key"]
    assert signer.verifier() == PETER
    assert PETER.key_string == GO["peter"]["verifier_key"]
    assert f"{PETER.key_id:08x}" == GO["peter"]["key_id_hex"]
    assert f"{ENOCH.key_id:08x}" == GO["enoch"]["key_id_hex"]
    assert note.key_id("PeterNeumann", PETER.public_bytes) == 0xC74F20A3


def test_note_signed_by_two_keys_opens_with_either_and_ignores_the_unknown_one() -> None:
    msg = TEXT + "\n" + PETER_SIG + ENOCH_SIG
    opened = note.open_note(msg, [PETER])
    assert opened.text == TEXT
    assert [(s.name, s.key_id) for s in opened.signatures] == [("PeterNeumann", 0xC74F20A3)]
    both = note.open_note(msg.encode("utf-8"), [PETER, ENOCH])
    assert [s.name for s in both.signatures] == ["PeterNeumann", "EnochRoot"]
    assert both.signatures[1].line + "\n" == ENOCH_SIG


def test_note_without_a_trusted_signature_raises_unknown_key_error() -> None:
    with pytest.raises(UnknownKeyError) as caught:
        note.open_note(TEXT + "\n" + PETER_SIG + ENOCH_SIG, [])
    assert [s.name for s in caught.value.signatures] == ["PeterNeumann", "EnochRoot"]
    assert caught.value.code == "note.unknown_key"


def test_signature_under_a_wrong_key_name_is_not_trusted() -> None:
    renamed = PETER_SIG.replace("PeterNeumann", "CarmenSandiego")
    with pytest.raises(UnknownKeyError):
        note.open_note(TEXT + "\n" + renamed, [PETER])


def test_signature_with_an_unknown_key_id_is_not_trusted() -> None:
    wrong_id = PETER_SIG.replace("x08g", "xxxx")
    with pytest.raises(UnknownKeyError):
        note.open_note(TEXT + "\n" + wrong_id, [PETER])


def test_tampered_signature_from_a_trusted_key_raises_signature_invalid_error() -> None:
    tampered = PETER_SIG[:60] + "ABCD" + PETER_SIG[60:]
    with pytest.raises(SignatureInvalidError) as caught:
        note.open_note(TEXT + "\n" + tampered, [PETER])
    assert (caught.value.name, caught.value.key_id) == ("PeterNeumann", 0xC74F20A3)


def test_altered_text_raises_signature_invalid_error() -> None:
    altered = TEXT.replace("cryptography", "cryptocurrency")
    with pytest.raises(SignatureInvalidError):
        note.open_note(altered + "\n" + PETER_SIG, [PETER])


def test_repeated_signatures_are_checked_once_and_unknown_ones_ignored() -> None:
    enoch_abcd = ENOCH_SIG[:60] + "ABCD" + ENOCH_SIG[60:]
    msg = TEXT + "\n" + PETER_SIG + PETER_SIG + ENOCH_SIG + ENOCH_SIG + enoch_abcd
    opened = note.open_note(msg, [PETER])
    assert [s.name for s in opened.signatures] == ["PeterNeumann"]
    assert len(note.parse_note(msg).signatures) == 5


def test_more_than_one_hundred_signatures_is_malformed() -> None:
    with pytest.raises(MalformedNoteError):
        note.open_note(TEXT + "\n" + PETER_SIG * 101, [PETER])


@pytest.mark.parametrize(
    "msg",
    [
        TEXT,
        TEXT + "\n",
        TEXT + "\n" + PETER_SIG[:-1],
        "\x01" + TEXT + "\n" + PETER_SIG,
        TEXT + "\n" + PETER_SIG.replace("PeterNeumann", "Bad Name").rstrip("\n"),
        TEXT + "\n" + PETER_SIG + "Unexpected line.\n",
        TEXT + "\n" + PETER_SIG.replace("\u2014", "-"),
        TEXT + "\n" + "\u2014 PeterNeumann AAAA\n",
        TEXT + "\n" + "\u2014 PeterNeumann not*base64\n",
        TEXT + "\n" + "\u2014 PeterNeumann\n",
    ],
    ids=[
        "no-signatures",
        "blank-line-only",
        "no-final-newline",
        "control-character",
        "space-in-key-name",
        "trailing-garbage-line",
        "hyphen-instead-of-em-dash",
        "signature-too-short",
        "signature-not-base64",
        "signature-missing",
    ],
)
def test_malformed_note_raises_malformed_note_error(msg: str) -> None:
    with pytest.raises(MalformedNoteError):
        note.open_note(msg, [PETER])


def test_note_bytes_that_are_not_utf8_are_malformed() -> None:
    with pytest.raises(MalformedNoteError):
        note.open_note(b"\xff" + (TEXT + "\n" + PETER_SIG).encode(), [PETER])


def test_every_truncation_or_mangling_of_a_verifier_key_is_rejected() -> None:
    vkey = GO["peter"]["verifier_key"]
    for i in range(len(vkey) + 1):
        for j in range(i + 1, len(vkey) + 1):
            if (i, j) != (0, len(vkey)):
                with pytest.raises(MalformedKeyError):
                    NoteVerifier.from_key_string(vkey[i:j])
    for i in range(len(vkey)):
        mangled = vkey[:i] + chr(ord(vkey[i]) + 1) + vkey[i + 1 :]
        with pytest.raises(MalformedKeyError):
            NoteVerifier.from_key_string(mangled)
    for bad in GO["bad_verifier_keys"]:
        with pytest.raises(MalformedKeyError):
            NoteVerifier.from_key_string(bad)


def test_every_truncation_or_mangling_of_a_signer_key_is_rejected() -> None:
    skey = GO["peter"]["signer_key"]
    for i in range(len(skey) + 1):
        for j in range(i + 1, len(skey) + 1):
            if (i, j) != (0, len(skey)):
                with pytest.raises(MalformedKeyError):
                    NoteSigner.from_key_string(skey[i:j])
    for i in range(len(skey)):
        mangled = skey[:i] + chr(ord(skey[i]) + 1) + skey[i + 1 :]
        with pytest.raises(MalformedKeyError):
            NoteSigner.from_key_string(mangled)


def test_two_different_keys_with_the_same_name_and_id_are_ambiguous() -> None:
    impostor_key = Ed25519PrivateKey.generate().public_key()
    impostor = NoteVerifier(
        name=PETER.name,
        key_id=PETER.key_id,
        public_key=impostor_key,
        public_bytes=NoteVerifier.from_public_key("x", impostor_key).public_bytes,
    )
    with pytest.raises(AmbiguousKeyError):
        note.open_note(TEXT + "\n" + PETER_SIG, [PETER, impostor])
    # Listing the very same key twice is harmless.
    note.open_note(TEXT + "\n" + PETER_SIG, [PETER, PETER])


# --- Generated keys and signing rules ---------------------------------------------------------------------


def test_generated_keys_sign_and_verify_and_parse_back() -> None:
    skey, vkey = note.generate_key("ledger.clearcue.example/log")
    assert skey.startswith("PRIVATE+KEY+ledger.clearcue.example/log+")
    signer, verifier = NoteSigner.from_key_string(skey), NoteVerifier.from_key_string(vkey)
    assert signer.verifier() == verifier
    signed = note.sign_note("hello\n", [signer])
    assert note.open_note(signed, [verifier]).text == "hello\n"
    # The secret is everything after "PRIVATE+KEY+<name>+" (base64 may itself contain "+": split would cut it).
    secret = skey.removeprefix("PRIVATE+KEY+ledger.clearcue.example/log+")
    assert "PRIVATE" not in repr(signer) and secret not in repr(signer)


def test_cosigned_note_lists_both_signatures_in_signer_order() -> None:
    log, witness = (NoteSigner.from_private_key(n, Ed25519PrivateKey.generate()) for n in ("log", "witness"))
    signed = note.sign_note("body\n", [log, witness])
    opened = note.open_note(signed, [witness.verifier(), log.verifier()])
    assert [s.name for s in opened.signatures] == ["log", "witness"]


@pytest.mark.parametrize("text", ["no newline", "bad\x07bell\n", ""])
def test_sign_note_rejects_text_that_cannot_be_a_note(text: str) -> None:
    signer = NoteSigner.from_key_string(GO["peter"]["signer_key"])
    with pytest.raises(MalformedNoteError):
        note.sign_note(text, [signer])


def test_key_names_with_spaces_or_plus_are_rejected() -> None:
    key = Ed25519PrivateKey.generate()
    for name in ("", "a b", "a+b", "tab\there"):
        with pytest.raises(MalformedKeyError):
            NoteSigner.from_private_key(name, key)


def test_every_note_error_is_a_value_error_with_a_stable_code() -> None:
    classes: list[type[NoteError]] = [
        MalformedNoteError,
        MalformedKeyError,
        MalformedCheckpointError,
        UnknownKeyError,
        SignatureInvalidError,
        AmbiguousKeyError,
        OriginMismatchError,
    ]
    for cls in classes:
        assert issubclass(cls, ValueError)
        assert cls.code.startswith("note.")
    assert len({cls.code for cls in classes}) == len(classes)


# --- Checkpoints ------------------------------------------------------------------------------------------


def test_c2sp_example_checkpoint_body_parses() -> None:
    cp = note.parse_checkpoint_body(C2SP_BODY)
    assert cp.origin == "example.com/behind-the-sofa"
    assert cp.size == 20852163
    assert cp.root_hash == base64.b64decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=")
    assert cp.extensions == ()
    assert note.format_checkpoint_body(cp) == C2SP_BODY


def test_checkpoint_origin_size_and_root_round_trip_through_a_signed_note() -> None:
    signer = NoteSigner.from_private_key("clearcue.example/ledger", Ed25519PrivateKey.generate())
    cp = Checkpoint("clearcue.example/ledger", 42, bytes(range(32)), ("ext one",))
    signed = note.sign_checkpoint(cp, [signer])
    assert signed.startswith("clearcue.example/ledger\n42\n")
    opened, sigs = note.open_checkpoint(signed, [signer.verifier()], origin="clearcue.example/ledger")
    assert opened == cp
    assert [s.name for s in sigs] == ["clearcue.example/ledger"]


def test_checkpoint_from_an_unexpected_origin_is_rejected() -> None:
    signer = NoteSigner.from_private_key("log-a", Ed25519PrivateKey.generate())
    signed = note.sign_checkpoint(Checkpoint("log-a", 1, b"\x00" * 32), [signer])
    with pytest.raises(OriginMismatchError):
        note.open_checkpoint(signed, [signer.verifier()], origin="log-b")


def test_checkpoint_with_tampered_size_raises_signature_invalid_error() -> None:
    signer = NoteSigner.from_private_key("log", Ed25519PrivateKey.generate())
    signed = note.sign_checkpoint(Checkpoint("log", 10, b"\x01" * 32), [signer])
    with pytest.raises(SignatureInvalidError):
        note.open_checkpoint(signed.replace("\n10\n", "\n11\n", 1), [signer.verifier()])


@pytest.mark.parametrize(
    "body",
    [
        "origin\n5\n",
        "origin\n05\n" + base64.b64encode(b"\x00" * 32).decode() + "\n",
        "origin\n+5\n" + base64.b64encode(b"\x00" * 32).decode() + "\n",
        "origin\n-1\n" + base64.b64encode(b"\x00" * 32).decode() + "\n",
        "origin\n 5\n" + base64.b64encode(b"\x00" * 32).decode() + "\n",
        "origin\n5\n" + base64.b64encode(b"\x00" * 31).decode() + "\n",
        "origin\n5\n" + base64.b64encode(b"\x00" * 32).decode().rstrip("=") + "\n",
        "origin\n5\n" + base64.b64encode(b"\x00" * 32).decode() + "\n\n",
        "origin\n5\n" + base64.b64encode(b"\x00" * 32).decode(),
        "\n5\n" + base64.b64encode(b"\x00" * 32).decode() + "\n",
    ],
    ids=[
        "missing-root",
        "leading-zero",
        "plus-sign",
        "negative",
        "space",
        "short-root",
        "unpadded-root",
        "empty-extension",
        "no-final-newline",
        "empty-origin",
    ],
)
def test_malformed_checkpoint_body_is_rejected(body: str) -> None:
    with pytest.raises(MalformedCheckpointError):
        note.parse_checkpoint_body(body)


def test_unformattable_checkpoint_is_rejected() -> None:
    for cp in (
        Checkpoint("", 1, b"\x00" * 32),
        Checkpoint("log", -1, b"\x00" * 32),
        Checkpoint("log", 1, b"\x00" * 31),
        Checkpoint("log", 1, b"\x00" * 32, ("",)),
        Checkpoint("two\nlines", 1, b"\x00" * 32),
    ):
        with pytest.raises(MalformedCheckpointError):
            note.format_checkpoint_body(cp)


_line = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=40)


@settings(max_examples=60, deadline=None)
@given(
    origin=_line,
    size=st.integers(0, 2**63),
    root=st.binary(min_size=32, max_size=32),
    extensions=st.lists(_line, max_size=3),
)
def test_checkpoint_body_round_trips(origin: str, size: int, root: bytes, extensions: list[str]) -> None:
    cp = Checkpoint(origin, size, root, tuple(extensions))
    assert note.parse_checkpoint_body(note.format_checkpoint_body(cp)) == cp
