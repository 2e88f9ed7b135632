"""The rights ledger on the database: dense appends, RFC 9162 proofs, checkpoints, append-only, verification."""

from __future__ import annotations

import base64
import hashlib

import pytest
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction

from clearcue.exceptions import DomainError
from licensing import ledger, merkle, note
from licensing.actions import do_append_ledger_entry, do_publish_checkpoint
from licensing.canonical import parse
from licensing.ledger import Actor, verify_ledger
from licensing.models import Checkpoint, LedgerEntry, LedgerHead, LedgerNode
from tests.licensing import naive_merkle
from tests.licensing.conftest import append

pytestmark = pytest.mark.django_db


def _payloads() -> list[bytes]:
    return [bytes(p) for p in LedgerEntry.objects.order_by("leaf_index").values_list("payload", flat=True)]


def test_appends_get_dense_indices_and_rfc9162_leaf_hashes():
    append(5)
    append(8)
    rows = list(LedgerEntry.objects.order_by("leaf_index"))
    assert [r.leaf_index for r in rows] == list(range(13))
    for row in rows:
        assert bytes(row.leaf_hash) == hashlib.sha256(b"\x00" + bytes(row.payload)).digest()
    size, root = ledger.current_head()
    assert size == 13
    assert root == naive_merkle.mth(_payloads())


def test_payload_is_canonical_and_records_actor_request_and_subject(client_a):
    with transaction.atomic():
        entry = do_append_ledger_entry(
            "license.granted",
            {"license_id": 7, "uses": ["ai_training"]},
            actor=Actor.of(client_a.user, client_a.org),
            subject_type="licensing.license",
            subject_id="7",
            request_id="req-1",
        )
    body = parse(bytes(entry.payload))
    assert body["type"] == "license.granted"
    assert body["actor"] == {
        "name": "cleo.client (Northlight Pictures)",
        "organization_id": client_a.org.pk,
        "user_id": client_a.user.pk,
    }
    assert body["request_id"] == "req-1"
    assert body["subject"] == {"type": "licensing.license", "id": "7"}
    assert body["time"].endswith("Z")
    assert bytes(entry.payload) == bytes(entry.payload).strip()
    assert b", " not in bytes(entry.payload)


def test_an_entry_written_during_a_request_carries_its_request_id(rf):
    from django.http import HttpResponse

    from clearcue.middleware import RequestIdMiddleware

    def view(request):
        append(1)
        return HttpResponse("ok")

    response = RequestIdMiddleware(view)(rf.get("/", HTTP_X_REQUEST_ID="audit-42"))
    assert response["X-Request-ID"] == "audit-42"
    assert LedgerEntry.objects.get().request_id == "audit-42"
    append(1)  # outside any request: no request id leaks from the previous one
    assert LedgerEntry.objects.get(leaf_index=1).request_id == ""


@pytest.mark.django_db(transaction=True)
def test_appending_outside_a_transaction_is_refused():
    with pytest.raises(RuntimeError, match="inside the caller's transaction"):
        do_append_ledger_entry("ledger.note", {}, actor=Actor.system())


def test_floats_and_unknown_types_are_refused_and_nothing_is_written():
    with pytest.raises(DomainError) as info, transaction.atomic():
        do_append_ledger_entry("ledger.note", {"share": 0.5}, actor=Actor.system())
    assert info.value.code == "invalid_ledger_payload"
    with pytest.raises(DomainError) as info, transaction.atomic():
        do_append_ledger_entry("made.up", {}, actor=Actor.system())
    assert info.value.code == "unknown_entry_type"
    assert LedgerEntry.objects.count() == 0
    assert ledger.current_head()[0] == 0


def test_a_domain_change_and_its_entry_roll_back_together():
    append(2)

    class Boom(Exception):
        pass

    with pytest.raises(Boom), transaction.atomic():
        do_append_ledger_entry("ledger.note", {"x": 1}, actor=Actor.system())
        raise Boom
    assert LedgerEntry.objects.count() == 2
    assert ledger.current_head()[0] == 2
    append(1)
    assert list(LedgerEntry.objects.values_list("leaf_index", flat=True).order_by("leaf_index")) == [0, 1, 2]


