"""The indemnification verdict for an uploaded file (pure: it reads facts the verifier loaded).

Clearcue indemnifies a client for an output that the gate cleared under an indemnifying contract, that passed
the release checks and was sealed. What the client holds must be that output: the exact sealed file, a copy
whose C2PA manifest is intact, or a copy without metadata (re-encoded, trimmed) that the watermark still ties to
the job. A copy whose manifest fails validation was altered after sealing, so coverage cannot be shown.
Coverage follows the rights *at generation time*: revocations and opt-outs that arrived later are reported
(the client may need to stop distributing, and compliance sees the impact) but do not withdraw it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# How the uploaded bytes relate to the sealed output they resolved to.
EXACT = "exact_copy"  # byte-identical to a sealed output
SIGNED = "signed_copy"  # the embedded manifest is ours and validates (Trusted or Valid)
WATERMARK = "watermark_copy"  # no usable manifest; the watermark leads to the job (stripped, re-encoded, cut)
TAMPERED = "tampered_copy"  # the embedded manifest is ours but validation fails
UNRESOLVED = "unresolved"  # neither watermark nor manifest leads to a Clearcue output


@dataclass(frozen=True)
class IndemnityFacts:
    """What the verdict reads."""

    match: str  # one of the constants above
    job_completed: bool
    gate_allowed: bool
    release_allowed: bool
    indemnified_at_generation: bool  # the gate's verdict: an indemnifying tier and no grace-period tolerance
    indemnification_tier: str
    use: str  # the job's use: commercial / non_commercial
    rights_changes_since: tuple[str, ...] = ()  # reason codes that hold now but did not at generation


@dataclass(frozen=True)
class Verdict:
    """Covered or not, with reasons (stable codes + sentences)."""

    covered: bool
    tier: str
    reasons: tuple[dict[str, str], ...] = field(default_factory=tuple)

    def as_json(self) -> dict[str, Any]:
        """The API shape."""
        return {"covered": self.covered, "tier": self.tier, "reasons": [dict(r) for r in self.reasons]}


def _reason(code: str, message: str) -> dict[str, str]:
    return {"code": code, "message": message}


def decide(facts: IndemnityFacts) -> Verdict:
    """Whether the client that owns the resolved job is covered for this file, and why."""
    reasons: list[dict[str, str]] = []
    covered = True
    if facts.match == UNRESOLVED:
        return Verdict(False, "none", (_reason("not_a_clearcue_output",
                                               "Neither a manifest nor a watermark ties this file to a Clearcue "
                                               "output."),))
    if facts.match == TAMPERED:
        covered = False
        reasons.append(_reason("manifest_invalid", "The file carries our manifest but fails validation: it was "
                               "altered after sealing."))
    elif facts.match == EXACT:
        reasons.append(_reason("exact_copy", "The file is byte-identical to the sealed output."))
    elif facts.match == SIGNED:
        reasons.append(_reason("signed_copy", "The file's Content Credentials are ours and intact."))
    else:
        reasons.append(_reason("watermark_copy", "The file has no usable manifest; its watermark identifies the "
                               "sealed output (a re-encoded or edited copy)."))
    if not facts.job_completed:
        covered = False
        reasons.append(_reason("output_not_sealed", "The job did not complete; nothing was released under it."))
    if not facts.gate_allowed or not facts.release_allowed:
        covered = False
        reasons.append(_reason("not_cleared", "The gate or the release checks did not clear this job."))
    if facts.indemnification_tier == "none":
        covered = False
        reasons.append(_reason("no_indemnification", "The client's contract has no indemnification tier."))
    elif not facts.indemnified_at_generation:
        covered = False
        reasons.append(_reason("not_indemnified_at_generation", "The job ran while a rights change was tolerated "
                               "under the gate policy's grace period, which indemnification does not cover."))
    if facts.rights_changes_since:
        reasons.append(_reason("rights_changed_since", "Rights changed after generation ("
                               + ", ".join(sorted(set(facts.rights_changes_since)))
                               + "); coverage follows the rights at generation time."))
    if covered:
        reasons.append(_reason("covered", f"Covered under the {facts.indemnification_tier} tier for "
                               f"{facts.use.replace('_', '-')} use."))
    return Verdict(covered, facts.indemnification_tier, tuple(reasons))
