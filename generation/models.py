"""Model registry: training manifests (the exact works a model learned from) and registered generation models.

Both are append-only: a manifest or a model, once recorded in the ledger, is never edited (a retrained
model is a new version with a new manifest).
"""

from __future__ import annotations

from django.db import models

from licensing.models import APPEND_ONLY_TRIGGERS


class TrainingManifest(models.Model):
    """The set of works a model was trained on, each with the license that cleared it, as a Merkle tree."""

    name = models.CharField(max_length=200, unique=True)
    use = models.CharField(max_length=40, default="ai_training")
    territory = models.CharField(max_length=8)
    evaluated_at = models.DateTimeField()  # the moment rights were evaluated ("now" at selection)
    ledger_size = models.BigIntegerField()  # ledger tree size the evaluation saw
    selection = models.JSONField(default=dict)  # how works were chosen (collections, formats, criteria)
    work_count = models.PositiveIntegerField()
    merkle_root = models.CharField(max_length=64)  # hex RFC 9162 root over the sorted records
    leaf_format = models.CharField(max_length=60)
    created_at = models.DateTimeField()
    ledger_index = models.BigIntegerField()

    class Meta:
        triggers = APPEND_ONLY_TRIGGERS

    def __str__(self) -> str:
        return f"{self.name} ({self.work_count} works, root {self.merkle_root[:12]}…)"


class ManifestEntry(models.Model):
    """One training work of a manifest, at its position in work-key order (the Merkle leaf index)."""

    manifest = models.ForeignKey(TrainingManifest, on_delete=models.PROTECT, related_name="entries")
    position = models.PositiveIntegerField()
    work = models.ForeignKey("licensing.Work", on_delete=models.PROTECT, related_name="manifest_entries")
    work_key = models.CharField(max_length=420)
    asset_sha256 = models.CharField(max_length=64)
    license = models.ForeignKey("licensing.License", on_delete=models.PROTECT, related_name="manifest_entries")
    license_key = models.CharField(max_length=400)
    basis = models.CharField(max_length=20)

    class Meta:
        verbose_name_plural = "manifest entries"
        triggers = APPEND_ONLY_TRIGGERS
        constraints = [
            models.UniqueConstraint(fields=["manifest", "position"], name="generation_manifestentry_position"),
            models.UniqueConstraint(fields=["manifest", "work"], name="generation_manifestentry_work"),
        ]
        indexes = [models.Index(fields=["work", "manifest"], name="generation_manifest_by_work")]

    def __str__(self) -> str:
        return f"{self.manifest_id}#{self.position} {self.work_key}"


class GenerationModel(models.Model):
    """A generator registered for jobs: engine, config, pinned checkpoint, its training manifest and model card."""

    name = models.CharField(max_length=100)
    version = models.CharField(max_length=40)
    engine = models.CharField(max_length=60)
    config = models.JSONField(default=dict)
    checkpoint = models.FileField(upload_to="models/", max_length=300)
    checkpoint_sha256 = models.CharField(max_length=64)
    checkpoint_size = models.BigIntegerField()
    manifest = models.ForeignKey(TrainingManifest, on_delete=models.PROTECT, related_name="models")
    style_tags = models.JSONField(default=list)  # tags the model can condition on
    model_card = models.JSONField(default=dict)
    created_at = models.DateTimeField()
    ledger_index = models.BigIntegerField()

    class Meta:
        triggers = APPEND_ONLY_TRIGGERS
        constraints = [models.UniqueConstraint(fields=["name", "version"], name="generation_model_name_version")]

    def __str__(self) -> str:
        return f"{self.name} {self.version}"

    @property
    def slug(self) -> str:
        """`name@version`, how jobs and the API name a model."""
        return f"{self.name}@{self.version}"


# --- Gate policy and client entitlements -------------------------------------------------------------------------


class TrainingChangePolicy(models.TextChoices):
    """What the gate does when a training work stops being cleared after the model was trained."""

    DENY = "deny"  # deny every job of the model at once
    GRACE = "grace"  # allow (with a note) until a retraining deadline, then deny