def test_stored_subtrees_make_proofs_that_match_the_naive_rfc_algorithms():
    for batch in (1, 2, 3, 5, 8, 13):
        append(batch)
    leaves = _payloads()
    n = len(leaves)
    for size in (1, 7, 16, 20, n):
        assert ledger.root_at(size) == naive_merkle.mth(leaves[:size])
        for index in range(size):
            assert ledger.inclusion_proof(index, size) == naive_merkle.path(index, leaves[:size])
        for first in range(1, size + 1):
            assert ledger.consistency_proof(first, size) == naive_merkle.proof(first, leaves[:size])
    # Every complete subtree above the leaves is stored exactly once.
    assert LedgerNode.objects.count() == n - bin(n).count("1")


def test_inclusion_proof_api_by_index_and_by_hash_verifies_offline(anon):
    append(11)
    by_index = anon.get("/api/v1/ledger/proof/inclusion/", {"leaf_index": 6, "tree_size": 9}).json()
    assert set(by_index) == {"leaf_index", "tree_size", "leaf_hash", "root_hash", "inclusion_path"}
    leaf_hash = base64.b64decode(by_index["leaf_hash"])
    merkle.verify_inclusion(
        leaf_hash,
        6,
        9,
        [base64.b64decode(h) for h in by_index["inclusion_path"]],
        base64.b64decode(by_index["root_hash"]),
    )
    by_hash = anon.get("/api/v1/ledger/proof/inclusion/", {"leaf_hash": by_index["leaf_hash"]}).json()
    assert by_hash["leaf_index"] == 6
    assert by_hash["tree_size"] == 11


def test_consistency_proof_api_verifies_offline(anon):
    append(21)
    body = anon.get("/api/v1/ledger/proof/consistency/", {"first": 6, "second": 21}).json()
    merkle.verify_consistency(
        6,
        21,
        [base64.b64decode(h) for h in body["consistency_path"]],
        base64.b64decode(body["first_root_hash"]),
        base64.b64decode(body["second_root_hash"]),
    )


@pytest.mark.parametrize(
    ("url", "params", "code"),
    [
        ("/api/v1/ledger/proof/inclusion/", {"leaf_index": 3, "tree_size": 99}, "tree_size_out_of_range"),
        ("/api/v1/ledger/proof/inclusion/", {"leaf_index": 4, "tree_size": 4}, "leaf_index_out_of_range"),
        ("/api/v1/ledger/proof/inclusion/", {"leaf_hash": "not base64!"}, "validation_error"),
        ("/api/v1/ledger/proof/inclusion/", {"leaf_hash": base64.b64encode(b"x" * 32).decode()}, "leaf_not_found"),
        ("/api/v1/ledger/proof/inclusion/", {}, "validation_error"),
        ("/api/v1/ledger/proof/consistency/", {"first": 5, "second": 4}, "invalid_tree_sizes"),
    ],
)
def test_bad_proof_requests_get_stable_error_codes(anon, url, params, code):
    append(5)
    response = anon.get(url, params)
    assert response.status_code in (400, 404)
    assert response.json()["error"]["code"] == code


def test_checkpoints_are_signed_notes_that_auditors_verify_with_the_public_key(anon, ledger_key):
    _, verifier_key = ledger_key
    assert anon.get("/api/v1/ledger/checkpoint").json()["error"]["code"] == "no_checkpoint"
    append(4)
    first = do_publish_checkpoint()
    assert do_publish_checkpoint().pk == first.pk  # same size: nothing new to sign
    text = anon.get("/api/v1/ledger/checkpoint").content.decode()
    assert text == first.note
    body, _ = note.open_checkpoint(text, [note.NoteVerifier.from_key_string(verifier_key)])
    assert body.size == 4
    assert body.root_hash == naive_merkle.mth(_payloads())
    assert text.startswith("clearcue.localhost/ledger\n4\n")
    latest = anon.get("/api/v1/ledger/checkpoints/latest/").json()
    assert latest["tree_size"] == 4


def test_only_auditors_and_staff_publish_checkpoints_on_demand(ledger_key, client_a, auditor):
    append(1)
    assert client_a.api.post("/api/v1/ledger/checkpoints/").status_code == 403
    assert auditor.api.post("/api/v1/ledger/checkpoints/").status_code == 201


def test_the_beat_task_publishes_a_checkpoint(ledger_key):
    from licensing.tasks import publish_checkpoint

    append(3)
    assert publish_checkpoint.apply().get()["tree_size"] == 3  # the task body, run here
    assert Checkpoint.objects.get().tree_size == 3
    assert publish_checkpoint.apply().get()["checkpoint_id"] == Checkpoint.objects.get().pk  # idempotent


