"""The gate: may this job run (before composing), and may its output be released (after composing)?

Pure and Django-free: `decide` and `decide_release` read pre-loaded facts (generation.facts loads them) and
return a `Decision` with machine-readable reasons. Every reason carries its rule, a stable code, a severity
("deny" refuses the job, "note" is recorded but does not), a sentence, the offending ids (at most
`MAX_IDS`, sorted) and their total count. The gate fails closed: a job is allowed only when no rule denies.

Rules, in the order they are reported:
1. training_set   every work in the model's training manifest is cleared for `ai_training` (licensed, not
                  opted out) in the job's territory, now. A work that was cleared at the manifest's snapshot and
                  is blocked by a later opt-out, revocation or expiry is a *training change*: the policy denies
                  at once, or allows with a note until `grace_days` after the change took effect.
2. style          each requested style tag is one the model can condition on and names catalog works; every one
                  of those works is licensed for `style_reference` (to the operator or the client) and not
                  reserved against style/inference use.
3. named_artist   names of catalog parties and creators in the scene description (exact, surname or fuzzy) are
                  style references: the works credited to them must pass rule 2.
4. entitlement    the client's contract is in force, covers the territory, the use and the model, and its
                  monthly quota of approved jobs is not used up.
5. use            a commercial job needs every relevant license (training works and style references) to grant
                  `commercial_output`; a non-commercial one `non_commercial_output`.
Post-gate (`decide_release`): the memorization guard refuses an output whose longest run of melody events
shared with any training work exceeds the policy's threshold.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

MAX_IDS = 20  # offending ids listed per reason; `count` has the total

TRAINING_USE = "ai_training"
OUTPUT_USES = {"commercial": "commercial_output", "non_commercial": "non_commercial_output"}


@dataclass(frozen=True)
class Policy:
    """The configurable part of the gate, versioned by compliance (GatePolicy rows; version 0 = built-in)."""

    version: int = 0
    training_changes: str = "deny"  # "deny" or "grace"
    grace_days: int = 0
    memorization_threshold: int = 8
    name_fuzzy_threshold: float = 88.0

    def as_json(self) -> dict[str, Any]:
        """The policy as recorded with each decision."""
        return asdict(self)


DEFAULT_POLICY = Policy()


@dataclass(frozen=True)
class Reason:
    """Why the gate decided as it did, for one rule and one problem."""

    rule: str
    code: str
    severity: str  # "deny" | "note"
    message: str
    ids: tuple[str, ...] = ()
    count: int = 0

    def as_json(self) -> dict[str, Any]:
        """JSON form (stored with the decision and in the ledger)."""
        return {"rule": self.rule, "code": self.code, "severity": self.severity, "message": self.message,
                "ids": list(self.ids), "count": self.count}


@dataclass(frozen=True)
class Decision:
    """ALLOW or DENY with reasons (notes included) and what the decision read."""

    allowed: bool
    reasons: tuple[Reason, ...]
    facts: Mapping[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """JSON form."""
        return {"allowed": self.allowed, "reasons": [r.as_json() for r in self.reasons], "facts": dict(self.facts)}

    @property
    def denials(self) -> tuple[Reason, ...]:
        """The reasons that refused the job."""
        return tuple(r for r in self.reasons if r.severity == "deny")


def _ids(values: Sequence[str] | Sequence[int]) -> tuple[str, ...]:
    return tuple(sorted(str(v) for v in values)[:MAX_IDS])


# --- Facts ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UseBlocks:
    """Training works of the manifest not cleared for one use in the job's territory (from the clearance state)."""

    use: str
    hard: int = 0  # blocked, and not a change after training (or not cleared at training time either)
    grace: int = 0  # cleared at the manifest's snapshot, blocked by a later change
    grace_since: datetime | None = None  # the earliest such change's effective time
    hard_sample: tuple[str, ...] = ()  # work keys
    grace_sample: tuple[str, ...] = ()
    reasons: Mapping[str, int] = field(default_factory=dict)  # rights-evaluation reason code -> works


@dataclass(frozen=True)
class TrainingFacts:
    """The model and the clearance state of its training manifest in the job's territory."""

    model: str  # name@version
    manifest_root: str
    manifest_works: int
    territory: str
    blocks: Mapping[str, UseBlocks]  # by use: ai_training, commercial_output, non_commercial_output
    as_of_size: int


