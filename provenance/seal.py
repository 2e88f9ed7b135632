"""The seal step (queue `seal`): render the approved draft, bind every output file to the job in the ledger,
and only then write the files to storage.

Today the seal is the `output.sealed` ledger entry: the SHA-256 of each file, the job, its model and training
manifest root, and the ledger indexes of its gate decisions, in the append-only Merkle log that auditors verify
(signed checkpoints, inclusion proofs). The keyed watermark and the C2PA manifest join this step with the
provenance issue; the step's shape (claim, render, seal, store, complete) stays.
"""

from __future__ import annotations

import io
import logging
from typing import Any

from clearcue.exceptions import DomainError
from generation.actions import ClaimLost, SealedFile, do_claim_job_step, do_complete_job, do_fail_job
from generation.models import Job
from generation.pipeline import claim_seconds
from licensing.ledger import Actor

log = logging.getLogger(__name__)

SEAL_VERSION = 1
SAMPLE_RATE = 48_000
MEDIA_TYPES = {"wav": ("audio/wav", "wav"), "midi": ("audio/midi", "mid"),
               "musicxml": ("application/vnd.recordare.musicxml+xml", "musicxml")}


def render_files(job: Job) -> list[SealedFile]:
    """The job's output files from its draft: arranged once, rendered/exported per requested format."""
    from generation.engines import export, synth
    from generation.engines.base import Composition
    from generation.engines.score import CuePlan
    from generation.registry import engine_for

    draft = job.draft.composition
    engine = engine_for(job.model)
    composition = Composition(CuePlan.from_dict(draft["plan"]), tuple(tuple(n) for n in draft["material"]),
                              int(draft["seed"]))
    score = engine.arrange(composition)
    files = []
    for kind in sorted(job.formats):
        if kind == "wav":
            buffer = io.BytesIO()
            synth.write_audio(buffer, engine.render(score, sample_rate=SAMPLE_RATE), SAMPLE_RATE, "wav")
            data = buffer.getvalue()
        elif kind == "midi":
            data = export.to_midi(score)
        else:
            data = export.to_musicxml(score)
        media_type, extension = MEDIA_TYPES[kind]
        files.append(SealedFile(kind, data, media_type, extension))
    return files


def seal_job(job_id: int) -> str:
    """Claim the seal step, render, seal and store the outputs, complete the job; returns its state."""
    token = do_claim_job_step(job_id, "seal", claim_seconds=claim_seconds())
    if token is None:
        return Job.objects.filter(pk=job_id).values_list("state", flat=True).first() or "missing"
    job = Job.objects.select_related("model__manifest").get(pk=job_id)
    try:
        files = render_files(job)
        seal: dict[str, Any] = {"version": SEAL_VERSION, "binding": "sha256", "sample_rate": SAMPLE_RATE}
        do_complete_job(job, token, files, seal=seal, actor=Actor.system("seal"))
    except ClaimLost:
        log.warning("job %s: the seal step lost its claim; its result was dropped", job_id)
    except DomainError as exc:
        do_fail_job(job, token, "seal", code=exc.code, message=exc.message)
    except Exception as exc:
        log.exception("job %s: sealing failed", job_id)
        do_fail_job(job, token, "seal", code="seal_error", message=f"Sealing failed: {type(exc).__name__}: {exc}")
    return Job.objects.filter(pk=job_id).values_list("state", flat=True).first() or "missing"
