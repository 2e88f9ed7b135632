"""Verify an uploaded file: what it is, who made it, from what, under which licenses, and whether the client is
covered, even when its metadata was stripped.

Steps, each reported separately so a caller sees which evidence holds:
1. sniff the bytes (415 for anything that is not audio we read);
2. C2PA: read and validate the embedded manifest against our trust anchors (Trusted / Valid / Invalid / Absent);
3. watermark: decode the audio (ffmpeg for compressed formats, bounded in time and memory) and detect;
4. resolve to a sealed output: the exact bytes (SHA-256), the manifest id, or the watermark payload;
5. for a resolved job: the ledger entries with inclusion proofs checked against the latest signed checkpoint,
   the rights at generation time and now, and the indemnification verdict.

Public callers get what the file itself shows (C2PA state and summary, whether a Clearcue watermark is present
and where, the manifest id the SB-API serves anyway); the owning client, operator auditors and staff get the
rest. Nothing about another tenant's job leaks through the public answer.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from clearcue.exceptions import DomainError
from clearcue.tenancy import Principal
from generation.models import GateDecision, GateStage, Job, JobOutput, JobState
from provenance import indemnity
from provenance.models import Credential, WatermarkPayload

C2PA_MEDIA_TYPES = ("audio/wav", "audio/flac", "audio/mpeg", "audio/mp4")


@dataclass
class Resolution:
    """The sealed output and job an upload resolved to, and by which evidence."""

    job: Job | None = None
    output: JobOutput | None = None
    credential: Credential | None = None
    by: tuple[str, ...] = ()
    conflict: bool = False  # manifest and watermark point at different jobs


def read_credentials(data: bytes, media_type: str) -> dict[str, Any]:
    """The C2PA state of the file (never raises for bad content: an unreadable manifest is reported)."""
    from provenance import credentials
    from provenance.backends import trust_anchors

    if media_type not in C2PA_MEDIA_TYPES:
        return {"state": "Unsupported", "codes": [], "manifest_id": None, "summary": None}
    try:
        report = credentials.read(data, media_type, trust_anchors())
    except credentials.CredentialError as error:
        return {"state": "Unreadable", "codes": [error.code], "manifest_id": None, "summary": None,
                "message": error.message}
    return {"state": report.state, "codes": list(report.codes), "manifest_id": report.manifest_id,
            "summary": report.summary() if report.state != "Absent" else None,
            "signer": report.signer_subject}


def detect_watermark(data: bytes) -> tuple[dict[str, Any], float]:
    """Decode and look for the watermark; returns (report, seconds of audio)."""
    from provenance import media
    from provenance.backends import watermarker

    try:
        decoded = media.decode(data, max_seconds=float(settings.VERIFY_MAX_SECONDS))
    except media.MediaError as error:
        raise DomainError(error.code, error.message, status=error.status) from error
    detection = watermarker().detect(decoded.audio, decoded.sample_rate)
    return ({"alg": detection.alg, "detected": detection.detected,
             "payload": detection.payload if detection.detected else None,
             "confidence": round(float(detection.confidence), 4),
             "seconds": [[round(a, 2), round(b, 2)] for a, b in detection.seconds()],
             "key_id": detection.key_id if detection.detected else None}, decoded.seconds)


def resolve(digest: str, manifest_id: str | None, watermark: dict[str, Any]) -> Resolution:
    """Find the sealed output: exact bytes (their SHA-256) first, then the manifest id, then the watermark."""
    found = Resolution()
    exact = JobOutput.objects.filter(sha256=digest).select_related("job").first()
    credential = (Credential.objects.filter(manifest_id=manifest_id).select_related("output__job").first()
                  if manifest_id else None)
    payload = (WatermarkPayload.objects.filter(alg=watermark["alg"], value=watermark["payload"])
               .select_related("job").first() if watermark.get("detected") else None)
    by = []
    if exact is not None:
        found.output, found.job = exact, exact.job
        by.append("sha256")
    if credential is not None:
        found.credential = credential
        found.output = found.output or credential.output
        found.job = found.job or credential.output.job
        found.conflict |= credential.output.job_id != found.job.pk
        by.append("manifest")
    if payload is not None:
        found.job = found.job or payload.job
        found.conflict |= payload.job_id != found.job.pk
        by.append("watermark")
    if found.output is not None and found.credential is None:
        found.credential = Credential.objects.filter(output=found.output).first()
    if found.output is None and found.job is not None:  # watermark only: the job's sealed audio
        found.output = JobOutput.objects.filter(job=found.job, kind="wav").first() or \
            JobOutput.objects.filter(job=found.job, credential__isnull=False).order_by("id").first()
        if found.output is not None:
            found.credential = Credential.objects.filter(output=found.output).first()
    found.by = tuple(by)
    return found


def may_see(principal: Principal, job: Job) -> bool:
    """Whether the caller sees the full answer for `job`: its organization's members, operator auditors, staff."""
    return principal.reads_all_tenants or job.organization_id in principal.org_ids()