@dataclass(frozen=True)
class ReferenceFacts:
    """A style reference (a requested tag, or a creator named in the prompt) and its works' rights."""

    kind: str  # "tag" | "named_artist"
    label: str  # the tag, or the matched name
    known: bool  # a tag the model conditions on / a name that resolves to catalog works
    works: int
    denied: Mapping[str, Sequence[str]] = field(default_factory=dict)  # use -> denied work keys (sorted)
    denied_counts: Mapping[str, int] = field(default_factory=dict)
    holders: Sequence[str] = ()  # rights holders of the works
    matched_text: str = ""  # named artists: the span of the description
    method: str = ""  # named artists: exact | surname | fuzzy


@dataclass(frozen=True)
class EntitlementFacts:
    """The client's contract in force (None fields when there is none)."""

    reference: str | None
    territories: tuple[str, ...] = ()
    commercial_use: bool = False
    indemnification_tier: str = "none"
    monthly_quota: int | None = None
    approved_this_month: int = 0
    model_slugs: tuple[str, ...] = ()


@dataclass(frozen=True)
class JobFacts:
    """What was asked."""

    territory: str
    use: str  # commercial | non_commercial
    model: str  # name@version
    style_tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class GateFacts:
    """Everything a pre-composition decision reads."""

    job: JobFacts
    policy: Policy
    now: datetime
    training: TrainingFacts
    references: tuple[ReferenceFacts, ...]
    entitlement: EntitlementFacts


# --- Rules ----------------------------------------------------------------------------------------------------


def _training_change(rule: str, blocks: UseBlocks, policy: Policy, now: datetime, what: str) -> list[Reason]:
    """Blocks caused by changes after training: denied, or noted within the grace period."""
    if not blocks.grace:
        return []
    ids = blocks.grace_sample
    if policy.training_changes == "grace" and blocks.grace_since is not None:
        deadline = blocks.grace_since + timedelta(days=policy.grace_days)
        if now < deadline:
            return [Reason(rule, "training_change_in_grace", "note",
                           f"{blocks.grace} training work(s) stopped being cleared for {what} after the model was "
                           f"trained; policy v{policy.version} allows the model until {deadline.isoformat()} "
                           f"(retraining deadline).", ids, blocks.grace)]
        return [Reason(rule, "retraining_deadline_passed", "deny",
                       f"{blocks.grace} training work(s) stopped being cleared for {what} after the model was "
                       f"trained, and the retraining deadline ({deadline.isoformat()}) has passed.", ids,
                       blocks.grace)]
    return [Reason(rule, "training_set_changed", "deny",
                   f"{blocks.grace} training work(s) stopped being cleared for {what} after the model was trained "
                   f"(opt-out, revocation or expiry); policy v{policy.version} denies at once.", ids, blocks.grace)]


def _rule_training(facts: GateFacts) -> list[Reason]:
    blocks = facts.training.blocks.get(TRAINING_USE, UseBlocks(TRAINING_USE))
    reasons = []
    if blocks.hard:
        detail = ", ".join(f"{code}: {n}" for code, n in sorted(blocks.reasons.items()))
        reasons.append(Reason("training_set", "training_set_not_cleared", "deny",
                              f"{blocks.hard} of the model's {facts.training.manifest_works} training works are not "
                              f"cleared for AI training in {facts.job.territory} ({detail}).", blocks.hard_sample,
                              blocks.hard))
    reasons += _training_change("training_set", blocks, facts.policy, facts.now, "AI training")
    return reasons


def _rule_references(facts: GateFacts) -> list[Reason]:
    reasons = []
    for ref in facts.references:
        rule = "style" if ref.kind == "tag" else "named_artist"
        if not ref.known:
            if ref.kind == "tag":
                reasons.append(Reason(rule, "style_tag_unknown", "deny",
                                      f"The model cannot condition on style tag {ref.label!r}, or no catalog work "
                                      f"carries it.", (ref.label,), 1))
            else:
                reasons.append(Reason(rule, "named_artist_unlicensed", "deny",
                                      f"The description names {ref.label!r} ({ref.matched_text!r}), who has no "
                                      f"licensed works to reference.", (ref.label,), 1))
            continue
        denied = ref.denied.get("style_reference", ())
        if denied:
            count = ref.denied_counts.get("style_reference", len(denied))
            code = "style_reference_not_licensed" if ref.kind == "tag" else "named_artist_not_licensed"
            subject = (f"style tag {ref.label!r}" if ref.kind == "tag"
                       else f"{ref.label!r}, named in the description as {ref.matched_text!r} ({ref.method} match),")
            reasons.append(Reason(rule, code, "deny",
                                  f"{count} of the {ref.works} works behind {subject} are not licensed for style "
                                  f"reference or are reserved against it.", _ids(denied), count))
    return reasons


