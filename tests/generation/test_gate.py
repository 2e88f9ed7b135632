"""The gate's rules over hand-built facts (pure: no database)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from generation.gate import (
    MAX_IDS,
    EntitlementFacts,
    GateFacts,
    JobFacts,
    Policy,
    ReferenceFacts,
    ReleaseFacts,
    TrainingFacts,
    UseBlocks,
    decide,
    decide_release,
)

NOW = datetime(2026, 11, 21, 12, tzinfo=UTC)
CLEAN = {use: UseBlocks(use) for use in ("ai_training", "commercial_output", "non_commercial_output")}


def facts(**changes) -> GateFacts:
    base = GateFacts(
        job=JobFacts(territory="US", use="commercial", model="cue@1.0"),
        policy=Policy(),
        now=NOW,
        training=TrainingFacts(model="cue@1.0", manifest_root="ab" * 32, manifest_works=1000, territory="US",
                               blocks=CLEAN, as_of_size=10),
        references=(),
        entitlement=EntitlementFacts(reference="MSA-1", territories=("US",), commercial_use=True,
                                     indemnification_tier="standard", monthly_quota=10, approved_this_month=0),
    )
    return replace(base, **changes)


def codes(decision) -> list[str]:
    return [r.code for r in decision.reasons]


def test_a_clean_job_is_allowed_and_indemnified():
    decision = decide(facts())
    assert decision.allowed and decision.reasons == () and decision.facts["indemnified"]


def test_hard_blocks_in_the_training_set_deny_with_a_sample_and_the_count():
    sample = tuple(f"c/w{i:03d}" for i in range(MAX_IDS))
    blocks = {**CLEAN, "ai_training": UseBlocks("ai_training", hard=57, hard_sample=sample,
                                                reasons={"no_license": 50, "territory_excluded": 7})}
    decision = decide(facts(training=replace(facts().training, blocks=blocks)))
    assert not decision.allowed
    reason = decision.reasons[0]
    assert (reason.rule, reason.code, reason.count, len(reason.ids)) == ("training_set", "training_set_not_cleared",
                                                                         57, MAX_IDS)
    assert "no_license: 50" in reason.message


def test_a_change_after_training_denies_at_once_by_default_and_is_tolerated_under_grace_until_the_deadline():
    blocks = {**CLEAN, "ai_training": UseBlocks("ai_training", grace=1, grace_since=NOW - timedelta(days=3),
                                                grace_sample=("c/w1",))}
    training = replace(facts().training, blocks=blocks)
    assert codes(decide(facts(training=training))) == ["training_set_changed"]
    grace = Policy(version=2, training_changes="grace", grace_days=30)
    tolerated = decide(facts(training=training, policy=grace))
    assert tolerated.allowed and codes(tolerated) == ["training_change_in_grace"]
    assert not tolerated.facts["indemnified"]
    late = decide(facts(training=training, policy=grace, now=NOW + timedelta(days=28)))
    assert not late.allowed and codes(late) == ["retraining_deadline_passed"]


def test_entitlement_rules_cover_territory_use_model_and_quota():
    ent = EntitlementFacts(reference="MSA-2", territories=("GB",), commercial_use=False, model_slugs=("other@*",),
                           monthly_quota=3, approved_this_month=3)
    assert codes(decide(facts(entitlement=ent))) == ["territory_not_entitled", "commercial_use_not_entitled",
                                                     "model_not_entitled", "quota_exhausted"]
    assert codes(decide(facts(entitlement=EntitlementFacts(reference=None)))) == ["no_entitlement"]
    world = EntitlementFacts(reference="MSA-3", territories=("WORLD",), commercial_use=True, model_slugs=("cue@*",))
    assert decide(facts(entitlement=world)).allowed


def test_style_references_and_named_artists_need_style_and_output_licenses():
    tag = ReferenceFacts("tag", "composer:x", True, 12, {"style_reference": ["c/a", "c/b"]},
                         {"style_reference": 2})
    unknown = ReferenceFacts("tag", "composer:y", False, 0)
    named = ReferenceFacts("named_artist", "Per Holm", True, 3, {"commercial_output": ["c/p"]},
                           {"commercial_output": 1}, matched_text="Per Holm", method="exact")
    decision = decide(facts(references=(tag, unknown, named)))
    assert codes(decision) == ["style_reference_not_licensed", "style_tag_unknown",
                               "reference_license_not_commercial_output"]
    assert decision.reasons[0].ids == ("c/a", "c/b") and decision.reasons[0].count == 2


def test_a_training_set_without_commercial_licenses_allows_only_non_commercial_jobs():
    blocks = {**CLEAN, "commercial_output": UseBlocks("commercial_output", hard=4, hard_sample=("c/nc",))}
    training = replace(facts().training, blocks=blocks)
    assert codes(decide(facts(training=training))) == ["training_license_not_commercial_output"]
    non_commercial = replace(facts().job, use="non_commercial")
    assert decide(facts(training=training, job=non_commercial)).allowed


def test_the_memorization_guard_blocks_runs_longer_than_the_threshold():
    ok = decide_release(ReleaseFacts(Policy(), 120, 8, "c/w", 0, 30))
    blocked = decide_release(ReleaseFacts(Policy(memorization_threshold=5), 120, 8, "c/w", 2, 30))
    assert ok.allowed and not blocked.allowed
    assert blocked.reasons[0].code == "memorization_blocked" and blocked.reasons[0].ids == ("c/w",)
    assert blocked.facts["output_position"] == 30 and blocked.facts["threshold"] == 5