class GatePolicy(models.Model):
    """A version of the gate's configurable rules, set by compliance. The highest version is in force.

    Append-only: a change is a new version (`gate.policy_set`); every decision records the version it used.
    Version 0 is the built-in default (generation.gate.DEFAULT_POLICY) in force until a version is set.
    """

    version = models.PositiveIntegerField(unique=True)
    training_changes = models.CharField(max_length=8, choices=TrainingChangePolicy.choices)
    grace_days = models.PositiveIntegerField(default=0)
    memorization_threshold = models.PositiveIntegerField(default=8)  # longest shared run allowed, in events
    name_fuzzy_threshold = models.FloatField(default=88.0)  # rapidfuzz score for a fuzzy name match
    note = models.CharField(max_length=1000, blank=True)
    created_at = models.DateTimeField()
    ledger_index = models.BigIntegerField()

    class Meta:
        ordering = ["-version"]
        verbose_name_plural = "gate policies"
        triggers = APPEND_ONLY_TRIGGERS

    def __str__(self) -> str:
        return f"gate policy v{self.version}"


class IndemnificationTier(models.TextChoices):
    """How far Clearcue indemnifies a client's use of cleared outputs."""

    NONE = "none"
    STANDARD = "standard"
    ENHANCED = "enhanced"


class Entitlement(models.Model):
    """A client organization's contract terms for jobs. Append-only: the newest one in its period is in force."""

    organization = models.ForeignKey("clearcue.Organization", on_delete=models.PROTECT, related_name="entitlements")
    reference = models.CharField(max_length=200)  # the contract's reference
    territories = models.CharField(max_length=1000)  # "|US|GB|" or "|WORLD|" (licensing.terms)
    commercial_use = models.BooleanField()
    indemnification_tier = models.CharField(max_length=16, choices=IndemnificationTier.choices)
    monthly_quota = models.PositiveIntegerField(null=True, blank=True)  # approved jobs per calendar month (UTC)
    model_slugs = models.JSONField(default=list, blank=True)  # "name@version" or "name@*"; [] = any model
    valid_from = models.DateTimeField()
    valid_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()
    ledger_index = models.BigIntegerField()

    class Meta:
        ordering = ["-id"]
        triggers = APPEND_ONLY_TRIGGERS
        indexes = [models.Index(fields=["organization", "-id"], name="generation_entitlement_org")]

    def __str__(self) -> str:
        return f"{self.reference} ({self.organization_id})"


# --- Per-model clearance state (what the gate reads) --------------------------------------------------------------


class Clearance(models.Model):
    """For one training manifest and territory: how many of its works are not cleared now, per use.

    A cache of rights evaluation, not a record: generation.clearance computes it once in full and then keeps
    it current from the rights changes in the ledger (`as_of_size`), so a gate decision reads this row and a
    few blocks instead of re-evaluating every training work. `counts` maps each use to
    {"hard": works blocked outright, "grace": works blocked by a change after training, "grace_since": ISO time}.
    """

    manifest = models.ForeignKey(TrainingManifest, on_delete=models.CASCADE, related_name="clearances")
    territory = models.CharField(max_length=8)
    counts = models.JSONField(default=dict)
    as_of_size = models.BigIntegerField()
    computed_at = models.DateTimeField()
    refreshed_at = models.DateTimeField()
    full_seconds = models.FloatField(default=0.0)  # how long the last full computation took

    class Meta:
        constraints = [models.UniqueConstraint(fields=["manifest", "territory"], name="generation_clearance_key")]

    def __str__(self) -> str:
        return f"clearance of manifest {self.manifest_id} in {self.territory}"


