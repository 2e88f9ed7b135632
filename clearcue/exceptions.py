"""The domain rejection type shared by every app (free of DRF, so actions can raise it anywhere)."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A rejection by a domain rule, with a stable code, a sentence and the offending ids."""

    def __init__(self, code: str, message: str, *, details: Any = None, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details
        self.status = status
