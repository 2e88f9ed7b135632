"""Provenance records: watermark payloads allocated to sealed audio, and the signed C2PA manifest of each file.

Both are append-only (database triggers): a payload, once embedded in published audio, and a manifest, once
signed into a file, are facts that can never be edited, only looked up (verification, the soft-binding
resolution API).
"""

from __future__ import annotations

from django.db import models

from generation.models import Job, JobOutput
from licensing.models import APPEND_ONLY_TRIGGERS


class WatermarkPayload(models.Model):
    """The watermark payload embedded in one job's sealed audio; the database resolves it back to the job.

    `serial` comes from a counter read under the ledger head lock, `value = payloads.scramble(serial, bits)` is
    a bijection, so two outputs can never carry the same payload (and the unique constraint stands behind it).
    """

    job = models.ForeignKey(Job, on_delete=models.PROTECT, related_name="watermarks")
    serial = models.BigIntegerField(unique=True)
    alg = models.CharField(max_length=100)
    bits = models.PositiveSmallIntegerField()
    value = models.BigIntegerField()
    key_id = models.CharField(max_length=64)
    created_at = models.DateTimeField()
    ledger_index = models.BigIntegerField()  # the watermark.allocated entry

    class Meta:
        ordering = ["serial"]
        triggers = APPEND_ONLY_TRIGGERS
        constraints = [
            models.UniqueConstraint(fields=["alg", "value"], name="provenance_payload_alg_value"),
            models.UniqueConstraint(fields=["job", "alg"], name="provenance_payload_job_alg"),
        ]

    def __str__(self) -> str:
        return f"{self.alg} payload {self.value:#010x} of job {self.job_id}"


class Credential(models.Model):
    """The C2PA manifest signed into one sealed output file, with its manifest store for the SB-API."""

    output = models.OneToOneField(JobOutput, on_delete=models.PROTECT, related_name="credential")
    manifest_id = models.CharField(max_length=200, unique=True)  # urn:c2pa:...
    media_type = models.CharField(max_length=100)
    store = models.BinaryField()  # the application/c2pa manifest store, as signed
    store_sha256 = models.CharField(max_length=64)
    watermark = models.ForeignKey(WatermarkPayload, on_delete=models.PROTECT, null=True, related_name="credentials")
    signer = models.CharField(max_length=300)  # the signing certificate's subject
    summary = models.JSONField(default=dict)  # what the manifest states, compactly
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["id"]
        triggers = APPEND_ONLY_TRIGGERS

    def __str__(self) -> str:
        return self.manifest_id
