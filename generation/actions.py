"""State changes in generation. Every one writes its ledger entry in the same transaction."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from dataclasses import field as dc_field
from datetime import datetime, timedelta
from typing import Any

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from clearcue.exceptions import DomainError
from clearcue.models import Organization, User
from generation.gate import Decision, Policy
from generation.manifest import LEAF_FORMAT, root_of
from generation.models import (
    TERMINAL_STATES,
    Entitlement,
    GateDecision,
    GatePolicy,
    GateStage,
    GenerationModel,
    IndemnificationTier,
    Job,
    JobDraft,
    JobOutput,
    JobState,
    JobUse,
    ManifestEntry,
    TrainingChangePolicy,
    TrainingManifest,
)
from generation.training import Selection
from licensing.actions import _bulk_insert, _LedgerPlan
from licensing.ledger import Actor, EntryDraft, format_time
from licensing.models import EntryType
from licensing.terms import normalize_territory, territory_field


def json_digest(value: Any) -> str:
    """SHA-256 of a JSON value in sorted-key compact form (for configs and cards, which may hold floats)."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def do_create_training_manifest(selection: Selection, *, name: str, actor: Actor) -> TrainingManifest:
    """Record a training set (`manifest.created`): its works, their clearing licenses, and the Merkle root."""
    if not selection.records:
        raise DomainError("manifest_empty", "No work is cleared for training under this selection.",
                          details={"criteria": selection.criteria, "denied": selection.denied})
    with transaction.atomic():
        if TrainingManifest.objects.filter(name=name).exists():
            raise DomainError("manifest_exists", f"A training manifest named {name!r} already exists.",
                              details={"name": name}, status=409)
        root = root_of(selection.records).hex()
        plan = _LedgerPlan()
        now = timezone.now()
        manifest = TrainingManifest.objects.create(
            name=name, territory=selection.territory, evaluated_at=selection.evaluated_at,
            ledger_size=selection.ledger_size, selection=selection.criteria, work_count=len(selection.records),
            merkle_root=root, leaf_format=LEAF_FORMAT, created_at=now, ledger_index=plan.reserve())
        _bulk_insert(ManifestEntry, [
            ManifestEntry(manifest=manifest, position=i, work=selection.works[r.work], work_key=r.work,
                          asset_sha256=r.sha256, license=selection.licenses[r.license], license_key=r.license,
                          basis=r.basis)
            for i, r in enumerate(selection.records)])
        plan.fill(manifest.ledger_index, EntryDraft(EntryType.MANIFEST_CREATED, {
            "name": name, "merkle_root": root, "leaf_format": LEAF_FORMAT, "work_count": manifest.work_count,
            "use": manifest.use, "territory": manifest.territory,
            "evaluated_at": format_time(selection.evaluated_at), "ledger_size": selection.ledger_size,
            "criteria": json.loads(json.dumps(selection.criteria)),
        }, "training_manifest", str(manifest.pk)))
        plan.commit(actor=actor)
    return manifest


