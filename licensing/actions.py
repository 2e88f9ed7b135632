"""State changes in licensing. Every one writes its ledger entry in the same transaction."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from dataclasses import field as dc_field
from datetime import datetime
from hashlib import sha256
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import DEFAULT_DB_ALIAS, connection, connections, models, transaction
from django.utils import timezone

from clearcue.context import request_id_var
from clearcue.exceptions import DomainError
from clearcue.models import Organization, User
from licensing import catalog_format, merkle
from licensing.assets import AssetError, open_source
from licensing.canonical import CanonicalJSONError, canonical_bytes, canonical_bytes_unchecked, parse
from licensing.catalog_format import PUBLIC_DOMAIN, CatalogFileError, LicenseTerms, PartyRef, RowError
from licensing.ledger import PAYLOAD_VERSION, Actor, EntryDraft, fetch_nodes, format_time, ledger_signer_key
from licensing.models import (
    CatalogImport,
    Checkpoint,
    Collection,
    EntryType,
    LedgerEntry,
    LedgerHead,
    License,
    LicenseRevocation,
    LicenseScope,
    LicenseWork,
    OptOut,
    OptOutWithdrawal,
    Party,
    PartyKind,
    Work,
    WorkCreator,
    WorkIdentifier,
    WorkTag,
    node_key_of,
)
from licensing.optout_matches import forget_matches, record_matches
from licensing.prepared import PreparedRow
from licensing.terms import (
    Reservation,
    Subject,
    SubjectKind,
    normalize_name,
    reserved_mask,
    reserved_of,
    territories_of,
    uses_of,
)

_ENTRY_COLUMNS = ("leaf_index", "entry_type", "created_at", "actor_user_id", "actor_organization_id", "actor_name",
                  "request_id", "subject_type", "subject_id", "payload", "leaf_hash")


def _lock_head() -> tuple[int, bytes]:
    """Lock the log head row and return (size, root); the row is created by migration (or after a test flush)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT size, root_hash FROM licensing_ledgerhead WHERE id = 1 FOR UPDATE")
        else:  # SQLite: the IMMEDIATE transaction already holds the database write lock
            cursor.execute("SELECT size, root_hash FROM licensing_ledgerhead WHERE id = 1")
        row = cursor.fetchone()
    if row is None:
        LedgerHead.objects.get_or_create(pk=1, defaults={"size": 0, "root_hash": merkle.EMPTY_ROOT})
        return _lock_head()
    return int(row[0]), bytes(row[1])