class ClearanceBlock(models.Model):
    """A training work that is not cleared for a use in a clearance's territory, with why and since when."""

    clearance = models.ForeignKey(Clearance, on_delete=models.CASCADE, related_name="blocks")
    use = models.CharField(max_length=40)
    work = models.ForeignKey("licensing.Work", on_delete=models.CASCADE, related_name="+")
    work_key = models.CharField(max_length=420)
    reasons = models.JSONField(default=list)
    # Cleared at the manifest's snapshot and blocked by a later change (the grace policy may apply).
    after_training = models.BooleanField(default=False)
    since = models.DateTimeField(null=True, blank=True)  # when that change took effect

    class Meta:
        constraints = [models.UniqueConstraint(fields=["clearance", "use", "work"], name="generation_block_key")]
        indexes = [models.Index(fields=["clearance", "use", "after_training", "work_key"],
                                name="generation_block_sample")]

    def __str__(self) -> str:
        return f"{self.work_key} blocked for {self.use}"


class ClearanceCursor(models.Model):
    """How far rights changes have been applied to every clearance (a single row).

    `size`: ledger entries below it are applied; `time`: facts whose effective time (license start or end,
    dated opt-out, revocation or withdrawal) is at or before it are applied.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    size = models.BigIntegerField(default=0)
    time = models.DateTimeField(null=True, blank=True)
    # The earliest effective time after `time` of any license start or end, opt-out, revocation or withdrawal
    # already recorded: until the clock reaches it, only new ledger entries can make a clearance stale.
    next_event = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"clearance cursor at {self.size}"


# --- Jobs ---------------------------------------------------------------------------------------------------------


class JobState(models.TextChoices):
    """A job's lifecycle. Queued states wait for a step; in-progress states are held by a claim."""

    SUBMITTED = "submitted"  # queued for the gate
    GATED = "gated"  # the gate is deciding (claimed)
    DENIED = "denied"  # terminal: the gate (before composing) or the post-gate check refused it
    APPROVED = "approved"  # queued for composing
    COMPOSING = "composing"  # claimed
    CHECKING = "checking"  # post-gate checks (queued when unclaimed)
    SEALING = "sealing"  # rendering, sealing and storing outputs (queued when unclaimed)
    COMPLETED = "completed"  # terminal: sealed outputs downloadable
    FAILED = "failed"  # terminal: an error; outcome_code says which
    CANCELLED = "cancelled"  # terminal: cancelled by the client


TERMINAL_STATES = frozenset({JobState.DENIED, JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED})


class JobUse(models.TextChoices):
    """What the client will do with the output."""

    COMMERCIAL = "commercial"
    NON_COMMERCIAL = "non_commercial"


class Job(models.Model):
    """A client's request for a cue, and where it stands. Steps change it only through generation.actions."""

    organization = models.ForeignKey("clearcue.Organization", on_delete=models.PROTECT, related_name="jobs")
    created_by = models.ForeignKey("clearcue.User", null=True, on_delete=models.SET_NULL, related_name="+")
    idempotency_key = models.CharField(max_length=200)
    request_sha256 = models.CharField(max_length=64)  # of the canonical request body: same key, same body
    description = models.TextField()
    params = models.JSONField(default=dict)  # explicit plan parameters (duration, tempo, key, hit points ...)
    model = models.ForeignKey(GenerationModel, on_delete=models.PROTECT, related_name="jobs")
    style_tags = models.JSONField(default=list)
    territory = models.CharField(max_length=8)
    use = models.CharField(max_length=16, choices=JobUse.choices)
    formats = models.JSONField(default=list)  # wav, flac, mp3, m4a, midi, musicxml
    training_mining = models.JSONField(default=dict, blank=True)  # uses the client allows others ({} = none)
    seed = models.BigIntegerField()
    state = models.CharField(max_length=16, choices=JobState.choices, default=JobState.SUBMITTED)
    claim_token = models.CharField(max_length=32, blank=True)
    claimed_until = models.DateTimeField(null=True, blank=True)
    # Why the job ended where it did (terminal states) or what it waits for.
    outcome_code = models.CharField(max_length=60, blank=True)
    outcome_message = models.CharField(max_length=1000, blank=True)
    outcome_details = models.JSONField(default=dict, blank=True)
    progress = models.PositiveSmallIntegerField(default=0)  # percent
    steps = models.JSONField(default=dict)  # step -> {"attempts", "started_at", "finished_at", "seconds"}
    plan = models.JSONField(default=dict, blank=True)  # the CuePlan, once composed
    indemnified = models.BooleanField(default=False)
    approved_at = models.DateTimeField(null=True, blank=True)  # when the gate allowed it (quotas count these)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [models.UniqueConstraint(fields=["organization", "idempotency_key"],
                                               name="generation_job_idempotency")]
        indexes = [
            models.Index(fields=["state", "claimed_until"], name="generation_job_step"),
            models.Index(fields=["organization", "state", "created_at"], name="generation_job_org"),
            models.Index(fields=["organization", "approved_at"], name="generation_job_approved"),
        ]

    def __str__(self) -> str:
        return f"job {self.pk} ({self.state})"


