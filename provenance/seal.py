"""The seal step (queue `seal`): render the approved draft, watermark it, sign every audio file with a C2PA
manifest, bind every file to the job in the ledger, and only then write the files to storage.

Order matters: the watermark is embedded in the PCM, each deliverable is encoded from the watermarked PCM,
and signing is the last thing that touches a file's bytes (anything after it would invalidate the manifest).
The payload is allocated (and ledgered) before embedding, so a re-run after a crash reuses it; a checkpoint is
signed after the job's entries so far, and the manifest carries it with their inclusion proofs. MIDI and
MusicXML cannot carry a watermark or an embedded manifest: the `output.sealed` entry binds their SHA-256.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from importlib import metadata
from typing import Any

import numpy as np

from generation.actions import AUDIO_FORMATS, SealedFile, do_complete_job
from generation.models import GateDecision, Job
from generation.pipeline import job_state, run_step
from licensing.ledger import Actor

SEAL_VERSION = 2
SAMPLE_RATE = 48_000
MEDIA_TYPES = {"wav": ("audio/wav", "wav"), "flac": ("audio/flac", "flac"), "mp3": ("audio/mpeg", "mp3"),
               "m4a": ("audio/mp4", "m4a"), "midi": ("audio/midi", "mid"),
               "musicxml": ("application/vnd.recordare.musicxml+xml", "musicxml")}
ACTOR = Actor.system("seal")


def clearcue_version() -> str:
    """The installed Clearcue version (the C2PA softwareAgent)."""
    try:
        return metadata.version("clearcue")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":"), default=str).encode()).hexdigest()


def render(job: Job) -> tuple[Any, np.ndarray | None]:
    """The job's score (arranged once from its draft) and, when an audio format is wanted, its audio."""
    from generation.engines.base import Composition
    from generation.engines.score import CuePlan
    from generation.registry import engine_for

    draft = job.draft.composition
    engine = engine_for(job.model)
    composition = Composition(CuePlan.from_dict(draft["plan"]), tuple(tuple(n) for n in draft["material"]),
                              int(draft["seed"]))
    score = engine.arrange(composition)
    audio = engine.render(score, sample_rate=SAMPLE_RATE) if set(job.formats) & set(AUDIO_FORMATS) else None
    return score, audio


def attribution_assertion(job: Job) -> dict[str, Any]:
    """The style attribution as the manifest states it: top contributors, rights holders, digest of the full list."""
    from provenance.actions import TOP_CONTRIBUTORS
    from provenance.chain import credited_by_key, holder_shares
    from provenance.models import Attribution

    record = Attribution.objects.get(job=job)
    contributions = record.document["contributions"]
    rows = credited_by_key(record)
    top = [{"work": item["work"], "ppm": item["ppm"], "holder": rows[item["work"]].holder.key,
            "license": rows[item["work"]].license.key, "style_reference": item["style_reference"]}
           for item in contributions[:TOP_CONTRIBUTORS]]
    holders = [{k: h[k] for k in ("party", "name", "ppm")} for h in holder_shares(record)]
    return {"method": record.method, "digest": record.digest, "works": len(contributions), "unit": "ppm",
            "top": top, "holders": holders, "ledger_index": record.ledger_index}


def graph_assertion(job: Job) -> dict[str, Any]:
    """The license-chain graph as the manifest states it: digest, counts, training root, style subgraph."""
    from provenance import graph as g
    from provenance.models import LicenseGraph

    record = LicenseGraph.objects.get(job=job)
    return {**g.manifest_assertion(g.from_node_link(record.document)), "ledger_index": record.ledger_index}


