"""C2SP signed notes and tlog checkpoints with Ed25519 keys, compatible with golang.org/x/mod/sumdb/note.

Signed note (c2sp.org/signed-note): a UTF-8 text ending in a newline, a blank line, then one or more
lines ``— <key name> <base64(4-byte key id || signature)>`` (U+2014 em dash). The Ed25519 key id is
``SHA-256(key name || 0x0A || 0x01 || 32-byte public key)[:4]`` read big-endian, and keys travel as

* verifier key: ``<name>+<hex8 key id>+<base64(0x01 || public key)>``
* signer key:   ``PRIVATE+KEY+<name>+<hex8 key id>+<base64(0x01 || 32-byte seed)>``

Checkpoint (c2sp.org/tlog-checkpoint): a signed note whose text is ``<origin>\\n<tree size>\\n<base64 RFC
6962 root>\\n`` followed by optional non-empty extension lines.

Opening a note follows the Go implementation: signatures from unknown keys are ignored, a known key's
bad signature rejects the whole note, and a note with no verified signature is rejected.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final, NamedTuple

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

__all__ = [
    "ALG_ED25519",
    "SIGNATURE_PREFIX",
    "AmbiguousKeyError",
    "Checkpoint",
    "MalformedCheckpointError",
    "MalformedKeyError",
    "MalformedNoteError",
    "NoteError",
    "NoteSignature",
    "NoteSigner",
    "NoteVerifier",
    "OpenedNote",
    "OriginMismatchError",
    "ParsedNote",
    "SignatureInvalidError",
    "UnknownKeyError",
    "format_checkpoint_body",
    "generate_key",
    "key_id",
    "open_checkpoint",
    "open_note",
    "parse_checkpoint_body",
    "parse_note",
    "sign_checkpoint",
    "sign_note",
]

ALG_ED25519: Final = 0x01
SIGNATURE_PREFIX: Final = "\u2014 "  # em dash, space
SIGNER_KEY_PREFIX: Final = "PRIVATE+KEY+"
# The spec asks verifiers to accept at least 16 signatures; Go stops at 100 to bound parsing work.
MAX_SIGNATURES: Final = 100
ROOT_HASH_SIZE: Final = 32

_HEX8 = re.compile(r"[0-9a-fA-F]{8}")
_DECIMAL = re.compile(r"0|[1-9][0-9]*")


class NoteError(ValueError):
    """A signed note or checkpoint could not be parsed or verified."""

    code = "note.invalid"


class MalformedNoteError(NoteError):
    """The note violates the signed-note syntax (encoding, blank line, signature lines)."""

    code = "note.malformed"


class MalformedKeyError(NoteError):
    """A signer or verifier key string is malformed or its key id does not match its key."""

    code = "note.malformed_key"


class MalformedCheckpointError(NoteError):
    """The note text is not a tlog-checkpoint body (origin, size, root hash, extensions)."""

    code = "note.malformed_checkpoint"


class UnknownKeyError(NoteError):
    """No signature in the note comes from a trusted key, so its text must be ignored."""

    code = "note.unknown_key"

    def __init__(self, message: str, *, signatures: Sequence[NoteSignature]) -> None:
        super().__init__(message)
        self.signatures = tuple(signatures)


class SignatureInvalidError(NoteError):
    """A signature from a trusted key does not verify: the note was altered or mis-signed."""

    code = "note.signature_invalid"

    def __init__(self, message: str, *, name: str, key_id: int) -> None:
        super().__init__(message)
        self.name = name
        self.key_id = key_id


class AmbiguousKeyError(NoteError):
    """Two different trusted keys share a key name and key id, so a signature cannot be attributed."""

    code = "note.ambiguous_key"


class OriginMismatchError(NoteError):
    """A checkpoint comes from a different log (origin line) than the one expected."""

    code = "note.origin_mismatch"


def key_id(name: str, public_key: bytes) -> int:
    """Return the Ed25519 key id: ``SHA-256(name || 0x0A || 0x01 || public_key)[:4]`` as an integer."""
    digest = hashlib.sha256(name.encode() + b"\n" + bytes([ALG_ED25519]) + public_key).digest()
    return int.from_bytes(digest[:4], "big")


def _is_valid_name(name: str) -> bool:
    """Key names are non-empty and contain neither Unicode spaces nor ``+`` (c2sp.org/signed-note)."""
    return bool(name) and "+" not in name and not any(ch.isspace() for ch in name)


def _b64decode(text: str) -> bytes:
    """Strict standard base64 (RFC 4648 §4): padding required, no stray characters."""
    return base64.b64decode(text.encode("ascii"), validate=True)


def _b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


@dataclass(frozen=True)
class NoteVerifier:
    """A trusted Ed25519 note key: name, key id and public key."""

    name: str
    key_id: int
    public_key: Ed25519PublicKey = field(repr=False, compare=False)
    public_bytes: bytes = field(repr=False)

    @classmethod
    def from_public_key(cls, name: str, public_key: Ed25519PublicKey) -> NoteVerifier:
        """Build a verifier for ``name`` from an Ed25519 public key."""
        if not _is_valid_name(name):
            raise MalformedKeyError(f"invalid key name {name!r}: empty, or contains a space or '+'")
        raw = _raw_public(public_key)
        return cls(name=name, key_id=key_id(name, raw), public_key=public_key, public_bytes=raw)

    @classmethod
    def from_key_string(cls, vkey: str) -> NoteVerifier:
        """Parse ``<name>+<hex8>+<base64(0x01 || public key)>`` and check its key id."""
        parts = vkey.split("+", 2)
        if len(parts) != 3:
            raise MalformedKeyError("verifier key must look like <name>+<hex8 key id>+<base64 key>")
        name, hex_id, key64 = parts
        if not _is_valid_name(name) or not _HEX8.fullmatch(hex_id):
            raise MalformedKeyError(f"verifier key has a malformed name or key id: {name!r} {hex_id!r}")
        try:
            raw = _b64decode(key64)
        except (binascii.Error, UnicodeEncodeError, ValueError):
            raise MalformedKeyError("verifier key data is not valid base64") from None
        if len(raw) != 33 or raw[0] != ALG_ED25519:
            raise MalformedKeyError("verifier key is not an Ed25519 key (algorithm byte 0x01, 32 bytes)")
        if int(hex_id, 16) != key_id(name, raw[1:]):
            raise MalformedKeyError(f"verifier key id {hex_id} does not match the key for {name!r}")
        return cls(
            name=name,
            key_id=int(hex_id, 16),
            public_key=Ed25519PublicKey.from_public_bytes(raw[1:]),
            public_bytes=raw[1:],
        )

    @property
    def key_string(self) -> str:
        """The verifier key string ``<name>+<hex8>+<base64(0x01 || public key)>``."""
        raw = bytes([ALG_ED25519]) + self.public_bytes
        return f"{self.name}+{self.key_id:08x}+{_b64encode(raw)}"

    def verify(self, message: bytes, signature: bytes) -> None:
        """Check an Ed25519 signature over ``message``; raise :class:`SignatureInvalidError` if it fails."""
        try:
            self.public_key.verify(signature, message)
        except InvalidSignature:
            raise SignatureInvalidError(
                f"invalid signature for key {self.name}+{self.key_id:08x}", name=self.name, key_id=self.key_id
            ) from None


@dataclass(frozen=True)
class NoteSigner:
    """An Ed25519 note signing key (keep it secret: anyone holding it can sign as the log)."""

    name: str
    key_id: int
    private_key: Ed25519PrivateKey = field(repr=False, compare=False)

    @classmethod
    def from_private_key(cls, name: str, private_key: Ed25519PrivateKey) -> NoteSigner:
        """Build a signer for ``name`` from an Ed25519 private key."""
        if not _is_valid_name(name):
            raise MalformedKeyError(f"invalid key name {name!r}: empty, or contains a space or '+'")
        return cls(name=name, key_id=key_id(name, _raw_public(private_key.public_key())), private_key=private_key)

    @classmethod
    def from_key_string(cls, skey: str) -> NoteSigner:
        """Parse ``PRIVATE+KEY+<name>+<hex8>+<base64(0x01 || seed)>`` and check its key id."""
        if not skey.startswith(SIGNER_KEY_PREFIX):
            raise MalformedKeyError("signer key must start with PRIVATE+KEY+")
        parts = skey[len(SIGNER_KEY_PREFIX) :].split("+", 2)
        if len(parts) != 3:
            raise MalformedKeyError("signer key must look like PRIVATE+KEY+<name>+<hex8>+<base64 seed>")
        name, hex_id, key64 = parts
        if not _is_valid_name(name) or not _HEX8.fullmatch(hex_id):
            raise MalformedKeyError("signer key has a malformed name or key id")
        try:
            raw = _b64decode(key64)
        except (binascii.Error, UnicodeEncodeError, ValueError):
            raise MalformedKeyError("signer key data is not valid base64") from None
        if len(raw) != 33 or raw[0] != ALG_ED25519:
            raise MalformedKeyError("signer key is not an Ed25519 seed (algorithm byte 0x01, 32 bytes)")
        signer = cls.from_private_key(name, Ed25519PrivateKey.from_private_bytes(raw[1:]))
        # The key id hashes the public key, so it can only be checked after deriving it from the seed.
        if signer.key_id != int(hex_id, 16):
            raise MalformedKeyError(f"signer key id {hex_id} does not match the key for {name!r}")
        return signer

    @property
    def key_string(self) -> str:
        """The secret signer key string ``PRIVATE+KEY+<name>+<hex8>+<base64(0x01 || seed)>``."""
        seed = self.private_key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        return f"{SIGNER_KEY_PREFIX}{self.name}+{self.key_id:08x}+{_b64encode(bytes([ALG_ED25519]) + seed)}"

    def verifier(self) -> NoteVerifier:
        """Return the matching public verifier."""
        return NoteVerifier.from_public_key(self.name, self.private_key.public_key())

    def sign(self, message: bytes) -> bytes:
        """Return the raw 64-byte Ed25519 signature over ``message``."""
        return self.private_key.sign(message)


def generate_key(name: str) -> tuple[str, str]:
    """Generate a fresh Ed25519 note key for ``name``; return ``(signer_key_string, verifier_key_string)``."""
    signer = NoteSigner.from_private_key(name, Ed25519PrivateKey.generate())
    return signer.key_string, signer.verifier().key_string


class NoteSignature(NamedTuple):
    """One signature line: key name, key id and the raw signature bytes (without the key id)."""

    name: str
    key_id: int
    signature: bytes

    @property
    def line(self) -> str:
        """The signature line as written in a note, without its newline."""
        blob = self.key_id.to_bytes(4, "big") + self.signature
        return f"{SIGNATURE_PREFIX}{self.name} {_b64encode(blob)}"


class ParsedNote(NamedTuple):
    """A syntactically valid note: its text and every signature line, none of them verified yet."""

    text: str
    signatures: tuple[NoteSignature, ...]


class OpenedNote(NamedTuple):
    """A note whose text is vouched for: ``signatures`` are the ones verified by trusted keys."""

    text: str
    signatures: tuple[NoteSignature, ...]


def _as_text(note: str | bytes) -> str:
    """Decode to text, enforcing the signed-note encoding rules (UTF-8, no control chars but newline)."""
    if isinstance(note, bytes):
        try:
            note = note.decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedNoteError("note is not valid UTF-8") from None
    else:
        try:
            note.encode("utf-8")
        except UnicodeEncodeError:
            raise MalformedNoteError("note is not valid UTF-8") from None
    if any(ch < " " and ch != "\n" for ch in note):
        raise MalformedNoteError("note contains an ASCII control character other than newline")
    return note


def parse_note(note: str | bytes) -> ParsedNote:
    """Split a signed note into its text and signature lines, checking syntax only (no verification)."""
    note = _as_text(note)
    split = note.rfind("\n\n")
    if split < 0:
        raise MalformedNoteError("note has no blank line before its signatures")
    text, block = note[: split + 1], note[split + 2 :]
    if not block or not block.endswith("\n"):
        raise MalformedNoteError("note has no signature lines, or they do not end with a newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise MalformedNoteError(f"note has more than {MAX_SIGNATURES} signatures")
    signatures: list[NoteSignature] = []
    for line in lines:
        if not line.startswith(SIGNATURE_PREFIX):
            raise MalformedNoteError("signature line does not start with an em dash and a space")
        name, _, b64 = line[len(SIGNATURE_PREFIX) :].partition(" ")
        if not _is_valid_name(name) or not b64:
            raise MalformedNoteError(f"signature line has a malformed key name or no signature: {line!r}")
        try:
            blob = _b64decode(b64)
        except (binascii.Error, UnicodeEncodeError, ValueError):
            raise MalformedNoteError(f"signature for {name!r} is not valid base64") from None
        if len(blob) < 5:
            raise MalformedNoteError(f"signature for {name!r} is too short")
        signatures.append(NoteSignature(name, int.from_bytes(blob[:4], "big"), blob[4:]))
    return ParsedNote(text, tuple(signatures))


def _check_text(text: str) -> None:
    """A signable note text is valid note text that ends with a newline."""
    _as_text(text)
    if not text.endswith("\n"):
        raise MalformedNoteError("note text must end with a newline")


def sign_note(text: str, signers: Sequence[NoteSigner]) -> str:
    """Sign ``text`` (which must end in a newline) with every signer and return the signed note."""
    _check_text(text)
    if not signers:
        raise ValueError("at least one signer is required")
    message = text.encode("utf-8")
    lines = [NoteSignature(s.name, s.key_id, s.sign(message)).line for s in signers]
    return text + "\n" + "".join(line + "\n" for line in lines)


def open_note(note: str | bytes, verifiers: Iterable[NoteVerifier]) -> OpenedNote:
    """Verify a signed note against trusted keys and return its text and verified signatures.

    Signatures from unknown keys (name and key id not both matching a trusted key) are ignored, as the
    spec requires; repeated signatures by one key are checked once. Raises :class:`MalformedNoteError`,
    :class:`SignatureInvalidError` (a trusted key's signature fails), :class:`UnknownKeyError` (no
    trusted key signed) or :class:`AmbiguousKeyError`.
    """
    parsed = parse_note(note)
    known: dict[tuple[str, int], NoteVerifier | None] = {}
    for verifier in verifiers:
        slot = (verifier.name, verifier.key_id)
        previous = known.get(slot, verifier)
        # The same key listed twice is harmless; two different keys behind one (name, id) are not.
        known[slot] = verifier if previous is not None and previous == verifier else None
    message = parsed.text.encode("utf-8")
    verified: list[NoteSignature] = []
    seen: set[tuple[str, int]] = set()
    for sig in parsed.signatures:
        slot = (sig.name, sig.key_id)
        if slot not in known:
            continue
        trusted = known[slot]
        if trusted is None:
            raise AmbiguousKeyError(f"ambiguous key {sig.name}+{sig.key_id:08x}")
        if slot in seen:
            continue
        seen.add(slot)
        trusted.verify(message, sig.signature)
        verified.append(sig)
    if not verified:
        names = ", ".join(f"{s.name}+{s.key_id:08x}" for s in parsed.signatures)
        raise UnknownKeyError(
            f"note has no signature from a trusted key (signed by: {names})", signatures=parsed.signatures
        )
    return OpenedNote(parsed.text, tuple(verified))


# --- Checkpoints ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    """A tlog checkpoint body: the log's origin, tree size, RFC 6962 root hash and extension lines."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()