class JobDraft(models.Model):
    """What the engine composed, kept in the database until sealed: never in storage, never downloadable."""

    job = models.OneToOneField(Job, on_delete=models.CASCADE, related_name="draft")
    engine = models.CharField(max_length=60)
    composition = models.JSONField()  # {"plan": CuePlan.to_dict(), "material": ..., "seed": ...}
    created_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"draft of job {self.job_id}"


class GateStage(models.TextChoices):
    """When the gate decided: before composing, or after composing and before sealing."""

    PRE = "pre"
    POST = "post"


class GateDecision(models.Model):
    """A gate decision with its reasons and everything it was evaluated against (`gate.decided`)."""

    job = models.ForeignKey(Job, on_delete=models.PROTECT, related_name="decisions")
    stage = models.CharField(max_length=8, choices=GateStage.choices)
    allowed = models.BooleanField()
    reasons = models.JSONField(default=list)  # [{"rule", "code", "severity", "message", "ids", "count"}]
    policy_version = models.PositiveIntegerField()
    policy = models.JSONField(default=dict)
    model = models.ForeignKey(GenerationModel, on_delete=models.PROTECT, related_name="+")
    manifest_root = models.CharField(max_length=64)
    ledger_size = models.BigIntegerField()  # rights known at this ledger size
    facts = models.JSONField(default=dict)  # summary of what the decision read (counts, entitlement, tier)
    elapsed_ms = models.FloatField()
    decided_at = models.DateTimeField()
    ledger_index = models.BigIntegerField()

    class Meta:
        ordering = ["id"]
        triggers = APPEND_ONLY_TRIGGERS
        constraints = [models.UniqueConstraint(fields=["job", "stage"], name="generation_decision_once")]

    def __str__(self) -> str:
        return f"{self.stage} decision on job {self.job_id}: {'allow' if self.allowed else 'deny'}"


class JobOutput(models.Model):
    """A sealed output file of a job. Written to storage only by the seal step; append-only."""

    job = models.ForeignKey(Job, on_delete=models.PROTECT, related_name="outputs")
    kind = models.CharField(max_length=16)  # wav, midi, musicxml
    file = models.FileField(upload_to="outputs/", max_length=300)
    media_type = models.CharField(max_length=100)
    sha256 = models.CharField(max_length=64)
    size = models.BigIntegerField()
    created_at = models.DateTimeField()
    ledger_index = models.BigIntegerField()  # the output.sealed entry

    class Meta:
        ordering = ["job_id", "kind"]
        triggers = APPEND_ONLY_TRIGGERS
        constraints = [models.UniqueConstraint(fields=["job", "kind"], name="generation_output_kind")]
        # Verification looks uploads up by their digest. An index, not db_index: altering the field would make
        # SQLite rebuild the table and lose its append-only triggers.
        indexes = [models.Index(fields=["sha256"], name="generation_output_sha256")]

    def __str__(self) -> str:
        return f"{self.kind} of job {self.job_id}"