def do_register_model(*, name: str, version: str, engine: str, config: dict[str, Any], checkpoint: bytes,
                      manifest: TrainingManifest, style_tags: Sequence[str], model_card: dict[str, Any],
                      actor: Actor) -> GenerationModel:
    """Register a generator (`model.registered`) with its checkpoint pinned by SHA-256 and its manifest."""
    digest = hashlib.sha256(checkpoint).hexdigest()
    with transaction.atomic():
        if GenerationModel.objects.filter(name=name, version=version).exists():
            raise DomainError("model_exists", f"Model {name}@{version} is already registered.",
                              details={"name": name, "version": version}, status=409)
        storage_name = f"models/{digest}.pt"
        if not default_storage.exists(storage_name):  # content-addressed: the same weights are stored once
            saved = default_storage.save(storage_name, ContentFile(checkpoint))
            if saved != storage_name:
                raise RuntimeError(f"storage renamed checkpoint {storage_name} to {saved}")
        plan = _LedgerPlan()
        model = GenerationModel.objects.create(
            name=name, version=version, engine=engine, config=config, checkpoint=storage_name,
            checkpoint_sha256=digest, checkpoint_size=len(checkpoint), manifest=manifest,
            style_tags=sorted(set(style_tags)), model_card=model_card, created_at=timezone.now(),
            ledger_index=plan.reserve())
        plan.fill(model.ledger_index, EntryDraft(EntryType.MODEL_REGISTERED, {
            "name": name, "version": version, "engine": engine, "checkpoint_sha256": digest,
            "checkpoint_size": len(checkpoint), "manifest_id": manifest.pk, "manifest_root": manifest.merkle_root,
            "manifest_ledger_index": manifest.ledger_index, "style_tags": model.style_tags,
            "config_sha256": json_digest(config), "model_card_sha256": json_digest(model_card),
        }, "generation_model", str(model.pk)))
        plan.commit(actor=actor)
        territories = {manifest.territory} | _entitled_territories()
        transaction.on_commit(lambda: _prepare_clearances([manifest.pk], territories))
    return model


def _entitled_territories() -> set[str]:
    """Territories of the client contracts on record (where jobs may run), WORLD left out."""
    from licensing.terms import territories_of

    codes: set[str] = set()
    for stored in Entitlement.objects.values_list("territories", flat=True).distinct():
        codes.update(territories_of(stored))
    codes.discard("WORLD")
    return codes


def _prepare_clearances(manifest_ids: Sequence[int], territories: set[str]) -> None:
    """Queue the one-time clearance computation, so the first job in a territory does not pay for it."""
    from generation.tasks import prepare_clearance

    for manifest_id in manifest_ids:
        for territory in sorted(territories):
            prepare_clearance.delay(manifest_id, territory)


# --- Gate policy and entitlements ---------------------------------------------------------------------------------


def do_set_gate_policy(*, training_changes: str, grace_days: int, memorization_threshold: int,
                       name_fuzzy_threshold: float, note: str = "", actor: Actor) -> GatePolicy:
    """Put a new gate policy version in force (`gate.policy_set`); earlier versions stay on record."""
    if training_changes not in TrainingChangePolicy.values:
        raise DomainError("invalid_policy", "training_changes must be one of "
                          f"{', '.join(TrainingChangePolicy.values)}.", details={"training_changes": training_changes})
    if training_changes == TrainingChangePolicy.GRACE and grace_days < 1:
        raise DomainError("invalid_policy", "A grace policy needs grace_days of at least 1.")
    if memorization_threshold < 1:
        raise DomainError("invalid_policy", "memorization_threshold must be at least 1 event.")
    if not 50.0 <= name_fuzzy_threshold <= 100.0:
        raise DomainError("invalid_policy", "name_fuzzy_threshold must be within 50..100.")
    with transaction.atomic():
        plan = _LedgerPlan()
        latest = GatePolicy.objects.order_by("-version").values_list("version", flat=True).first() or 0
        policy = GatePolicy.objects.create(
            version=latest + 1, training_changes=training_changes, grace_days=grace_days,
            memorization_threshold=memorization_threshold, name_fuzzy_threshold=name_fuzzy_threshold, note=note,
            created_at=timezone.now(), ledger_index=plan.reserve())
        plan.fill(policy.ledger_index, EntryDraft(EntryType.GATE_POLICY_SET, {
            "version": policy.version, "training_changes": training_changes, "grace_days": grace_days,
            "memorization_threshold": memorization_threshold,
            "name_fuzzy_threshold_milli": round(name_fuzzy_threshold * 1000), "note": note,
        }, "gate_policy", str(policy.version)))
        plan.commit(actor=actor)
    return policy


