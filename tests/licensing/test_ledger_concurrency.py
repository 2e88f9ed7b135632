"""Concurrent writers on PostgreSQL never produce gaps or duplicate leaf indices."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction

from licensing import ledger
from licensing.actions import do_append_ledger_entries
from licensing.ledger import Actor, EntryDraft, verify_ledger
from licensing.models import LedgerEntry

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_concurrent_writers_get_dense_unique_indices_and_a_verifiable_tree(settings):
    from licensing import note

    settings.LEDGER_SIGNING_KEY = note.generate_key(settings.LEDGER_ORIGIN)[0]
    writers, rounds = 8, 15
    start = threading.Barrier(writers)
    errors: list[BaseException] = []

    def writer(w: int) -> None:
        try:
            start.wait()
            for r in range(rounds):
                batch = 1 + (w + r) % 3  # mix single and batched appends
                drafts = [EntryDraft("ledger.note", {"writer": w, "round": r, "i": i}) for i in range(batch)]
                with transaction.atomic():
                    do_append_ledger_entries(drafts, actor=Actor.system(f"writer-{w}"))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    expected = sum(1 + (w + r) % 3 for w in range(writers) for r in range(rounds))
    indices = list(LedgerEntry.objects.order_by("leaf_index").values_list("leaf_index", flat=True))
    assert indices == list(range(expected))
    assert ledger.current_head()[0] == expected
    report = verify_ledger(verifier_keys=[])
    assert report.ok, report