def _rule_entitlement(facts: GateFacts) -> list[Reason]:
    ent, job = facts.entitlement, facts.job
    if ent.reference is None:
        return [Reason("entitlement", "no_entitlement", "deny",
                       "The client organization has no entitlement (contract) in force.")]
    reasons = []
    if "WORLD" not in ent.territories and job.territory not in ent.territories:
        reasons.append(Reason("entitlement", "territory_not_entitled", "deny",
                              f"Contract {ent.reference} does not cover territory {job.territory}.",
                              (job.territory,), 1))
    if job.use == "commercial" and not ent.commercial_use:
        reasons.append(Reason("entitlement", "commercial_use_not_entitled", "deny",
                              f"Contract {ent.reference} does not allow commercial use."))
    if ent.model_slugs and not any(_slug_matches(s, job.model) for s in ent.model_slugs):
        reasons.append(Reason("entitlement", "model_not_entitled", "deny",
                              f"Contract {ent.reference} does not include model {job.model}.", (job.model,), 1))
    if ent.monthly_quota is not None and ent.approved_this_month >= ent.monthly_quota:
        reasons.append(Reason("entitlement", "quota_exhausted", "deny",
                              f"Contract {ent.reference} allows {ent.monthly_quota} approved job(s) per month; "
                              f"{ent.approved_this_month} are used."))
    return reasons


def _slug_matches(pattern: str, slug: str) -> bool:
    name, _, version = pattern.partition("@")
    model_name, _, model_version = slug.partition("@")
    return name == model_name and version in ("*", "", model_version)


def _rule_use(facts: GateFacts) -> list[Reason]:
    use = OUTPUT_USES[facts.job.use]
    what = "commercial output" if facts.job.use == "commercial" else "non-commercial output"
    reasons = []
    blocks = facts.training.blocks.get(use, UseBlocks(use))
    if blocks.hard:
        reasons.append(Reason("use", f"training_license_not_{use}", "deny",
                              f"{blocks.hard} training work(s) are not licensed for {what} in "
                              f"{facts.job.territory}.", blocks.hard_sample, blocks.hard))
    reasons += _training_change("use", blocks, facts.policy, facts.now, what)
    for ref in facts.references:
        denied = ref.denied.get(use, ())
        if ref.known and denied:
            count = ref.denied_counts.get(use, len(denied))
            reasons.append(Reason("use", f"reference_license_not_{use}", "deny",
                                  f"{count} work(s) behind {ref.label!r} are not licensed for {what}.",
                                  _ids(denied), count))
    return reasons


def decide(facts: GateFacts) -> Decision:
    """The pre-composition decision: allowed only when no rule denies."""
    reasons = (_rule_training(facts) + _rule_references(facts) + _rule_entitlement(facts) + _rule_use(facts))
    allowed = not any(r.severity == "deny" for r in reasons)
    summary = {
        "model": facts.training.model, "manifest_root": facts.training.manifest_root,
        "manifest_works": facts.training.manifest_works, "territory": facts.job.territory, "use": facts.job.use,
        "clearance_as_of_size": facts.training.as_of_size,
        "blocked": {use: {"hard": b.hard, "grace": b.grace} for use, b in sorted(facts.training.blocks.items())},
        "references": [{"kind": r.kind, "label": r.label, "works": r.works, "method": r.method,
                        "matched_text": r.matched_text} for r in facts.references],
        "entitlement": facts.entitlement.reference, "indemnification_tier": facts.entitlement.indemnification_tier,
        # Indemnified: an allowed job of an indemnifying contract with nothing tolerated under a grace period.
        "indemnified": allowed and facts.entitlement.indemnification_tier != "none"
        and not any(r.severity == "note" for r in reasons),
    }
    return Decision(allowed, tuple(reasons), summary)


# --- Post-gate ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReleaseFacts:
    """What the post-composition checks read: the longest shared run with the training set."""

    policy: Policy
    events: int  # melody events checked
    longest_run: int
    source: str  # training work key holding it ("" if none)
    melody_index: int
    output_position: int  # event index in the output where the run starts (-1 if none)


def decide_release(facts: ReleaseFacts) -> Decision:
    """Block an output whose longest run shared with a training work exceeds the policy threshold."""
    reasons: list[Reason] = []
    threshold = facts.policy.memorization_threshold
    if facts.longest_run > threshold:
        reasons.append(Reason("memorization", "memorization_blocked", "deny",
                              f"The output repeats {facts.longest_run} consecutive melody events of training work "
                              f"{facts.source} (melody {facts.melody_index}) from event {facts.output_position}; "
                              f"policy v{facts.policy.version} allows at most {threshold}.", (facts.source,), 1))
    summary = {"events": facts.events, "longest_run": facts.longest_run, "source": facts.source,
               "melody_index": facts.melody_index, "output_position": facts.output_position, "threshold": threshold}
    return Decision(not reasons, tuple(reasons), summary)