def _insert(table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Bulk insert: COPY on PostgreSQL (the fastest path for batches), executemany elsewhere."""
    if not rows:
        return
    names = ", ".join(columns)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor, cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    else:
        with connection.cursor() as cursor:
            placeholders = ", ".join(["%s"] * len(columns))
            cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({placeholders})", rows)  # noqa: S608


def _next_ids(table: str, count: int) -> list[int]:
    """Draw `count` ids from a PostgreSQL table's id sequence in one query."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)", [table, count])
        return [pk for (pk,) in cursor.fetchall()]


def _bulk_insert(model: Any, objs: Sequence[Any]) -> None:
    """Insert model instances in bulk, setting their ids: COPY on PostgreSQL (ids drawn from the sequence in
    one query), bulk_create elsewhere. The catalog's large-import path: an order of magnitude faster than
    multi-row INSERT through the ORM for 10^5-10^6 rows."""
    if not objs:
        return
    if connection.vendor != "postgresql":
        model.objects.bulk_create(objs)
        return
    table = model._meta.db_table
    missing = [o for o in objs if o.pk is None]
    for obj, pk in zip(missing, _next_ids(table, len(missing)) if missing else (), strict=True):
        obj.pk = pk
    fields = model._meta.concrete_fields
    getters = [(f.attname, _copy_adapter(f)) for f in fields]
    _insert(table, [f.column for f in fields],
            [[getattr(o, name) if adapt is None else adapt(getattr(o, name)) for name, adapt in getters]
             for o in objs])


def _insert_values(model: Any, values: Sequence[dict[str, Any]]) -> list[int]:
    """Insert rows given as {attname: value} (fields left out take their defaults) and return their new ids,
    in order. On PostgreSQL no model instance is built per row (COPY of plain tuples: a catalog batch inserts
    thousands of works); bulk_create elsewhere."""
    if not values:
        return []
    if connection.vendor != "postgresql":
        objs = [model(**v) for v in values]
        model.objects.bulk_create(objs)
        return [o.pk for o in objs]
    table = model._meta.db_table
    ids = _next_ids(table, len(values))
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    unset = object()
    columns = []
    for f in fields:
        adapt = _copy_adapter(f)
        default = f.get_default()
        columns.append((f.attname, adapt, default if adapt is None else adapt(default)))
    rows = []
    for pk, given in zip(ids, values, strict=True):
        row = [pk]
        for name, adapt, default in columns:
            value = given.get(name, unset)
            row.append(default if value is unset else value if adapt is None else adapt(value))
        rows.append(row)
    pk_column = model._meta.pk.column
    _insert(table, [pk_column, *(f.column for f in fields)], rows)
    return ids


# Field types whose Python value PostgreSQL's COPY takes as it is (Django's get_db_prep_save returns it unchanged
# on PostgreSQL); anything else goes through get_db_prep_save. Saves most of the per-value cost of a bulk insert.
_AS_IS = (models.AutoField, models.BigAutoField, models.IntegerField, models.BigIntegerField,
          models.PositiveIntegerField, models.PositiveBigIntegerField, models.SmallIntegerField, models.CharField,
          models.TextField, models.BooleanField, models.DateTimeField, models.ForeignKey)


def _copy_adapter(f: Any) -> Callable[[Any], Any] | None:
    """How a field's Python value becomes a COPY value (None: as it is). The connection's operations are
    looked up once, not per value (each `connection` access goes through a context-local lookup)."""
    real = connections[DEFAULT_DB_ALIAS]
    if isinstance(f, models.JSONField):
        dumps = json.JSONEncoder if f.encoder is None else f.encoder
        encode = dumps(ensure_ascii=True, allow_nan=True).encode  # what json.dumps(value) writes
        return lambda value: None if value is None else encode(value)
    if isinstance(f, _AS_IS):
        return None
    return lambda value: f.get_db_prep_save(value, real)


def do_append_ledger_entries(drafts: Sequence[EntryDraft], *, actor: Actor,
                             request_id: str | None = None) -> list[LedgerEntry]:
    """Append entries to the log inside the caller's transaction (domain change and entry commit together).

    Serializes on the log head (a row lock on PostgreSQL; SQLite's IMMEDIATE transactions hold the write
    lock), so concurrent writers get dense, gapless, unique leaf indices. Appending m entries to a log of n
    costs one locked head read, one read of the popcount(n) peaks of the old tree, two bulk inserts and one
    head update.
    """
    rows = _append_entries(drafts, actor=actor, request_id=request_id)
    return [LedgerEntry(**dict(zip(_ENTRY_COLUMNS, row, strict=True))) for row in rows]


def _append_entries(drafts: Sequence[EntryDraft], *, actor: Actor,
                    request_id: str | None = None) -> list[tuple[Any, ...]]:
    """do_append_ledger_entries without a model instance per entry: the inserted rows (`_ENTRY_COLUMNS`), for
    bulk writers that only need the leaf indices (a catalog batch appends one entry per work)."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("ledger entries must be appended inside the caller's transaction.atomic() block")
    if not drafts:
        return []
    unknown = sorted({d.entry_type for d in drafts} - set(EntryType.values))
    if unknown:
        raise DomainError("unknown_entry_type", "Unknown ledger entry type.", details={"entry_types": unknown})
    now = timezone.now()
    request_id = (request_id if request_id is not None else request_id_var.get())[:80]
    common = {"v": PAYLOAD_VERSION, "time": format_time(now), "actor": actor.as_json(), "request_id": request_id}
    payloads = []
    for position, draft in enumerate(drafts):
        body = {**common, "type": draft.entry_type, "subject": {"type": draft.subject_type, "id": draft.subject_id},
                "data": draft.data}
        try:
            payloads.append(canonical_bytes(body))
        except CanonicalJSONError as exc:
            raise DomainError("invalid_ledger_payload", str(exc), details={"draft": position}) from exc
    leaf_hash = merkle.leaf_hash
    hashes = [leaf_hash(p) for p in payloads]

    # From here on the caller's transaction holds the head lock until it commits or rolls back.
    start, _ = _lock_head()
    # One read of the old tree's peaks: the ones the new leaves complete, and the rest of the new root.
    appended = merkle.batch_append(start, hashes, fetch_nodes)

    user_id, organization_id, actor_name = actor.user_id, actor.organization_id, actor.name[:200]
    rows = [(start + i, d.entry_type, now, user_id, organization_id, actor_name, request_id, d.subject_type,
             str(d.subject_id)[:64], p, h)
            for i, (d, p, h) in enumerate(zip(drafts, payloads, hashes, strict=True))]
    _insert("licensing_ledgerentry", _ENTRY_COLUMNS, rows)
    _insert("licensing_ledgernode", ("key", "hash"),
            [(node_key_of(node), digest) for node, digest in appended.nodes if node[0] > 0])
    with connection.cursor() as cursor:
        cursor.execute("UPDATE licensing_ledgerhead SET size = %s, root_hash = %s, updated_at = %s WHERE id = 1",
                       [start + len(rows), appended.root, now])
    return rows


def do_append_ledger_entry(entry_type: str, data: dict[str, Any], *, actor: Actor, subject_type: str = "",
                           subject_id: str = "", request_id: str | None = None) -> LedgerEntry:
    """Append one entry (see do_append_ledger_entries)."""
    draft = EntryDraft(entry_type=entry_type, data=data, subject_type=subject_type, subject_id=str(subject_id))
    return do_append_ledger_entries([draft], actor=actor, request_id=request_id)[0]


def do_publish_checkpoint(*, actor: Actor | None = None) -> Checkpoint:
    """Sign the current tree head as a C2SP checkpoint and store it (no-op if that size is already signed)."""
    from licensing import note

    signer = note.NoteSigner.from_key_string(ledger_signer_key())
    with transaction.atomic():
        size, root = _lock_head()
        existing = Checkpoint.objects.filter(tree_size=size).first()
        if existing is not None:
            return existing
        body = note.Checkpoint(origin=settings.LEDGER_ORIGIN, size=size, root_hash=root)
        signed = note.sign_note(note.format_checkpoint_body(body), [signer])
        return Checkpoint.objects.create(
            tree_size=size, root_hash=root, origin=settings.LEDGER_ORIGIN,
            key_name=signer.name, note=signed, created_at=timezone.now(),
        )


# --- Catalog, licenses, opt-outs ------------------------------------------------------------------------------


def _rights_changed() -> None:
    """After commit, have every model's clearance state catch up with this change (generation.clearance) and
    impact reports written for revocations and opt-outs (provenance.impact).

    Best effort: the gate also catches up before deciding, and beat runs the task every minute.
    """
    def enqueue() -> None:
        from generation.tasks import catch_up_clearance
        from provenance.tasks import report_impact

        for task in (catch_up_clearance, report_impact):
            try:
                task.delay()
            except Exception:  # a broker outage must not turn a committed rights change into an error
                import logging

                logging.getLogger(__name__).exception("could not queue %s", task.name)

    transaction.on_commit(enqueue)


class _LedgerPlan:
    """Ledger entries of one transaction, planned before the rows that record their leaf index are written.

    Rows carry `ledger_index` (the leaf that created them) and ledger entries carry the rows' ids, so the
    head is locked first, positions are reserved, rows are inserted with their future leaf index, and the
    entries are appended last, in reserved order, in the same transaction.
    """

    def __init__(self) -> None:
        self.start, _ = _lock_head()
        self.drafts: list[EntryDraft | None] = []

    def reserve(self) -> int:
        """Reserve the next leaf index."""
        self.drafts.append(None)
        return self.start + len(self.drafts) - 1

    def fill(self, index: int, draft: EntryDraft) -> None:
        """Provide the entry of a reserved leaf index."""
        self.drafts[index - self.start] = draft

    def add(self, draft: EntryDraft) -> int:
        """Reserve and fill at once."""
        index = self.reserve()
        self.fill(index, draft)
        return index

    def commit(self, *, actor: Actor) -> None:
        """Append every planned entry (all reserved positions must have been filled)."""
        missing = [i for i, d in enumerate(self.drafts) if d is None]
        if missing:
            raise RuntimeError(f"ledger plan has unfilled positions: {missing[:5]}")
        rows = _append_entries([d for d in self.drafts if d is not None], actor=actor)
        if rows and rows[0][0] != self.start:
            raise RuntimeError("ledger head moved while a plan held its lock")


@dataclass
class ApplyResult:
    """What applying a batch of catalog rows did."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    licenses_created: int = 0
    rejected: list[RowError] = dc_field(default_factory=list)
    work_ids: dict[int, int] = dc_field(default_factory=dict)  # row number -> work id


def _party_json(party: Party) -> dict[str, Any]:
    return {"id": party.pk, "key": party.key, "name": party.name, "kind": party.kind, "ipi": party.ipi,
            "isni": party.isni}


def _ensure_parties(refs: Iterable[PartyRef], plan: _LedgerPlan, now: datetime) -> dict[str, Party]:
    """Existing parties by natural key, creating the missing ones (one query each way)."""
    wanted: dict[str, PartyRef] = {}
    for ref in refs:
        wanted.setdefault(ref.key, ref)
    found = {p.key: p for p in Party.objects.filter(key__any=list(wanted))}
    new = []
    for key, ref in wanted.items():
        if key not in found:
            kind = PartyKind.PUBLIC if key == PUBLIC_DOMAIN.key else ref.kind
            new.append(Party(key=key, name=ref.name, name_normalized=normalize_name(ref.name), kind=kind,
                             ipi=ref.ipi, isni=ref.isni, created_at=now, ledger_index=plan.reserve()))
    if new:
        _bulk_insert(Party, new)
        for party in new:
            plan.fill(party.ledger_index, EntryDraft(EntryType.PARTY_REGISTERED, _party_json(party), "party",
                                                     str(party.pk)))
            found[party.key] = party
    return found


def _work_record(item: PreparedRow, collection: Collection) -> dict[str, Any]:
    """The canonical record of a work as imported; its digest detects identical re-imports."""
    row, asset = item.row, item.asset
    creators = row.creators or (asset.creators if asset else ())
    holder = row.rights_holder or (asset.rights_holder if asset else None)
    return {
        "collection": collection.slug, "work_id": row.work_id, "title": row.title,
        "creators": [[ref.key, role] for ref, role in creators], "identifiers": [list(i) for i in row.identifiers],
        "media_type": row.media_type, "format": row.format, "style_tags": list(row.style_tags),
        "rights_holder": holder.key if holder else None,
        "license": row.license.ref if row.license else None,
        "asset": {"sha256": asset.sha256, "iscc": asset.iscc_code, "rights_status": asset.rights_status}
        if asset else None,
        "source": dict(row.source),
    }


def _license_key(terms: LicenseTerms) -> str:
    return f"{terms.licensor.key}/{terms.ref}"[:400]


def _terms_of(license: License) -> tuple[Any, ...]:
    """The stored license's terms in the shape of LicenseTerms.signature() (minus licensor/licensee)."""
    return (license.basis, license.uses_mask, license.territories, license.excluded_territories,
            license.attribution_text if license.attribution_required else "", license.document_ref)


def _terms_tuple(terms: LicenseTerms) -> tuple[Any, ...]:
    return (terms.basis, terms.uses_mask, terms.territories, terms.excluded_territories, terms.attribution,
            terms.document)


def license_json(license: License) -> dict[str, Any]:
    """A license as recorded in its ledger entry."""
    return {
        "id": license.pk, "key": license.key, "name": license.name, "licensor_id": license.licensor_id,
        "licensee_id": license.licensee_id, "basis": license.basis, "scope": license.scope,
        "scope_party_id": license.scope_party_id, "scope_collection_id": license.scope_collection_id,
        "uses": uses_of(license.uses_mask), "territories": territories_of(license.territories),
        "excluded_territories": territories_of(license.excluded_territories),
        "valid_from": format_time(license.valid_from),
        "valid_until": format_time(license.valid_until) if license.valid_until else None,
        "attribution_required": license.attribution_required, "attribution_text": license.attribution_text,
        "royalty_terms": license.royalty_terms, "document_ref": license.document_ref,
        "conditions": license.conditions, "source": license.source,
    }


def do_apply_catalog_rows(items: Sequence[PreparedRow], *, collection_slug: str, collection_name: str,
                          operator: Organization, actor: Actor, source: dict[str, Any] | None = None) -> ApplyResult:
    """Apply validated catalog rows in one transaction: parties, works, creators, identifiers, tags, licenses.

    Idempotent by natural keys: a work whose canonical record is unchanged is left alone (no entry); a
    changed one is updated (`work.updated`); a license named again with the same terms only gains the new
    works (`license.extended`). Rows that conflict with stored state are rejected, not applied.
    """
    result = ApplyResult()
    now = timezone.now()
    source = source or {}
    with transaction.atomic():
        plan = _LedgerPlan()
        collection = Collection.objects.filter(slug=collection_slug).first()
        if collection is None:
            collection = Collection.objects.create(slug=collection_slug, name=collection_name or collection_slug,
                                                   created_at=now, ledger_index=plan.reserve())
            plan.fill(collection.ledger_index, EntryDraft(
                EntryType.COLLECTION_REGISTERED, {"id": collection.pk, "slug": collection.slug,
                                                  "name": collection.name}, "collection", str(collection.pk)))

        # Read phase: what exists, and which rows conflict with it.
        existing = {w.source_key: w for w in Work.objects.filter(
            collection=collection, source_key__any=[i.row.work_id for i in items])}
        all_terms = [t for i in items for t in (i.row.license, i.asset.derived_license if i.asset else None) if t]
        licenses = {lic.key: lic for lic in License.objects.filter(
            key__any=list({_license_key(t) for t in all_terms})).select_related("licensee", "licensor")}
        slugs = {t.licensee for t in all_terms if t.licensee}
        orgs = {o.slug: o for o in Organization.objects.filter(slug__any=list(slugs))}
        accepted: list[PreparedRow] = []
        for item in items:
            errors = []
            for terms in (item.row.license, item.asset.derived_license if item.asset else None):
                if terms is None:
                    continue
                if terms.licensee and terms.licensee not in orgs:
                    errors.append(RowError(item.row.row, "licensee", "unknown_licensee",
                                           f"No organization with slug {terms.licensee!r}."))
                stored = licenses.get(_license_key(terms))
                if stored is not None and (_terms_of(stored) != _terms_tuple(terms)
                                           or stored.licensee.slug != (terms.licensee or operator.slug)):
                    errors.append(RowError(item.row.row, "license_ref", "license_conflict",
                                           f"License {terms.ref!r} of {terms.licensor.name} is already recorded "
                                           "with different terms; a license cannot be edited (revoke it and "
                                           "grant a new one)."))
            if errors:
                result.rejected.extend(errors)
            else:
                accepted.append(item)

        # Parties.
        refs: list[PartyRef] = []
        for item in accepted:
            row, asset = item.row, item.asset
            refs.extend(ref for ref, _ in (row.creators or (asset.creators if asset else ())))
            for holder in (row.rights_holder, asset.rights_holder if asset else None):
                if holder:
                    refs.append(holder)
            for terms in (row.license, asset.derived_license if asset else None):
                if terms:
                    refs.append(terms.licensor)
        parties = _ensure_parties(refs, plan, now)

        # Works: new, changed, unchanged.
        work_fields = ["title", "media_type", "format", "rights_holder", "asset", "asset_sha256", "asset_size",
                       "iscc_data", "iscc_instance", "iscc_code", "style_tags", "source_metadata", "inband",
                       "rights_status", "content_digest"]
        records: dict[int, dict[str, Any]] = {}
        new_works: list[tuple[PreparedRow, dict[str, Any]]] = []  # Work column values by attname
        changed: list[tuple[PreparedRow, Work]] = []
        for item in accepted:
            record = _work_record(item, collection)
            records[item.row.row] = record
            # Unchecked: every value but `source` is checked in the entry below; the parser makes `source` JSON types.
            digest = sha256(canonical_bytes_unchecked(record)).hexdigest()
            row, asset = item.row, item.asset
            holder = row.rights_holder or (asset.rights_holder if asset else None)
            fields: dict[str, Any] = {
                "title": row.title, "media_type": row.media_type, "format": row.format,
                "rights_holder_id": parties[holder.key].pk if holder else None,
                "asset": asset.storage_name if asset else "", "asset_sha256": asset.sha256 if asset else "",
                "asset_size": asset.size if asset else None, "iscc_data": asset.iscc_data if asset else "",
                "iscc_instance": asset.iscc_instance if asset else "", "iscc_code": asset.iscc_code if asset else "",
                "style_tags": list(row.style_tags), "source_metadata": dict(row.source),
                "inband": asset.inband if asset else {}, "rights_status": asset.rights_status if asset else "",
                "content_digest": digest,
            }
            work = existing.get(row.work_id)
            if work is None:
                new_works.append((item, {**fields, "collection_id": collection.pk, "source_key": row.work_id,
                                         "created_at": now, "updated_at": now, "ledger_index": plan.reserve()}))
            elif work.content_digest == digest:
                result.unchanged += 1
                result.work_ids[row.row] = work.pk
            else:
                for name, value in fields.items():
                    setattr(work, name, value)
                work.updated_at = now
                work.updated_ledger_index = plan.reserve()
                changed.append((item, work))
        new_ids = _insert_values(Work, [values for _, values in new_works])
        if changed:
            Work.objects.bulk_update([w for _, w in changed], [*work_fields, "updated_at", "updated_ledger_index"])
            changed_ids = [w.pk for _, w in changed]
            WorkCreator.objects.filter(work_id__in=changed_ids).delete()
            WorkIdentifier.objects.filter(work_id__in=changed_ids).delete()
            WorkTag.objects.filter(work_id__in=changed_ids).delete()
            forget_matches(changed_ids)
        # Child rows go in as plain tuples (the database assigns their ids): no model instance per row.
        creators: list[tuple[int, int, str, str]] = []
        identifiers: list[tuple[int, str, str]] = []
        tags: list[tuple[int, str]] = []
        written: list[tuple[PreparedRow, int, str, int, bool]] = [  # item, work id, digest, leaf index, updated?
            *((item, pk, values["content_digest"], values["ledger_index"], False)
              for (item, values), pk in zip(new_works, new_ids, strict=True)),
            *((item, work.pk, work.content_digest, work.updated_ledger_index, True) for item, work in changed)]
        for item, pk, digest, leaf_index, updated in written:
            credited = item.row.creators or (item.asset.creators if item.asset else ())
            for ref, role in credited:
                creators.append((pk, parties[ref.key].pk, role, normalize_name(ref.name)))
            identifiers.extend((pk, s, v) for s, v in item.row.identifiers)
            tags.extend((pk, t) for t in item.row.style_tags)
            result.work_ids[item.row.row] = pk
            data = {"id": pk, **records[item.row.row], "content_digest": digest}
            data.pop("source")
            plan.fill(leaf_index, EntryDraft(EntryType.WORK_UPDATED if updated else EntryType.WORK_REGISTERED, data,
                                             "work", str(pk)))
        _insert(WorkCreator._meta.db_table, ("work_id", "party_id", "role", "name_normalized"), creators)
        _insert(WorkIdentifier._meta.db_table, ("work_id", "scheme", "value"), identifiers)
        _insert(WorkTag._meta.db_table, ("work_id", "tag"), tags)
        record_matches(work_ids=[pk for _, pk, _, _, _ in written])
        result.created, result.updated = len(new_works), len(changed)

        # Licenses named by rows or derived from the assets' own statements: create, or extend to new works.
        covered: dict[str, list[int]] = {}
        terms_by_key: dict[str, LicenseTerms] = {}
        for item in accepted:
            for terms in (item.row.license, item.asset.derived_license if item.asset else None):
                if terms:
                    key = _license_key(terms)
                    terms_by_key.setdefault(key, terms)
                    covered.setdefault(key, []).append(result.work_ids[item.row.row])
        linked = set(LicenseWork.objects.filter(license__key__any=list(covered)).filter(
            work_id__any=list({w for ids in covered.values() for w in ids})).values_list("license__key", "work_id"))
        links: list[tuple[int, int, int]] = []
        new_licenses: list[tuple[License, list[int]]] = []
        for key, work_ids in covered.items():
            terms = terms_by_key[key]
            license = licenses.get(key)
            fresh = sorted({w for w in work_ids if (key, w) not in linked})
            if license is None:
                license = License(
                    key=key, name=terms.name or terms.ref, licensor=parties[terms.licensor.key],
                    licensee=orgs.get(terms.licensee, operator), basis=terms.basis, scope=LicenseScope.WORKS,
                    uses_mask=terms.uses_mask, territories=terms.territories or "|WORLD|",
                    excluded_territories=terms.excluded_territories, valid_from=terms.valid_from or now,
                    valid_until=terms.valid_until, attribution_required=bool(terms.attribution),
                    attribution_text=terms.attribution, royalty_terms=dict(terms.royalty),
                    document_ref=terms.document, conditions=list(terms.conditions),
                    source={**source, "ref": terms.ref, **({"origin": terms.origin} if terms.origin else {})},
                    created_at=now, ledger_index=plan.reserve())
                licenses[key] = license
                new_licenses.append((license, fresh))
            elif fresh:
                index = plan.add(EntryDraft(EntryType.LICENSE_EXTENDED, {"id": license.pk, "work_ids": fresh},
                                            "license", str(license.pk)))
                links.extend((license.pk, w, index) for w in fresh)
        _bulk_insert(License, [license for license, _ in new_licenses])
        for license, fresh in new_licenses:
            result.licenses_created += 1
            plan.fill(license.ledger_index, EntryDraft(
                EntryType.LICENSE_GRANTED, {**license_json(license), "work_ids": fresh}, "license", str(license.pk)))
            links.extend((license.pk, w, license.ledger_index) for w in fresh)
        _insert(LicenseWork._meta.db_table, ("license_id", "work_id", "ledger_index"), links)
        plan.commit(actor=actor)
        _rights_changed()
    return result


def do_register_party(ref: PartyRef, *, actor: Actor, organization: Organization | None = None,
                      identifiers: dict[str, str] | None = None) -> Party:
    """Register a party (rights holder, licensor, creator); refuses a second party with the same natural key."""
    with transaction.atomic():
        if Party.objects.filter(key=ref.key).exists():
            raise DomainError("party_exists", "A party with this IPI, ISNI or name is already registered.",
                              details={"key": ref.key}, status=409)
        plan = _LedgerPlan()
        party = Party.objects.create(key=ref.key, name=ref.name, name_normalized=normalize_name(ref.name),
                                     kind=ref.kind, ipi=ref.ipi, isni=ref.isni, identifiers=identifiers or {},
                                     organization=organization, created_at=timezone.now(),
                                     ledger_index=plan.reserve())
        plan.fill(party.ledger_index, EntryDraft(EntryType.PARTY_REGISTERED,
                                                 {**_party_json(party), "organization_id": party.organization_id,
                                                  "identifiers": party.identifiers}, "party", str(party.pk)))
        plan.commit(actor=actor)
    return party


@dataclass(frozen=True)
class LicenseGrant:
    """Terms of a license granted through the API or admin (scope targets already resolved)."""

    licensor: Party
    licensee: Organization
    scope: str
    uses_mask: int
    territories: str
    valid_from: datetime
    name: str = ""
    basis: str = "agreement"
    works: Sequence[Work] = ()
    scope_party: Party | None = None
    scope_collection: Collection | None = None
    excluded_territories: str = ""
    valid_until: datetime | None = None
    attribution_text: str = ""
    royalty_terms: dict[str, str] | None = None
    document_ref: str = ""
    reference: str = ""


def do_grant_license(grant: LicenseGrant, *, actor: Actor) -> License:
    """Record a license (`license.granted`); its terms can never be edited afterwards."""
    if grant.scope == LicenseScope.WORKS and not grant.works:
        raise DomainError("license_without_works", "A license scoped to works must name at least one work.")
    if grant.valid_until is not None and grant.valid_until <= grant.valid_from:
        raise DomainError("invalid_period", "valid_until must be after valid_from.")
    if grant.uses_mask == 0:
        raise DomainError("license_without_uses", "A license must permit at least one use.")
    now = timezone.now()
    reference = grant.reference or f"api-{now.strftime('%Y%m%dT%H%M%S%f')}"
    key = f"{grant.licensor.key}/{reference}"[:400]
    with transaction.atomic():
        if License.objects.filter(key=key).exists():
            raise DomainError("license_exists", "This licensor already has a license with this reference.",
                              details={"key": key}, status=409)
        plan = _LedgerPlan()
        license = License.objects.create(
            key=key, name=grant.name or reference, licensor=grant.licensor, licensee=grant.licensee, basis=grant.basis,
            scope=grant.scope, scope_party=grant.scope_party, scope_collection=grant.scope_collection,
            uses_mask=grant.uses_mask, territories=grant.territories, excluded_territories=grant.excluded_territories,
            valid_from=grant.valid_from, valid_until=grant.valid_until,
            attribution_required=bool(grant.attribution_text), attribution_text=grant.attribution_text,
            royalty_terms=grant.royalty_terms or {}, document_ref=grant.document_ref, source={"via": "api"},
            created_at=now, ledger_index=plan.reserve())
        work_ids = sorted({w.pk for w in grant.works})
        LicenseWork.objects.bulk_create(
            [LicenseWork(license=license, work_id=w, ledger_index=license.ledger_index) for w in work_ids])
        plan.fill(license.ledger_index, EntryDraft(EntryType.LICENSE_GRANTED,
                                                   {**license_json(license), "work_ids": work_ids}, "license",
                                                   str(license.pk)))
        plan.commit(actor=actor)
        _rights_changed()
    return license


def do_revoke_license(license: License, *, effective_at: datetime | None, reason: str,
                      actor: Actor) -> LicenseRevocation:
    """Revoke a license from `effective_at` (default now; may be backdated): a new row and entry, not an edit."""
    if not reason.strip():
        raise DomainError("reason_required", "A revocation needs a reason.")
    now = timezone.now()
    with transaction.atomic():
        if LicenseRevocation.objects.filter(license=license).exists():
            raise DomainError("already_revoked", "This license is already revoked.",
                              details={"license_id": license.pk}, status=409)
        plan = _LedgerPlan()
        revocation = LicenseRevocation.objects.create(license=license, effective_at=effective_at or now,
                                                      reason=reason.strip(), created_at=now,
                                                      ledger_index=plan.reserve())
        plan.fill(revocation.ledger_index, EntryDraft(
            EntryType.LICENSE_REVOKED, {"license_id": license.pk, "effective_at": format_time(revocation.effective_at),
                                        "reason": revocation.reason}, "license", str(license.pk)))
        plan.commit(actor=actor)
        _rights_changed()
    return revocation


def optout_json(optout: OptOut) -> dict[str, Any]:
    """An opt-out as recorded in its ledger entry."""
    return {
        "id": optout.pk, "subject_kind": optout.subject_kind, "subject_work_id": optout.subject_work_id,
        "subject_party_id": optout.subject_party_id, "subject_value": optout.subject_value,
        "reserved": reserved_of(optout.reserved_mask), "source": optout.source, "policy_url": optout.policy_url,
        "constraint": optout.constraint, "effective_from": format_time(optout.effective_from),
        "registered_by": optout.registered_by_id, "evidence": optout.evidence,
    }


def _existing(model: Any, ids: set[int]) -> set[int]:
    """Which of these primary keys exist (read in chunks, within any database's parameter limit)."""
    ordered, found = sorted(ids), set()
    for start in range(0, len(ordered), 5000):
        found.update(model.objects.filter(pk__in=ordered[start:start + 5000]).values_list("pk", flat=True))
    return found


def _subject_columns(subject: Subject, known: dict[str, set[int]]) -> dict[str, Any]:
    """Resolve a reservation subject to OptOut columns; unknown works or parties are rejected.

    `known`: the ids of the works and parties the batch names that exist (read once per batch)."""
    if subject.kind == SubjectKind.WORK:
        if not subject.value.isdigit() or int(subject.value) not in known["work"]:
            raise DomainError("unknown_work", "No such work.", details={"work_id": subject.value}, status=404)
        return {"subject_work_id": int(subject.value)}
    if subject.kind == SubjectKind.PARTY:
        if not subject.value.isdigit() or int(subject.value) not in known["party"]:
            raise DomainError("unknown_party", "No such party.", details={"party_id": subject.value}, status=404)
        return {"subject_party_id": int(subject.value)}
    if subject.kind == SubjectKind.CREATOR_NAME:
        value = normalize_name(subject.value)
        if not value:
            raise DomainError("invalid_subject", "A creator name opt-out needs a name.")
        return {"subject_value": value}
    if subject.kind == SubjectKind.ISCC:
        # Canonical "ISCC:..." form, as iscc-core writes it and as Work.iscc_* store it.
        return {"subject_value": "ISCC:" + subject.value.strip().upper().removeprefix("ISCC:")}
    if subject.kind == SubjectKind.IDENTIFIER:
        scheme, sep, value = subject.value.partition(":")
        if not sep or not value:
            raise DomainError("invalid_subject", "An identifier opt-out needs 'scheme:value'.")
        return {"subject_value": f"{scheme.strip().lower()}:{value.strip()}"}
    raise DomainError("invalid_subject", f"Unknown subject kind {subject.kind!r}.")


def do_register_optouts(reservations: Sequence[Reservation], *, actor: Actor,
                        registered_by: Organization | None = None) -> list[OptOut]:
    """Register reservations (any intake format) as opt-outs in one transaction: all of them or none."""
    if not reservations:
        raise DomainError("nothing_reserved", "The input reserves no use, so there is nothing to register.")
    now = timezone.now()
    with transaction.atomic():
        plan = _LedgerPlan()
        rows = []
        named = {kind: {int(r.subject.value) for r in reservations
                        if r.subject.kind == kind and r.subject.value.isdigit()}
                 for kind in (SubjectKind.WORK, SubjectKind.PARTY)}
        known = {"work": _existing(Work, named[SubjectKind.WORK]), "party": _existing(Party, named[SubjectKind.PARTY])}
        for reservation in reservations:
            if not reservation.uses:
                raise DomainError("nothing_reserved", "A reservation must reserve at least one use.")
            try:
                evidence = parse(canonical_bytes(dict(reservation.evidence)))
            except CanonicalJSONError as exc:
                raise DomainError("invalid_evidence", f"Evidence is not canonical JSON: {exc}") from exc
            rows.append(OptOut(subject_kind=reservation.subject.kind, reserved_mask=reserved_mask(reservation.uses),
                               source=reservation.source, policy_url=reservation.policy_url[:1000],
                               constraint=reservation.constraint[:1000], evidence=evidence,
                               effective_from=reservation.effective_from or now, registered_by=registered_by,
                               created_at=now, ledger_index=plan.reserve(),
                               **_subject_columns(reservation.subject, known)))
        OptOut.objects.bulk_create(rows)
        record_matches(optout_ids=[optout.pk for optout in rows])
        for optout in rows:
            plan.fill(optout.ledger_index, EntryDraft(EntryType.OPTOUT_REGISTERED, optout_json(optout), "optout",
                                                      str(optout.pk)))
        plan.commit(actor=actor)
        _rights_changed()
    return rows


def do_withdraw_optout(optout: OptOut, *, effective_at: datetime | None, reason: str,
                       actor: Actor) -> OptOutWithdrawal:
    """Withdraw an opt-out from `effective_at` (default now): a new row and entry, the opt-out stays on record."""
    now = timezone.now()
    with transaction.atomic():
        if OptOutWithdrawal.objects.filter(optout=optout).exists():
            raise DomainError("already_withdrawn", "This opt-out is already withdrawn.",
                              details={"optout_id": optout.pk}, status=409)
        plan = _LedgerPlan()
        withdrawal = OptOutWithdrawal.objects.create(optout=optout, effective_at=effective_at or now,
                                                     reason=reason.strip(), created_at=now,
                                                     ledger_index=plan.reserve())
        plan.fill(withdrawal.ledger_index, EntryDraft(
            EntryType.OPTOUT_WITHDRAWN, {"optout_id": optout.pk, "effective_at": format_time(withdrawal.effective_at),
                                         "reason": withdrawal.reason}, "optout", str(optout.pk)))
        plan.commit(actor=actor)
        _rights_changed()
    return withdrawal


MAX_CATALOG_BYTES = 512 * 1024 * 1024


def do_create_catalog_import(*, organization: Organization, user: User | None, data: bytes, file_format: str,
                             collection_slug: str, collection_name: str = "", assets_zip: bytes | None = None,
                             assets_dir: str = "") -> CatalogImport:
    """Check and store an uploaded catalog, and queue its processing (on commit)."""
    from licensing.tasks import run_import

    if file_format not in ("csv", "jsonl"):
        raise DomainError("unknown_format", "The catalog format must be csv or jsonl.")
    if len(data) > MAX_CATALOG_BYTES:
        raise DomainError("catalog_too_large", f"The catalog file is larger than {MAX_CATALOG_BYTES} bytes.")
    if not catalog_format._SLUG.match(collection_slug):
        raise DomainError("invalid_collection", "The collection must be a slug (a-z, 0-9, '-').")
    try:
        total = catalog_format.count_records(data, file_format)
    except CatalogFileError as exc:
        raise DomainError(exc.code, exc.message) from exc
    if total == 0:
        raise DomainError("empty_catalog", "The catalog file has no rows.")
    if assets_zip is not None:
        try:
            open_source(zip_data=assets_zip, directory="")
        except AssetError as exc:
            raise DomainError(exc.code, exc.message) from exc
    if assets_dir:
        try:
            open_source(zip_data=None, directory=assets_dir)
        except AssetError as exc:
            raise DomainError(exc.code, exc.message) from exc
    digest = hashlib.sha256(data).hexdigest()
    with transaction.atomic():
        catalog_import = CatalogImport(organization=organization, created_by=user, collection_slug=collection_slug,
                                       collection_name=collection_name, file_format=file_format,
                                       source_sha256=digest, assets_dir=assets_dir, total_rows=total)
        catalog_import.source.save(f"{digest}.{file_format}", ContentFile(data), save=False)
        if assets_zip:
            catalog_import.assets_zip.save(f"{hashlib.sha256(assets_zip).hexdigest()}.zip", ContentFile(assets_zip),
                                           save=False)
        catalog_import.save()
        transaction.on_commit(lambda: run_import.delay(catalog_import.pk))
    return catalog_import
