"""Provenance writes: allocating watermark payloads and recording the credentials signed into sealed files.

Each runs in one transaction with its ledger entry (`watermark.allocated`; credentials are bound by the job's
`output.sealed` entry, written by `generation.actions.do_complete_job` in the same transaction).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from clearcue.exceptions import DomainError
from generation.models import Job, JobOutput
from licensing.actions import _LedgerPlan
from licensing.ledger import Actor, EntryDraft
from licensing.models import EntryType
from provenance import payloads
from provenance.models import Credential, WatermarkPayload


def do_allocate_payload(job: Job, *, alg: str, bits: int, key_id: str, actor: Actor) -> WatermarkPayload:
    """The job's watermark payload for `alg`, allocated on first call (a re-run of the seal step reuses it).

    The serial is read under the ledger head lock that the entry needs anyway, so concurrent seals get
    consecutive serials; the payload is a fixed bijection of the serial (provenance.payloads).
    """
    existing = WatermarkPayload.objects.filter(job=job, alg=alg).first()
    if existing is not None:
        return existing
    with transaction.atomic():
        plan = _LedgerPlan()  # locks the ledger head: allocations are serialized
        existing = WatermarkPayload.objects.filter(job=job, alg=alg).first()
        if existing is not None:
            return existing
        serial = (WatermarkPayload.objects.aggregate(top=Max("serial"))["top"] or 0) + 1
        if serial >= 1 << bits:
            raise DomainError("payload_space_exhausted", f"All {1 << bits} payloads of {alg} are allocated.",
                              status=503)
        value = payloads.scramble(serial, bits)
        index = plan.add(EntryDraft(EntryType.WATERMARK_ALLOCATED, {
            "job_id": job.pk, "alg": alg, "bits": bits, "value": value, "serial": serial, "key_id": key_id,
        }, "job", str(job.pk)))
        payload = WatermarkPayload.objects.create(job=job, serial=serial, alg=alg, bits=bits, value=value,
                                                  key_id=key_id, created_at=timezone.now(), ledger_index=index)
        plan.commit(actor=actor)
    return payload


@dataclass(frozen=True)
class SignedCredential:
    """What was signed into one output file: its manifest id and store, and what the manifest states."""

    manifest_id: str
    media_type: str
    store: bytes
    signer: str
    summary: dict[str, Any]


def credential_recorder(signed: Mapping[str, SignedCredential],
                        watermark: WatermarkPayload | None) -> Callable[[list[JobOutput]], None]:
    """A `do_complete_job(on_outputs=...)` hook that records the credential of each signed output (by kind)."""
    def record(outputs: list[JobOutput]) -> None:
        now = timezone.now()
        Credential.objects.bulk_create([
            Credential(output=output, manifest_id=item.manifest_id, media_type=item.media_type, store=item.store,
                       store_sha256=hashlib.sha256(item.store).hexdigest(), watermark=watermark,
                       signer=item.signer[:300], summary=item.summary, created_at=now)
            for output in outputs if (item := signed.get(output.kind)) is not None
        ])
    return record
