"""What the seal step signs into a manifest and the verifier reports, loaded from the database.

- `ledger_evidence`: a job's ledger entries with RFC 9162 inclusion proofs against a signed checkpoint, each
  proof checked here (licensing.merkle) before it is handed out;
- `license_terms`: the terms that apply to an output (the client's contract and the style-reference licenses
  that cleared it);
- `rights_now`: the gate re-run over today's rights, to compare with the decision at generation time.
"""

from __future__ import annotations

import base64
from typing import Any

from django.utils import timezone

from generation.models import Entitlement, GateDecision, GateStage, Job
from licensing import merkle
from licensing.ledger import prove_inclusion
from licensing.models import Checkpoint, LedgerEntry, License, WorkTag
from licensing.terms import territories_of, uses_of

MAX_REFERENCE_WORKS = 5000  # bounds the evaluation; the complete chain is the license-chain graph's job


def _b64(data: bytes) -> str:
    return base64.b64encode(bytes(data)).decode("ascii")


def ledger_evidence(job: Job, checkpoint: Checkpoint | None = None) -> dict[str, Any]:
    """The job's entries with inclusion proofs against `checkpoint` (default: the latest); entries the checkpoint
    does not cover yet are listed as pending. Every proof is verified before it is returned."""
    if checkpoint is None:
        checkpoint = Checkpoint.objects.order_by("-tree_size").first()
    entries = list(LedgerEntry.objects.filter(subject_type="job", subject_id=str(job.pk))
                   .order_by("leaf_index").values_list("leaf_index", "entry_type", "leaf_hash"))
    proofs, pending, failures = [], [], []
    for leaf_index, entry_type, leaf_hash in entries:
        if checkpoint is None or leaf_index >= checkpoint.tree_size:
            pending.append({"leaf_index": leaf_index, "entry_type": entry_type})
            continue
        proof = prove_inclusion(leaf_index, checkpoint.tree_size)
        try:
            merkle.verify_inclusion(bytes(leaf_hash), leaf_index, checkpoint.tree_size, proof.inclusion_path,
                                    bytes(checkpoint.root_hash))
            verified = True
        except merkle.ProofError as error:
            verified = False
            failures.append({"leaf_index": leaf_index, "error": str(error)})
        proofs.append({"leaf_index": leaf_index, "entry_type": entry_type, "leaf_hash": _b64(leaf_hash),
                       "tree_size": checkpoint.tree_size, "inclusion_path": [_b64(h) for h in proof.inclusion_path],
                       "verified": verified})
    return {
        "checkpoint": None if checkpoint is None else {"tree_size": checkpoint.tree_size,
                                                       "root_hash": _b64(checkpoint.root_hash),
                                                       "origin": checkpoint.origin, "note": checkpoint.note},
        "entries": proofs, "pending": pending, "failures": failures,
        "verified": bool(proofs) and not failures,
    }


def license_terms(job: Job) -> list[dict[str, Any]]:
    """The terms under which the output may be used: the client's contract, then each style-reference license
    that cleared the job (with its attribution requirement)."""
    from licensing.rights import evaluate

    decision = GateDecision.objects.filter(job=job, stage=GateStage.PRE).first()
    facts = decision.facts if decision is not None else {}
    terms: list[dict[str, Any]] = []
    reference = facts.get("entitlement")
    entitlement = (Entitlement.objects.filter(organization_id=job.organization_id, reference=reference)
                   .order_by("-id").first() if reference else None)
    if entitlement is not None:
        terms.append({"kind": "client_contract", "reference": entitlement.reference,
                      "licensee": job.organization.name, "territories": territories_of(entitlement.territories),
                      "commercial_use": entitlement.commercial_use,
                      "indemnification_tier": entitlement.indemnification_tier, "use": job.use,
                      "territory": job.territory})
    tags = [ref["label"] for ref in facts.get("references", []) if ref.get("kind") == "tag"]
    works = sorted(set(WorkTag.objects.filter(tag__in=tags).values_list("work_id", flat=True)[:MAX_REFERENCE_WORKS]))
    if works:
        from clearcue.tenancy import operator_organization

        at = decision.decided_at if decision is not None else timezone.now()
        verdicts = evaluate(works, "style_reference", job.territory, at,
                            licensee_ids=sorted({operator_organization().pk, job.organization_id})).verdicts
        license_ids = sorted({lid for v in verdicts.values() if v.allowed for lid in v.license_ids})
        for lic in License.objects.filter(pk__in=license_ids).select_related("licensor").order_by("pk"):
            terms.append({"kind": "style_reference_license", "license_id": lic.pk, "key": lic.key,
                          "licensor": lic.licensor.name, "uses": uses_of(lic.uses_mask),
                          "territories": territories_of(lic.territories), "document": lic.document_ref,
                          "attribution_required": lic.attribution_required,
                          "attribution": lic.attribution_text})
    return terms


def rights_now(job: Job) -> dict[str, Any]:
    """The gate re-run for this job over today's rights (no ledger entry: a reading, not a decision)."""
    from generation import gate
    from generation.facts import current_policy, gate_facts

    policy = current_policy()
    decision = gate.decide(gate_facts(job, policy=policy, now=timezone.now()))
    return {"allowed": decision.allowed, "policy_version": policy.version,
            "reasons": [r.as_json() for r in decision.reasons]}