def test_entry_ranges_are_for_auditors_only(anon, client_a, auditor):
    append(5)
    assert anon.get("/api/v1/ledger/entries/", {"start": 0, "end": 5}).status_code == 401
    assert client_a.api.get("/api/v1/ledger/entries/", {"start": 0, "end": 5}).status_code == 403
    rows = auditor.api.get("/api/v1/ledger/entries/", {"start": 1, "end": 4}).json()
    assert [r["leaf_index"] for r in rows] == [1, 2, 3]
    assert base64.b64decode(rows[0]["leaf_hash"]) == merkle.leaf_hash(base64.b64decode(rows[0]["payload"]))
    bad = auditor.api.get("/api/v1/ledger/entries/", {"start": 0, "end": 5000}).json()
    assert bad["error"]["code"] == "validation_error"


# --- Append-only and tampering ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE licensing_ledgerentry SET payload = payload WHERE leaf_index = 0",
        "DELETE FROM licensing_ledgerentry WHERE leaf_index = 0",
        "UPDATE licensing_ledgernode SET hash = hash",
        "DELETE FROM licensing_ledgernode",
        "UPDATE licensing_checkpoint SET note = 'x'",
        "DELETE FROM licensing_checkpoint",
    ],
)
def test_the_database_refuses_updates_and_deletes_on_ledger_tables(ledger_key, statement):
    append(4)
    do_publish_checkpoint()
    with pytest.raises(Exception) as info, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement)
    assert "append-only" in str(info.value) or "Cannot" in str(info.value) or "protect" in str(info.value).lower()