def _match(c2pa: dict[str, Any], found: Resolution) -> str:
    if found.job is None:
        return indemnity.UNRESOLVED
    if "sha256" in found.by:
        return indemnity.EXACT
    if "manifest" in found.by:
        return indemnity.SIGNED if c2pa["state"] in ("Trusted", "Valid") else indemnity.TAMPERED
    return indemnity.WATERMARK


def verify_upload(data: bytes, *, principal: Principal) -> dict[str, Any]:
    """The verification report for uploaded bytes (raises DomainError 413/415/422 for unusable input)."""
    from provenance import media
    from provenance.evidence import ledger_evidence, license_terms, rights_now

    started = time.perf_counter()
    if len(data) > settings.VERIFY_MAX_BYTES:
        raise DomainError("media_too_large", f"The file exceeds {settings.VERIFY_MAX_BYTES} bytes.", status=413)
    media_type = media.sniff(data)
    if media_type is None:
        raise DomainError("unsupported_media_type", "The file is not an audio format we read (WAV, FLAC, MP3, "
                          "M4A/AAC, Ogg, AIFF).", status=415)
    c2pa = read_credentials(data, media_type)
    watermark, seconds = detect_watermark(data)
    digest = hashlib.sha256(data).hexdigest()
    found = resolve(digest, c2pa.get("manifest_id"), watermark)
    report: dict[str, Any] = {
        "media_type": media_type, "size": len(data), "seconds": round(seconds, 3),
        "sha256": digest,
        "c2pa": c2pa,
        "watermark": {k: v for k, v in watermark.items() if k not in ("payload", "key_id")},
        "clearcue_output": found.job is not None,
        "resolved_by": list(found.by),
        "manifest_id": found.credential.manifest_id if found.credential is not None else None,
        "full": False,
    }
    if found.job is not None and may_see(principal, found.job):
        job = found.job
        report["full"] = True
        report["watermark"] = watermark
        decisions = {d.stage: d for d in GateDecision.objects.filter(job=job)}
        pre, post = decisions.get(GateStage.PRE), decisions.get(GateStage.POST)
        now = rights_now(job)
        then_codes = {r["code"] for r in (pre.reasons if pre else [])}
        changed = tuple(sorted({r["code"] for r in now["reasons"]} - then_codes))
        facts = pre.facts if pre else {}
        verdict = indemnity.decide(indemnity.IndemnityFacts(
            match=_match(c2pa, found), job_completed=job.state == JobState.COMPLETED,
            gate_allowed=bool(pre and pre.allowed), release_allowed=bool(post is None or post.allowed),
            indemnified_at_generation=bool(job.indemnified and facts.get("indemnified", False)),
            indemnification_tier=str(facts.get("indemnification_tier", "none")), use=job.use,
            rights_changes_since=changed))
        report.update({
            "conflict": found.conflict,
            "output": None if found.output is None else {
                "id": found.output.pk, "kind": found.output.kind, "media_type": found.output.media_type,
                "sha256": found.output.sha256, "size": found.output.size,
                "created_at": found.output.created_at.isoformat()},
            "job": {"id": job.pk, "organization": job.organization.slug, "state": job.state,
                    "model": job.model.slug, "territory": job.territory, "use": job.use,
                    "style_tags": job.style_tags, "description": job.description,
                    "created_at": job.created_at.isoformat()},
            "manifest_summary": (found.credential.summary if found.credential is not None else None),
            "ledger": ledger_evidence(job),
            "rights": {
                "at_generation": None if pre is None else {
                    "allowed": pre.allowed, "policy_version": pre.policy_version, "ledger_size": pre.ledger_size,
                    "decided_at": pre.decided_at.isoformat(), "reasons": pre.reasons},
                "now": now, "changed_since": list(changed)},
            "license_terms": license_terms(job),
            "indemnification": verdict.as_json(),
        })
    report["elapsed_ms"] = round((time.perf_counter() - started) * 1000, 1)
    return report
