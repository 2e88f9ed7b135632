"""Ledger fixtures: a signing key per test and helpers to write entries."""

from __future__ import annotations

import pytest
from django.db import transaction

from licensing import note
from licensing.actions import do_append_ledger_entries
from licensing.ledger import Actor, EntryDraft


@pytest.fixture
def ledger_key(settings) -> tuple[str, str]:
    """A fresh checkpoint signing key configured for this test; returns (signer, verifier) key strings."""
    signer, verifier = note.generate_key(settings.LEDGER_ORIGIN)
    settings.LEDGER_SIGNING_KEY = signer
    return signer, verifier


def append(n: int, *, prefix: str = "e", actor: Actor | None = None) -> list:
    """Append n simple entries in one transaction."""
    drafts = [EntryDraft("ledger.note", {"n": i, "tag": f"{prefix}{i}"}, "test", str(i)) for i in range(n)]
    with transaction.atomic():
        return do_append_ledger_entries(drafts, actor=actor or Actor.system("tests"))
