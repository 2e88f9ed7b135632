"""The indemnification verdict: covered only for a cleared, sealed, indemnified job and an untampered copy."""

import pytest

from provenance import indemnity
from provenance.indemnity import IndemnityFacts, decide


def facts(**overrides):
    base = dict(match=indemnity.EXACT, job_completed=True, gate_allowed=True, release_allowed=True,
                indemnified_at_generation=True, indemnification_tier="standard", use="commercial")
    base.update(overrides)
    return IndemnityFacts(**base)


def codes(verdict):
    return [r["code"] for r in verdict.reasons]


@pytest.mark.parametrize("match", [indemnity.EXACT, indemnity.SIGNED, indemnity.WATERMARK])
def test_a_cleared_sealed_output_is_covered_whether_exact_signed_or_only_watermarked(match):
    verdict = decide(facts(match=match))
    assert verdict.covered
    assert codes(verdict) == [match, "covered"]


def test_a_copy_whose_manifest_fails_validation_is_not_covered():
    verdict = decide(facts(match=indemnity.TAMPERED))
    assert not verdict.covered
    assert "manifest_invalid" in codes(verdict)


def test_an_unresolved_file_is_not_a_clearcue_output():
    verdict = decide(facts(match=indemnity.UNRESOLVED))
    assert not verdict.covered and codes(verdict) == ["not_a_clearcue_output"] and verdict.tier == "none"


def test_a_contract_without_indemnification_is_not_covered():
    verdict = decide(facts(indemnification_tier="none", indemnified_at_generation=False))
    assert not verdict.covered and "no_indemnification" in codes(verdict)


def test_a_job_that_ran_under_a_grace_period_is_not_covered():
    verdict = decide(facts(indemnified_at_generation=False))
    assert not verdict.covered and "not_indemnified_at_generation" in codes(verdict)


def test_rights_that_changed_after_generation_are_reported_but_do_not_withdraw_coverage():
    verdict = decide(facts(rights_changes_since=("training_set_changed",)))
    assert verdict.covered
    assert codes(verdict) == ["exact_copy", "rights_changed_since", "covered"]
    assert "training_set_changed" in verdict.reasons[1]["message"]


def test_an_unfinished_or_refused_job_is_not_covered():
    assert "output_not_sealed" in codes(decide(facts(job_completed=False)))
    assert "not_cleared" in codes(decide(facts(release_allowed=False)))
    assert not decide(facts(gate_allowed=False)).covered