def custom_assertions(job: Job, ledger: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Our reverse-DNS assertions: training manifest, gate decisions, attribution, license-chain graph and the
    ledger checkpoint with proofs."""
    manifest = job.model.manifest
    decisions = list(GateDecision.objects.filter(job=job).order_by("id"))
    return {
        "attribution": attribution_assertion(job),
        "license-graph": graph_assertion(job),
        "training-manifest": {"merkle_root": manifest.merkle_root, "works": manifest.work_count,
                              "leaf_format": manifest.leaf_format, "territory": manifest.territory,
                              "ledger_index": manifest.ledger_index, "evaluated_at": manifest.evaluated_at.isoformat()},
        "gate-decision": {"decisions": [
            {"stage": d.stage, "allowed": d.allowed, "policy_version": d.policy_version,
             "reasons": sorted({r["code"] for r in d.reasons}), "ledger_index": d.ledger_index,
             "ledger_size": d.ledger_size, "decided_at": d.decided_at.isoformat()} for d in decisions],
            "indemnified": job.indemnified},
        "ledger": {"checkpoint": ledger["checkpoint"],
                   "entries": [{k: e[k] for k in ("leaf_index", "entry_type", "leaf_hash", "inclusion_path")}
                               for e in ledger["entries"]]},
    }


def manifest_facts(job: Job, *, media_type: str, watermark: dict[str, Any], seconds: float,
                   ledger: dict[str, Any], terms: list[dict[str, Any]]) -> Any:
    """Everything the output's manifest states (provenance.credentials.ManifestFacts)."""
    from provenance.credentials import ManifestFacts

    model = job.model
    return ManifestFacts(
        title=f"Clearcue cue, job {job.pk}",
        media_type=media_type,
        created_at=job.updated_at.isoformat(),
        software_agent={"name": "Clearcue", "version": clearcue_version()},
        model={"slug": model.slug, "name": model.name, "version": model.version, "engine": model.engine,
               "model_card_sha256": _digest(model.model_card), "checkpoint_sha256": model.checkpoint_sha256},
        prompt={"text": job.description, "sha256": hashlib.sha256(job.description.encode()).hexdigest()},
        soft_binding={"alg": watermark["alg"], "value": watermark["binding_value"], "start_ms": 0,
                      "end_ms": round(seconds * 1000)},
        training_mining=dict(job.training_mining),
        license_terms=terms,
        custom=custom_assertions(job, ledger),
    )


def record_chain(job: Job, payload: Any) -> tuple[Any, Any]:
    """The job's license-chain graph and attribution, computed and ledgered once (a re-run reuses them)."""
    from provenance import chain, influence
    from provenance.actions import do_record_chain
    from provenance.models import Attribution, LicenseGraph

    existing = LicenseGraph.objects.filter(job=job).first()
    if existing is not None:
        return existing, Attribution.objects.get(job=job)
    watermark = {} if payload is None else {"alg": payload.alg, "value": payload.value,
                                            "ledger_index": payload.ledger_index}
    graph, style_licenses = chain.output_graph(job, watermark)
    return do_record_chain(job, graph=graph, style_licenses=style_licenses, attribution=influence.attribute_job(job),
                           actor=ACTOR)


def seal_step(job: Job, token: str) -> None:
    """Render, watermark, sign and store the outputs, and complete the job (while the claim holds)."""
    from generation.engines import export
    from licensing.actions import do_publish_checkpoint
    from provenance import backends, credentials, media
    from provenance.actions import SignedCredential, credential_recorder, do_allocate_payload
    from provenance.evidence import ledger_evidence, license_terms
    from provenance.watermark import binding_value

    score, audio = render(job)
    seal: dict[str, Any] = {"version": SEAL_VERSION, "binding": "sha256", "sample_rate": SAMPLE_RATE}
    files: list[SealedFile] = []
    signed: dict[str, SignedCredential] = {}
    payload = None
    if audio is not None:
        marker = backends.watermarker()
        identity = backends.signing_identity()  # fail before allocating anything if we cannot sign
        payload = do_allocate_payload(job, alg=marker.alg, bits=marker.payload_bits,
                                      key_id=backends.active_key_id(marker), actor=ACTOR)
    graph_record, attribution_record = record_chain(job, payload)
    seal.update(graph=graph_record.digest, attribution=attribution_record.digest)
    if audio is not None:
        assert payload is not None
        marked = marker.embed(audio, SAMPLE_RATE, payload.value)
        seconds = len(marked) / SAMPLE_RATE
        checkpoint = do_publish_checkpoint(actor=ACTOR)  # covers the job's entries so far
        ledger = ledger_evidence(job, checkpoint)
        watermark = {"alg": payload.alg, "value": payload.value, "binding_value": binding_value(payload.value),
                     "key_id": payload.key_id, "serial": payload.serial, "ledger_index": payload.ledger_index}
        seal.update(binding="sha256+c2pa+watermark", watermark=watermark, checkpoint=checkpoint.tree_size,
                    credentials={})
        # One statement for every format (read once); only the media type differs between the manifests.
        common = manifest_facts(job, media_type="audio/wav", watermark=watermark, seconds=seconds, ledger=ledger,
                                terms=license_terms(job))
        for kind in sorted(set(job.formats) & set(AUDIO_FORMATS)):
            media_type, extension = MEDIA_TYPES[kind]
            facts = dataclasses.replace(common, media_type=media_type)
            manifest = credentials.build_manifest(facts)
            result = credentials.sign(media.encode(marked, SAMPLE_RATE, kind), media_type, manifest, identity)
            files.append(SealedFile(kind, result.data, media_type, extension))
            signed[kind] = SignedCredential(result.manifest_id, media_type, result.manifest_store,
                                            identity.subject, _summary(facts))
            seal["credentials"][kind] = result.manifest_id
    for kind in sorted(set(job.formats) - set(AUDIO_FORMATS)):
        media_type, extension = MEDIA_TYPES[kind]
        data = export.to_midi(score) if kind == "midi" else export.to_musicxml(score)
        files.append(SealedFile(kind, data, media_type, extension))
    do_complete_job(job, token, files, seal=seal, actor=ACTOR, on_outputs=credential_recorder(signed, payload))


def _summary(facts: Any) -> dict[str, Any]:
    """The compact statement kept with the credential (what the verifier shows for a stripped copy)."""
    return {"title": facts.title, "media_type": facts.media_type, "created_at": facts.created_at,
            "generator": facts.software_agent, "model": facts.model, "prompt_sha256": facts.prompt["sha256"],
            "soft_binding": facts.soft_binding, "license_terms": facts.license_terms,
            "training_mining": dict(facts.training_mining),
            "custom": {k: v for k, v in facts.custom.items() if k != "ledger"}}


def seal_job(job_id: int) -> str:
    """Claim the seal step and run it (generation.pipeline.run_step); returns the job's state."""
    run_step(job_id, "seal", seal_step)
    return job_state(job_id)