def _without_triggers(table: str, statement: str, params: list | None = None) -> None:
    """Run a statement as an attacker with DDL rights would: with the append-only triggers out of the way."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
            cursor.execute(statement, params)
            cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")
        else:
            for op in ("update", "delete"):
                cursor.execute(f"DROP TRIGGER {table}_append_only_no_{op}")
            cursor.execute(statement, params)


def test_verify_ledger_passes_on_an_untouched_log(ledger_key, capsys):
    append(37)
    do_publish_checkpoint()
    append(20)
    do_publish_checkpoint()
    call_command("verify_ledger")
    assert "ledger OK: 57 entries, 53 subtree hashes, 2 checkpoints" in capsys.readouterr().out


def test_a_changed_payload_is_found_with_its_index(ledger_key):
    append(30)
    _without_triggers(
        "licensing_ledgerentry",
        "UPDATE licensing_ledgerentry SET payload = %s WHERE leaf_index = 17",
        [b'{"forged":true}'],
    )
    report = verify_ledger()
    assert (report.problem, report.index) == ("leaf_hash_mismatch", 17)
    assert report.expected == hashlib.sha256(b'\x00{"forged":true}').hexdigest()


@pytest.mark.parametrize(("leaf", "problem", "index"), [
    (3, "node_hash_mismatch", 2),  # its parent subtree (leaves 2..3) no longer matches
    (30, "head_root_mismatch", 31),  # the last leaf of 31 has no stored parent: the root catches it
])
def test_a_payload_rewritten_with_a_matching_leaf_hash_is_found_by_the_tree(ledger_key, leaf, problem, index):
    append(31)
    forged = b'{"forged":true}'
    _without_triggers("licensing_ledgerentry",
                      "UPDATE licensing_ledgerentry SET payload = %s, leaf_hash = %s WHERE leaf_index = %s",
                      [forged, merkle.leaf_hash(forged), leaf])
    report = verify_ledger()
    assert (report.problem, report.index) == (problem, index)


def test_a_deleted_row_is_found_as_a_gap(ledger_key):
    append(12)
    _without_triggers("licensing_ledgerentry", "DELETE FROM licensing_ledgerentry WHERE leaf_index = 5")
    report = verify_ledger()
    assert (report.problem, report.index) == ("gap_in_leaf_indices", 5)


def test_a_tampered_subtree_hash_is_found(ledger_key):
    append(16)
    key = (2 << 56) | 1
    _without_triggers(
        "licensing_ledgernode", "UPDATE licensing_ledgernode SET hash = %s WHERE key = %s", [b"\x00" * 32, key]
    )
    report = verify_ledger()
    assert report.problem == "node_hash_mismatch"
    assert report.index == 4  # level 2 node 1 covers leaves 4..7
    with pytest.raises(Exception, match="ledger verification FAILED: node_hash_mismatch"):
        call_command("verify_ledger")


def test_a_deleted_or_extra_subtree_hash_is_found(ledger_key):
    append(16)
    _without_triggers("licensing_ledgernode", "DELETE FROM licensing_ledgernode WHERE key = %s", [(1 << 56) | 5])
    report = verify_ledger()
    assert (report.problem, report.index, report.found) == ("node_hash_mismatch", 10, "missing")
    leaves = ledger.fetch_nodes([(0, 10), (0, 11)])
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO licensing_ledgernode (key, hash) VALUES (%s, %s)",
                       [(1 << 56) | 5, merkle.node_hash(leaves[(0, 10)], leaves[(0, 11)])])
    assert verify_ledger().ok
    with connection.cursor() as cursor:  # level 1 of a 16-leaf tree has nodes 0..7 only
        cursor.execute("INSERT INTO licensing_ledgernode (key, hash) VALUES (%s, %s)", [(1 << 56) | 9, b"\x01" * 32])
    report = verify_ledger()
    assert (report.problem, report.found) == ("unexpected_node", "level 1 node 9")


def test_a_checkpoint_with_a_bad_signature_is_rejected(ledger_key):
    append(8)
    checkpoint = do_publish_checkpoint()
    lines = checkpoint.note.split("\n")
    sig_line = next(i for i, line in enumerate(lines) if line.startswith("\u2014"))
    name, sig = lines[sig_line].rsplit(" ", 1)
    raw = bytearray(base64.b64decode(sig))
    raw[-1] ^= 1
    lines[sig_line] = f"{name} {base64.b64encode(bytes(raw)).decode()}"
    _without_triggers("licensing_checkpoint", "UPDATE licensing_checkpoint SET note = %s", ["\n".join(lines)])
    report = verify_ledger()
    assert (report.problem, report.index) == ("checkpoint_signature_invalid", 8)
    assert "SignatureInvalidError" in report.found


def test_a_checkpoint_signed_by_another_key_is_rejected(ledger_key, settings):
    append(3)
    do_publish_checkpoint()
    stranger, _ = note.generate_key(settings.LEDGER_ORIGIN)
    settings.LEDGER_SIGNING_KEY = stranger
    append(1)
    do_publish_checkpoint()
    report = verify_ledger(verifier_keys=[ledger_key[1]])
    assert (report.problem, report.index) == ("checkpoint_signature_invalid", 4)


def test_a_validly_signed_checkpoint_with_a_wrong_size_or_root_is_rejected(ledger_key):
    append(6)
    signer = note.NoteSigner.from_key_string(ledger_key[0])
    _, root = ledger.current_head()
    # A checkpoint claiming a root that is not this log's (a fork the operator signed).
    forked = note.sign_checkpoint(
        note.Checkpoint("clearcue.localhost/ledger", 6, hashlib.sha256(b"fork").digest()), [signer]
    )
    with transaction.atomic():
        Checkpoint.objects.create(
            tree_size=6,
            root_hash=hashlib.sha256(b"fork").digest(),
            origin="o",
            key_name=signer.name,
            note=forked,
            created_at="2026-01-01T00:00:00Z",
        )
    report = verify_ledger()
    assert report.problem == "checkpoint_root_mismatch"
    # A row that says one size while its signed note says another.
    _without_triggers("licensing_checkpoint", "DELETE FROM licensing_checkpoint")
    honest = note.sign_checkpoint(note.Checkpoint("clearcue.localhost/ledger", 5, ledger.root_at(5)), [signer])
    with transaction.atomic():
        Checkpoint.objects.create(
            tree_size=6,
            root_hash=root,
            origin="o",
            key_name=signer.name,
            note=honest,
            created_at="2026-01-01T00:00:00Z",
        )
    assert verify_ledger().problem == "checkpoint_row_mismatch"


def test_the_head_is_the_only_mutable_ledger_row():
    append(2)
    LedgerHead.objects.filter(pk=1).update(size=2)  # allowed: the head is state, verified against the leaves
    with pytest.raises(IntegrityError), transaction.atomic():
        LedgerHead.objects.create(id=2, size=0, root_hash=b"")