def do_grant_entitlement(*, organization: Organization, reference: str, territories: Sequence[str],
                         commercial_use: bool, indemnification_tier: str, monthly_quota: int | None,
                         model_slugs: Sequence[str] = (), valid_from: datetime | None = None,
                         valid_until: datetime | None = None, actor: Actor) -> Entitlement:
    """Record a client's contract terms (`entitlement.granted`); a newer one supersedes it from its start."""
    try:
        codes = sorted({normalize_territory(t) for t in territories})
    except ValueError as exc:
        raise DomainError("invalid_territory", str(exc)) from None
    if not codes:
        raise DomainError("invalid_entitlement", "An entitlement must cover at least one territory (or WORLD).")
    if indemnification_tier not in IndemnificationTier.values:
        raise DomainError("invalid_entitlement", f"indemnification_tier must be one of "
                          f"{', '.join(IndemnificationTier.values)}.")
    if organization.is_operator:
        raise DomainError("invalid_entitlement", "Entitlements are for client organizations, not the operator.")
    start = valid_from or timezone.now()
    if valid_until is not None and valid_until <= start:
        raise DomainError("invalid_period", "valid_until must be after valid_from.")
    with transaction.atomic():
        plan = _LedgerPlan()
        ent = Entitlement.objects.create(
            organization=organization, reference=reference, territories=territory_field(codes),
            commercial_use=commercial_use, indemnification_tier=indemnification_tier, monthly_quota=monthly_quota,
            model_slugs=sorted(set(model_slugs)), valid_from=start, valid_until=valid_until,
            created_at=timezone.now(), ledger_index=plan.reserve())
        plan.fill(ent.ledger_index, EntryDraft(EntryType.ENTITLEMENT_GRANTED, {
            "organization_id": organization.pk, "reference": reference, "territories": codes,
            "commercial_use": commercial_use, "indemnification_tier": indemnification_tier,
            "monthly_quota": monthly_quota, "model_slugs": ent.model_slugs, "valid_from": format_time(start),
            "valid_until": format_time(valid_until) if valid_until else None,
        }, "entitlement", str(ent.pk)))
        plan.commit(actor=actor)
        manifests = list(GenerationModel.objects.values_list("manifest_id", flat=True).distinct())
        fresh = {c for c in codes if c != "WORLD"}
        transaction.on_commit(lambda: _prepare_clearances(manifests, fresh))
    return ent


# --- Jobs ---------------------------------------------------------------------------------------------------------

# Audio formats carry the watermark and an embedded C2PA manifest; MIDI and MusicXML are bound by the ledger.
AUDIO_FORMATS = ("wav", "flac", "mp3", "m4a")
OUTPUT_FORMATS = (*AUDIO_FORMATS, "midi", "musicxml")
DEFAULT_FORMATS = ("wav", "midi", "musicxml")
# What the client lets others do with the output, stated in its manifest's training-mining assertions (CAWG
# uses); every use not named is `notAllowed`.
TRAINING_MINING_USES = ("data_mining", "ai_inference", "ai_generative_training", "ai_training")
TRAINING_MINING_CHOICES = ("allowed", "notAllowed")
CLAIM_SECONDS_DEFAULT = 300


@dataclass(frozen=True)
class JobRequest:
    """A client's job request, as validated by the API (the canonical body is what idempotency compares)."""

    description: str
    model: str  # name@version
    territory: str
    use: str
    style_tags: tuple[str, ...] = ()
    params: dict[str, Any] = dc_field(default_factory=dict)
    formats: tuple[str, ...] = DEFAULT_FORMATS
    seed: int | None = None
    training_mining: dict[str, str] = dc_field(default_factory=dict)

    def canonical(self) -> dict[str, Any]:
        """The body idempotency keys compare: sorted, normalized."""
        body = {"description": self.description, "model": self.model, "territory": self.territory.upper(),
                "use": self.use, "style_tags": sorted(set(self.style_tags)), "params": self.params,
                "formats": sorted(set(self.formats)), "seed": self.seed}
        if self.training_mining:  # only when given, so bodies without it keep their digest
            body["training_mining"] = dict(sorted(self.training_mining.items()))
        return body


