"""API key format: `cc_<prefix>_<secret>`, recognisable, looked up by prefix, verified by SHA-256.

The secret carries 256 bits of entropy, so a fast hash is sufficient (as for GitHub tokens): a digest
leak does not allow a guess, and authentication stays a single indexed lookup.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

KEY_PREFIX = "cc_"
_KEY_RE = re.compile(r"^cc_([a-z0-9]{12})_([A-Za-z0-9_-]{43})$")


@dataclass(frozen=True)
class NewKey:
    """A freshly generated key: `plaintext` is shown to the user once and never stored."""

    plaintext: str
    prefix: str
    secret_sha256: str


def generate() -> NewKey:
    """Create a new random API key."""
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    prefix = "".join(secrets.choice(alphabet) for _ in range(12))
    secret = secrets.token_urlsafe(32)  # 43 characters, 256 bits
    return NewKey(plaintext=f"{KEY_PREFIX}{prefix}_{secret}", prefix=prefix, secret_sha256=_digest(secret))


def split(plaintext: str) -> tuple[str, str] | None:
    """Return (prefix, secret) of a well-formed key, or None."""
    match = _KEY_RE.match(plaintext)
    return (match.group(1), match.group(2)) if match else None


def secret_matches(secret: str, stored_sha256: str) -> bool:
    """Constant-time comparison of a presented secret with the stored digest."""
    return hmac.compare_digest(_digest(secret), stored_sha256)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii")).hexdigest()
