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


# --- License-chain graphs, attribution, impact (issue 8) -----------------------------------------------------------


class TrainingGraph(models.Model):
    """The digest and counts of a training manifest's license-chain graph (provenance.graph), computed once.

    Derived, but fixed forever: the manifest, its works, licenses and parties are append-only, so the graph
    can only ever hash to this digest. Kept so that sealing an output of a million-work model reads one row.
    """

    manifest = models.OneToOneField("generation.TrainingManifest", on_delete=models.PROTECT,
                                    related_name="license_graph")
    format = models.CharField(max_length=60)
    digest = models.CharField(max_length=64)
    works = models.PositiveIntegerField()
    licenses = models.PositiveIntegerField()
    parties = models.PositiveIntegerField()
    links = models.BigIntegerField()
    seconds = models.FloatField()  # how long computing it took
    created_at = models.DateTimeField()

    class Meta:
        triggers = APPEND_ONLY_TRIGGERS

    def __str__(self) -> str:
        return f"training graph of manifest {self.manifest_id}: {self.digest[:12]}…"

    def summary(self) -> dict[str, object]:
        """The form an output graph's manifest node carries (provenance.graph.TrainingSummary.to_json)."""
        return {"digest": self.digest, "format": self.format, "works": self.works, "licenses": self.licenses,
                "parties": self.parties, "links": self.links}


class LicenseGraph(models.Model):
    """The output graph of a sealed job as its manifest states it (`graph.recorded`)."""

    job = models.OneToOneField(Job, on_delete=models.PROTECT, related_name="license_graph")
    format = models.CharField(max_length=60)
    digest = models.CharField(max_length=64)
    counts = models.JSONField(default=dict)
    document = models.JSONField()  # the canonical node-link document (small: the training graph is by digest)
    training = models.ForeignKey(TrainingGraph, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField()
    ledger_index = models.BigIntegerField()

    class Meta:
        triggers = APPEND_ONLY_TRIGGERS

    def __str__(self) -> str:
        return f"license graph of job {self.job_id}: {self.digest[:12]}…"


class StyleLicense(models.Model):
    """A license a job relied on for a style reference (impact analysis finds jobs through it)."""

    graph = models.ForeignKey(LicenseGraph, on_delete=models.PROTECT, related_name="style_licenses")
    job = models.ForeignKey(Job, on_delete=models.PROTECT, related_name="+")
    license = models.ForeignKey("licensing.License", on_delete=models.PROTECT, related_name="+")
    works = models.PositiveIntegerField()

    class Meta:
        triggers = APPEND_ONLY_TRIGGERS
        constraints = [models.UniqueConstraint(fields=["job", "license"], name="provenance_stylelicense_key")]
        indexes = [models.Index(fields=["license", "job"], name="provenance_stylelicense_lic")]

    def __str__(self) -> str:
        return f"job {self.job_id} relies on license {self.license_id} for style"


class Attribution(models.Model):
    """A job's influence distribution over its model's training works (provenance.attribution), in ppm."""

    job = models.OneToOneField(Job, on_delete=models.PROTECT, related_name="attribution")
    method = models.CharField(max_length=100)
    params = models.JSONField(default=dict)
    digest = models.CharField(max_length=64)  # of the full list (canonical JSON)
    document = models.JSONField()  # the full list as hashed
    created_at = models.DateTimeField()
    ledger_index = models.BigIntegerField()

    class Meta:
        triggers = APPEND_ONLY_TRIGGERS
        indexes = [models.Index(fields=["created_at"], name="provenance_attribution_time")]

    def __str__(self) -> str:
        return f"attribution of job {self.job_id}: {self.digest[:12]}…"


class AttributionWork(models.Model):
    """One credited training work of an attribution, with the license that cleared it and its rights holder."""

    attribution = models.ForeignKey(Attribution, on_delete=models.PROTECT, related_name="works")
    job = models.ForeignKey(Job, on_delete=models.PROTECT, related_name="+")
    work = models.ForeignKey("licensing.Work", on_delete=models.PROTECT, related_name="+")
    license = models.ForeignKey("licensing.License", on_delete=models.PROTECT, related_name="+")
    holder = models.ForeignKey("licensing.Party", on_delete=models.PROTECT, related_name="+")
    ppm = models.PositiveIntegerField()  # parts per million of the output's influence
    similarity_micro = models.IntegerField()
    style_reference = models.BooleanField(default=False)
    created_at = models.DateTimeField()  # the attribution's (statements select by it)

    class Meta:
        triggers = APPEND_ONLY_TRIGGERS
        constraints = [models.UniqueConstraint(fields=["attribution", "work"], name="provenance_attrwork_key")]
        indexes = [
            models.Index(fields=["created_at", "holder"], name="provenance_attrwork_period"),
            models.Index(fields=["work", "job"], name="provenance_attrwork_work"),
            models.Index(fields=["license", "job"], name="provenance_attrwork_license"),
        ]

    def __str__(self) -> str:
        return f"work {self.work_id}: {self.ppm} ppm of job {self.job_id}"


class ImpactReport(models.Model):
    """Which models, jobs and outputs a rights change touches (`impact.reported`), produced automatically."""

    trigger_type = models.CharField(max_length=64)  # license.revoked, optout.registered, or manual
    trigger_index = models.BigIntegerField(null=True, blank=True, unique=True)  # the change's ledger entry
    subject = models.JSONField(default=dict)  # {"kind": "license"|"work"|"party"|"optout", "id", "label"}
    works = models.PositiveIntegerField()
    models_count = models.PositiveIntegerField()
    jobs = models.PositiveIntegerField()
    outputs = models.PositiveIntegerField()
    summary = models.JSONField(default=dict)  # per model, per organization, samples (truncated with counts)
    seconds = models.FloatField()
    created_at = models.DateTimeField()
    ledger_index = models.BigIntegerField()

    class Meta:
        ordering = ["-id"]
        triggers = APPEND_ONLY_TRIGGERS

    def __str__(self) -> str:
        return f"impact of {self.trigger_type} #{self.trigger_index}: {self.outputs} outputs"


class ImpactCursor(models.Model):
    """How far rights changes have been turned into impact reports (a single row)."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    size = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"impact cursor at {self.size}"