def _check_line(value: str, what: str) -> None:
    if not value or "\n" in value:
        raise MalformedCheckpointError(f"checkpoint {what} must be a non-empty single line")


def format_checkpoint_body(checkpoint: Checkpoint) -> str:
    """Return the checkpoint note text ``origin\\nsize\\nbase64(root)\\n`` plus extension lines."""
    _check_line(checkpoint.origin, "origin")
    if checkpoint.size < 0:
        raise MalformedCheckpointError(f"checkpoint size must be >= 0, got {checkpoint.size}")
    if len(checkpoint.root_hash) != ROOT_HASH_SIZE:
        raise MalformedCheckpointError(f"checkpoint root hash must be {ROOT_HASH_SIZE} bytes")
    for extension in checkpoint.extensions:
        _check_line(extension, "extension line")
    lines = [checkpoint.origin, str(checkpoint.size), _b64encode(checkpoint.root_hash), *checkpoint.extensions]
    text = "".join(line + "\n" for line in lines)
    try:
        _as_text(text)
    except MalformedNoteError as exc:
        raise MalformedCheckpointError(str(exc)) from None
    return text


def parse_checkpoint_body(text: str) -> Checkpoint:
    """Parse checkpoint note text (c2sp.org/tlog-checkpoint), strictly."""
    if not text.endswith("\n"):
        raise MalformedCheckpointError("checkpoint text must end with a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise MalformedCheckpointError("checkpoint needs origin, size and root hash lines")
    origin, size_line, root_line, *extensions = lines
    if not origin:
        raise MalformedCheckpointError("checkpoint origin is empty")
    if not _DECIMAL.fullmatch(size_line):
        raise MalformedCheckpointError(f"checkpoint size {size_line!r} is not a canonical decimal number")
    try:
        root = _b64decode(root_line)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise MalformedCheckpointError("checkpoint root hash is not valid base64") from None
    if len(root) != ROOT_HASH_SIZE:
        raise MalformedCheckpointError(f"checkpoint root hash has {len(root)} bytes, want {ROOT_HASH_SIZE}")
    if any(not line for line in extensions):
        raise MalformedCheckpointError("checkpoint extension lines must be non-empty")
    return Checkpoint(origin=origin, size=int(size_line), root_hash=root, extensions=tuple(extensions))


def sign_checkpoint(checkpoint: Checkpoint, signers: Sequence[NoteSigner]) -> str:
    """Format and sign a checkpoint; the log's key name should equal its origin."""
    return sign_note(format_checkpoint_body(checkpoint), signers)


def open_checkpoint(
    note: str | bytes, verifiers: Iterable[NoteVerifier], *, origin: str | None = None
) -> tuple[Checkpoint, tuple[NoteSignature, ...]]:
    """Verify a signed checkpoint and parse it; optionally require a given origin."""
    opened = open_note(note, verifiers)
    checkpoint = parse_checkpoint_body(opened.text)
    if origin is not None and checkpoint.origin != origin:
        raise OriginMismatchError(f"checkpoint origin {checkpoint.origin!r} is not the expected {origin!r}")
    return checkpoint, opened.signatures