def _resolve_model(slug: str) -> GenerationModel:
    name, _, version = slug.partition("@")
    models = GenerationModel.objects.filter(name=name).select_related("manifest")
    model = models.filter(version=version).first() if version else models.order_by("-created_at").first()
    if model is None:
        raise DomainError("unknown_model", f"No registered model {slug!r}.",
                          details={"models": [m.slug for m in GenerationModel.objects.all()[:50]]})
    return model


def _check_request(request: JobRequest) -> tuple[GenerationModel, str]:
    """Validate a request before anything is stored (the plan parameters too)."""
    from generation.engines.reference.plan import PlanError, PlanParams, plan_cue

    model = _resolve_model(request.model)
    try:
        territory = normalize_territory(request.territory)
    except ValueError as exc:
        raise DomainError("invalid_territory", str(exc)) from None
    if territory == "WORLD":
        raise DomainError("invalid_territory", "A job runs in one territory (an ISO 3166-1 alpha-2 code), not WORLD.")
    if request.use not in JobUse.values:
        raise DomainError("invalid_use", f"use must be one of {', '.join(JobUse.values)}.")
    unknown = sorted(set(request.formats) - set(OUTPUT_FORMATS))
    if unknown or not request.formats:
        raise DomainError("invalid_formats", f"formats must be a non-empty subset of {', '.join(OUTPUT_FORMATS)}.",
                          details={"unknown": unknown})
    if not request.description.strip():
        raise DomainError("empty_description", "Describe the scene the cue is for.")
    bad_uses = sorted(set(request.training_mining) - set(TRAINING_MINING_USES))
    bad_choices = sorted({c for c in request.training_mining.values() if c not in TRAINING_MINING_CHOICES})
    if bad_uses or bad_choices:
        raise DomainError("invalid_training_mining", f"training_mining maps {', '.join(TRAINING_MINING_USES)} to "
                          f"{' or '.join(TRAINING_MINING_CHOICES)}.",
                          details={"uses": bad_uses, "choices": bad_choices})
    try:
        params = PlanParams.from_dict({**request.params, "style_tags": list(request.style_tags)})
        plan_cue(request.description, params)  # pure: the same validation the engine applies, before storing
    except PlanError as exc:
        raise DomainError(exc.code, exc.message, details=exc.details) from None
    except TypeError as exc:
        raise DomainError("plan_bad_param", f"invalid plan parameters: {exc}") from None
    return model, territory


def do_submit_job(request: JobRequest, *, organization: Organization, user: User | None, idempotency_key: str,
                  actor: Actor) -> tuple[Job, bool]:
    """Store a job (`job.submitted`) and queue its gate step; the same key with the same body returns the same job.

    Returns (job, created). The same key with a different body is refused with `idempotency_conflict` (409).
    """
    if not idempotency_key or len(idempotency_key) > 200:
        raise DomainError("invalid_idempotency_key", "Send an Idempotency-Key of 1 to 200 characters.")
    body = request.canonical()
    digest = json_digest(body)
    existing = Job.objects.filter(organization=organization, idempotency_key=idempotency_key).first()
    if existing is not None:
        return _same_request(existing, digest), False
    model, territory = _check_request(request)
    seed = request.seed if request.seed is not None else int(digest[:8], 16)
    now = timezone.now()
    try:
        with transaction.atomic():
            plan = _LedgerPlan()
            job = Job.objects.create(
                organization=organization, created_by=user, idempotency_key=idempotency_key, request_sha256=digest,
                description=request.description, params=request.params, model=model,
                style_tags=sorted(set(request.style_tags)), territory=territory, use=request.use,
                formats=sorted(set(request.formats)), seed=seed, state=JobState.SUBMITTED, progress=0,
                training_mining=dict(sorted(request.training_mining.items())), steps={}, created_at=now,
                updated_at=now)
            plan.add(EntryDraft(EntryType.JOB_SUBMITTED, {
                "job_id": job.pk, "organization_id": organization.pk, "request_sha256": digest, "model": model.slug,
                "territory": territory, "use": request.use, "style_tags": job.style_tags, "formats": job.formats,
                "training_mining": job.training_mining,
            }, "job", str(job.pk)))
            plan.commit(actor=actor)
            transaction.on_commit(lambda: _enqueue_generate(job.pk))
    except IntegrityError:  # a concurrent submission with the same key won the race
        existing = Job.objects.get(organization=organization, idempotency_key=idempotency_key)
        return _same_request(existing, digest), False
    return job, True


