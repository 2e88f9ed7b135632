"""The seal step (queue `seal`): render the approved draft, bind every output file to the job in the ledger,
and only then write the files to storage.

Today the seal is the `output.sealed` ledger entry: the SHA-256 of each file, the job, its model and training
manifest root, and the ledger indexes of its gate decisions, in the append-only Merkle log that auditors verify
(signed checkpoints, inclusion proofs). The keyed watermark and the C2PA manifest join this step with the
provenance issue; the step's shape (claim, render, seal, store, complete) stays.
"""

from __future__ import annotations

import io
from typing import Any

from generation.actions import SealedFile, do_complete_job
from generation.models import Job
from generation.pipeline import job_state, run_step
from licensing.ledger import Actor

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


def seal_step(job: Job, token: str) -> None:
    """Render the draft, seal and store the outputs, and complete the job (while the claim holds)."""
    seal: dict[str, Any] = {"version": SEAL_VERSION, "binding": "sha256", "sample_rate": SAMPLE_RATE}
    do_complete_job(job, token, render_files(job), seal=seal, actor=Actor.system("seal"))


def seal_job(job_id: int) -> str:
    """Claim the seal step and run it (generation.pipeline.run_step); returns the job's state."""
    run_step(job_id, "seal", seal_step)
    return job_state(job_id)