def _same_request(job: Job, digest: str) -> Job:
    if job.request_sha256 != digest:
        raise DomainError("idempotency_conflict", "This Idempotency-Key was already used with a different request.",
                          details={"job_id": job.pk}, status=409)
    return job


def _enqueue_generate(job_id: int) -> None:
    from generation.tasks import run_job

    run_job.delay(job_id)


def do_cancel_job(job: Job, *, actor: Actor) -> Job:
    """Cancel a job that has not ended; a step in flight finds its claim gone and drops its result."""
    now = timezone.now()
    with transaction.atomic():
        updated = Job.objects.filter(pk=job.pk).exclude(state__in=TERMINAL_STATES).update(
            state=JobState.CANCELLED, claim_token="", claimed_until=None, outcome_code="cancelled",
            outcome_message=f"Cancelled by {actor.name}.", finished_at=now, updated_at=now)
    job.refresh_from_db()
    if not updated and job.state != JobState.CANCELLED:
        raise DomainError("job_finished", f"The job has already ended ({job.state}).",
                          details={"state": job.state}, status=409)
    return job


# Steps: from which states a step may be claimed, the state it holds while claimed, and progress on claim.
STEPS: dict[str, tuple[tuple[str, ...], str, int]] = {
    "gate": ((JobState.SUBMITTED, JobState.GATED), JobState.GATED, 5),
    "compose": ((JobState.APPROVED, JobState.COMPOSING), JobState.COMPOSING, 30),
    "check": ((JobState.CHECKING,), JobState.CHECKING, 65),
    "seal": ((JobState.SEALING,), JobState.SEALING, 75),
}


def do_claim_job_step(job_id: int, step: str, *, claim_seconds: int) -> str | None:
    """Claim `step` of a job with a conditional update; returns the claim token, or None if it is not ours to do.

    A step is claimable when the job waits for it (unclaimed), or when a claim on it expired (its worker died).
    """
    sources, holding, progress = STEPS[step]
    now = timezone.now()
    token = uuid.uuid4().hex
    free = Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
    job = Job.objects.filter(pk=job_id, state__in=sources).filter(free).first()
    if job is None:
        return None
    info = dict(job.steps.get(step, {}))
    info.update({"attempts": int(info.get("attempts", 0)) + 1, "started_at": now.isoformat()})
    info.pop("finished_at", None)
    won = Job.objects.filter(pk=job_id, state__in=sources, updated_at=job.updated_at).filter(free).update(
        state=holding, claim_token=token, claimed_until=now + timedelta(seconds=claim_seconds),
        steps={**job.steps, step: info}, progress=max(job.progress, progress), updated_at=now)
    return token if won else None


def _finish(job: Job, token: str, step: str, *, state: str, progress: int, now: datetime, claim: bool = False,
            terminal: bool = False, **fields: Any) -> bool:
    """Move a claimed job on (only if the claim is still ours); records the step's timing."""
    steps = dict(job.steps)
    info = dict(steps.get(step, {}))
    started = info.get("started_at")
    info["finished_at"] = now.isoformat()
    if started:
        info["seconds"] = round((now - datetime.fromisoformat(started)).total_seconds(), 4)
    steps[step] = info
    return bool(Job.objects.filter(pk=job.pk, claim_token=token, state=STEPS[step][1]).update(
        state=state, steps=steps, progress=progress, updated_at=now, claim_token="",
        claimed_until=None, finished_at=now if terminal else None, **fields))


class ClaimLost(Exception):
    """The step's claim expired and someone else holds the job (or it was cancelled): drop the result."""


def _record_decision(job: Job, stage: str, decision: Decision, *, policy: Policy, elapsed_ms: float,
                     plan: _LedgerPlan, now: datetime) -> GateDecision:
    row = GateDecision.objects.create(
        job=job, stage=stage, allowed=decision.allowed, reasons=[r.as_json() for r in decision.reasons],
        policy_version=policy.version, policy=policy.as_json(), model=job.model,
        manifest_root=job.model.manifest.merkle_root, ledger_size=plan.start, facts=dict(decision.facts),
        elapsed_ms=elapsed_ms, decided_at=now, ledger_index=plan.reserve())
    plan.fill(row.ledger_index, EntryDraft(EntryType.GATE_DECIDED, {
        "job_id": job.pk, "stage": stage, "allowed": decision.allowed,
        "reasons": json.loads(json.dumps([_integral(r.as_json()) for r in decision.reasons])),
        "policy": _integral(policy.as_json()), "model": job.model.slug,
        "manifest_root": job.model.manifest.merkle_root, "ledger_size": plan.start,
        "facts": json.loads(json.dumps(_integral(dict(decision.facts)), default=str)),
    }, "job", str(job.pk)))
    return row


def _integral(value: Any) -> Any:
    """Ledger payloads carry no floats (canonical JSON): floats become strings with their decimal form."""
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, dict):
        return {k: _integral(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_integral(v) for v in value]
    return value


def do_decide_job(job: Job, token: str, *, decide: Callable[[], tuple[Decision, Policy]], actor: Actor,
                  ) -> GateDecision:
    """Run the pre-composition gate and record it (`gate.decided`): approved, or denied with its reasons.

    The organization row is locked while deciding, so concurrent jobs of one client cannot overrun its quota;
    the ledger head is locked too, so the recorded ledger size is exactly what the facts were read at.
    """
    with transaction.atomic():
        # NO KEY UPDATE: serializes this client's decisions without blocking inserts that reference the
        # organization (a new job's foreign key takes KEY SHARE), which would deadlock with the ledger head lock.
        Organization.objects.select_for_update(no_key=True).filter(pk=job.organization_id).first()
        # Lock the ledger head before reading facts: the decision is exactly "as known at ledger size N".
        plan = _LedgerPlan()
        started = time.perf_counter()
        decision, policy = decide()
        elapsed = (time.perf_counter() - started) * 1000
        now = timezone.now()
        row = _record_decision(job, GateStage.PRE, decision, policy=policy, elapsed_ms=elapsed, plan=plan, now=now)
        if decision.allowed:
            moved = _finish(job, token, "gate", state=JobState.APPROVED, progress=25, now=now, approved_at=now,
                            indemnified=bool(decision.facts.get("indemnified")))
        else:
            first = decision.denials[0]
            moved = _finish(job, token, "gate", state=JobState.DENIED, progress=100, now=now, terminal=True,
                            outcome_code=first.code, outcome_message=first.message,
                            outcome_details={"stage": "pre", "decision_id": row.pk,
                                             "codes": [r.code for r in decision.denials]})
        if not moved:
            raise ClaimLost(job.pk)
        plan.commit(actor=actor)
    return row


def do_save_draft(job: Job, token: str, *, engine: str, composition: dict[str, Any]) -> JobDraft:
    """Keep what the engine composed (in the database, never in storage) and queue the post-gate checks."""
    now = timezone.now()
    with transaction.atomic():
        JobDraft.objects.filter(job=job).delete()  # a re-run after a dead worker replaces its half-kept draft
        draft = JobDraft.objects.create(job=job, engine=engine, composition=composition, created_at=now)
        if not _finish(job, token, "compose", state=JobState.CHECKING, progress=60, now=now,
                       plan=composition.get("plan", {})):
            raise ClaimLost(job.pk)
    return draft


def do_record_release_check(job: Job, token: str, decision: Decision, *, policy: Policy, elapsed_ms: float,
                            actor: Actor) -> GateDecision:
    """Record the post-composition decision (`gate.decided`, stage post): on to sealing, or denied."""
    with transaction.atomic():
        now = timezone.now()
        plan = _LedgerPlan()
        row = _record_decision(job, GateStage.POST, decision, policy=policy, elapsed_ms=elapsed_ms, plan=plan,
                               now=now)
        if decision.allowed:
            moved = _finish(job, token, "check", state=JobState.SEALING, progress=70, now=now)
        else:
            first = decision.denials[0]
            moved = _finish(job, token, "check", state=JobState.DENIED, progress=100, now=now, terminal=True,
                            outcome_code=first.code, outcome_message=first.message,
                            outcome_details={"stage": "post", "decision_id": row.pk, **dict(decision.facts)})
        if not moved:
            raise ClaimLost(job.pk)
        plan.commit(actor=actor)
        if decision.allowed:
            transaction.on_commit(lambda: _enqueue_seal(job.pk))
    return row


def _enqueue_seal(job_id: int) -> None:
    from provenance.tasks import seal_job

    seal_job.delay(job_id)


@dataclass(frozen=True)
class SealedFile:
    """An output file ready to store: its kind, bytes and media type."""

    kind: str
    data: bytes
    media_type: str
    extension: str


def do_complete_job(job: Job, token: str, files: Sequence[SealedFile], *, seal: dict[str, Any],
                    actor: Actor, on_outputs: Callable[[list[JobOutput]], None] | None = None) -> list[JobOutput]:
    """Store the sealed outputs and complete the job (`output.sealed`), all or nothing.

    Files are content-addressed (`outputs/<job>/<sha256>.<ext>`), so a re-run after a worker died between
    writing them and committing writes the same names and leaves no duplicate. `on_outputs` runs inside the
    transaction with the saved rows (provenance records what it signed into each file).
    """
    now = timezone.now()
    stored = []
    for item in files:
        digest = hashlib.sha256(item.data).hexdigest()
        name = f"outputs/{job.pk}/{digest}.{item.extension}"
        if not default_storage.exists(name):
            saved = default_storage.save(name, ContentFile(item.data))
            if saved != name:
                raise RuntimeError(f"storage renamed {name} to {saved}")
        stored.append((item, digest, name))
    with transaction.atomic():
        plan = _LedgerPlan()
        index = plan.reserve()
        outputs = [JobOutput(job=job, kind=item.kind, file=name, media_type=item.media_type, sha256=digest,
                             size=len(item.data), created_at=now, ledger_index=index) for item, digest, name in stored]
        plan.fill(index, EntryDraft(EntryType.OUTPUT_SEALED, {
            "job_id": job.pk, "organization_id": job.organization_id, "model": job.model.slug,
            "manifest_root": job.model.manifest.merkle_root,
            "decisions": list(GateDecision.objects.filter(job=job).order_by("id")
                              .values_list("ledger_index", flat=True)),
            "outputs": [{"kind": o.kind, "sha256": o.sha256, "size": o.size, "media_type": o.media_type}
                        for o in outputs],
            "seal": _integral(seal),
        }, "job", str(job.pk)))
        if not _finish(job, token, "seal", state=JobState.COMPLETED, progress=100, now=now, terminal=True,
                       outcome_code="completed", outcome_message="Sealed outputs are ready to download."):
            raise ClaimLost(job.pk)
        JobOutput.objects.bulk_create(outputs)
        if on_outputs is not None:
            on_outputs(outputs)
        plan.commit(actor=actor)
    return outputs


def do_fail_job(job: Job, token: str, step: str, *, code: str, message: str, details: dict[str, Any] | None = None,
                ) -> bool:
    """End a job whose step cannot succeed (an error, not a refusal); False if the claim was lost."""
    now = timezone.now()
    with transaction.atomic():
        return _finish(job, token, step, state=JobState.FAILED, progress=100, now=now, terminal=True,
                       outcome_code=code, outcome_message=message[:1000], outcome_details=details or {})
