"""Benchmark the seal and verification paths; prints figures, asserts nothing.

    .venv/bin/python scripts/bench_provenance.py [--repeat 20] [--seal-seconds 60] [--verify-seconds 30]

Part 1, seal of a cue (issue goal: watermark + sign of a 60-s 48 kHz cue <= 1 s, the signing part <= 1.2x
c2pa-python's raw sign of the same file, measured in the same run). The cue is rendered once by the project's
synthesizer; each repetition embeds the keyed watermark, encodes 24-bit WAV, builds the full manifest and signs it,
and, interleaved, c2pa-python signs the same WAV with a minimal manifest (the anchor).

Part 2, verification of a sealed file (goal: <= 300 ms for 30 s). It runs on a scratch embedded deployment
(SQLite and in-process tasks in a temporary data directory): migrate, development PKI, a watermark key, three
reference-corpus collections, a model trained in seconds, a client with a contract, and one real job sealed
through the pipeline. Then `provenance.verify.verify_upload` (the API's code path: sniff, C2PA read, decode,
watermark detection, resolution, ledger proofs, the gate re-run over today's rights, the indemnification
verdict) runs on the sealed WAV and on a metadata-stripped MP3 copy.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

SCENE = "A quiet dawn over the harbour, hopeful and tender."
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def timed(fn: Callable[[], Any], repeat: int) -> list[float]:
    """Milliseconds of each call."""
    out = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        out.append((time.perf_counter() - started) * 1000)
    return out


def show(label: str, values: list[float], unit: str = "ms") -> None:
    """Median, p90 and min of a list of timings."""
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    print(f"  {label:<46} median {statistics.median(values):8.1f} {unit}   p90 {p90:8.1f}   min {ordered[0]:8.1f}")


def cue_audio(seconds: float, sample_rate: int = 48_000) -> np.ndarray:
    """A stereo orchestral texture from the project's synthesizer (chords, a melody and a bass line)."""
    from generation.engines import synth
    from generation.engines.score import TimedNote

    rng = np.random.default_rng(7)
    notes = []
    beat = 0.5
    t = 0.0
    roots = [48, 53, 55, 50, 57, 52]
    while t < seconds - 1:
        root = int(rng.choice(roots))
        for voice, pitch in enumerate((root, root + 4, root + 7, root + 12)):
            notes.append(TimedNote("strings" if voice else "cellos", pitch + 12, t, 4 * beat, 70))
        for k in range(4):
            notes.append(TimedNote("flute", int(root + 24 + rng.choice([0, 2, 4, 7, 9])), t + k * beat, beat * 0.9,
                                   85))
        notes.append(TimedNote("contrabass", root - 12, t, 4 * beat, 80))
        t += 4 * beat
    return synth.render(notes, sample_rate=sample_rate, duration=seconds)


def part_seal(args: argparse.Namespace) -> None:
    import c2pa

    from provenance import credentials, media, pki
    from provenance.watermark import binding_value
    from provenance.watermark_keyed import KeyedWatermarker

    print(f"\n1. Seal a {args.seal_seconds:.0f}-s 48 kHz stereo cue (median of {args.repeat})")
    audio = cue_audio(args.seal_seconds)
    marker = KeyedWatermarker({"bench": os.urandom(32)}, active_key_id="bench")
    directory = tempfile.mkdtemp(prefix="bench-pki-")
    files = pki.create_dev_pki(Path(directory) / "pki")
    identity = pki.load_identity(files.chain, files.signer_key)
    chain, key = files.chain.read_bytes(), files.signer_key.read_bytes()
    facts = credentials.ManifestFacts(
        title="Clearcue cue, bench", media_type="audio/wav", created_at="2026-11-21T12:00:00+00:00",
        software_agent={"name": "Clearcue", "version": "bench"},
        model={"slug": "reference-composer@bench", "name": "reference-composer", "version": "bench",
               "engine": "reference", "model_card_sha256": "0" * 64, "checkpoint_sha256": "1" * 64},
        prompt={"text": SCENE, "sha256": hashlib.sha256(SCENE.encode()).hexdigest()},
        soft_binding={"alg": marker.alg, "value": binding_value(12345), "start_ms": 0,
                      "end_ms": int(args.seal_seconds * 1000)},
        license_terms=[{"kind": "client_contract", "reference": "MSA-A-2026", "territories": ["US", "GB"],
                        "commercial_use": True, "indemnification_tier": "standard"}],
        custom={"training-manifest": {"merkle_root": "3" * 64, "works": 1234},
                "gate-decision": {"decisions": [{"stage": "pre", "allowed": True, "policy_version": 0}]},
                "ledger": {"checkpoint": {"tree_size": 100, "note": "x" * 300},
                           "entries": [{"leaf_index": i, "inclusion_path": ["a" * 44] * 7} for i in range(4)]}})
    minimal = json.dumps({"claim_generator_info": [{"name": "bench", "version": "1"}], "title": "raw",
                          "assertions": [{"label": "c2pa.actions", "data": {"actions": [{
                              "action": "c2pa.created", "digitalSourceType":
                              "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"}]}}]})
    wav = media.encode(marker.embed(audio, 48_000, 12345), 48_000, "wav")

    def raw_sign() -> None:
        signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, chain, key, None))
        builder = c2pa.Builder(minimal, c2pa.Context.from_dict({}))
        builder.sign(signer, "audio/wav", io.BytesIO(wav), io.BytesIO())

    def our_sign() -> None:
        credentials.sign(wav, "audio/wav", credentials.build_manifest(facts), identity)

    embed, encode, ours, raw, total = [], [], [], [], []
    for _ in range(args.repeat):  # interleaved, so both signs see the same machine state
        raw += timed(raw_sign, 1)
        t0 = time.perf_counter()
        marked = marker.embed(audio, 48_000, 12345)
        t1 = time.perf_counter()
        data = media.encode(marked, 48_000, "wav")
        t2 = time.perf_counter()
        credentials.sign(data, "audio/wav", credentials.build_manifest(facts), identity)
        t3 = time.perf_counter()
        embed.append((t1 - t0) * 1000)
        encode.append((t2 - t1) * 1000)
        ours.append((t3 - t2) * 1000)
        total.append((t3 - t0) * 1000)
    detect = timed(lambda: marker.detect(marked, 48_000), max(3, args.repeat // 2))
    shutil.rmtree(directory, ignore_errors=True)
    show("watermark embed", embed)
    show("encode 24-bit WAV", encode)
    show("build manifest + sign (ours)", ours)
    show("c2pa-python raw sign, minimal manifest", raw)
    show("seal total (embed + encode + sign)", total)
    show("watermark detect (whole cue)", detect)
    ratio = statistics.median(ours) / statistics.median(raw)
    rt_embed = args.seal_seconds * 1000 / statistics.median(embed)
    rt_detect = args.seal_seconds * 1000 / statistics.median(detect)
    print(f"  signing ours / raw: {ratio:.2f}x (goal <= 1.2x); seal total {statistics.median(total):.0f} ms "
          f"(goal <= 1000 ms); embed {rt_embed:.0f}x real time, detect {rt_detect:.0f}x real time (goal >= 200x)")


def part_verify(args: argparse.Namespace) -> None:
    from django.core.management import call_command

    print(f"\n2. Verify a sealed {args.verify_seconds:.0f}-s cue on a scratch embedded deployment "
          f"(median of {args.repeat})")
    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    call_command("init_ledger_key", stdout=io.StringIO(), stderr=io.StringIO())
    call_command("init_pki", stdout=io.StringIO())
    call_command("init_watermark_key", stdout=io.StringIO(), stderr=io.StringIO())
    from clearcue import actions as org_actions
    from clearcue.models import Membership, Role, User
    from clearcue.tenancy import Principal
    from generation.actions import JobRequest, do_submit_job
    from generation.models import Job, JobOutput
    from licensing.ledger import Actor
    from provenance import media
    from provenance.verify import verify_upload
    from tests.generation import studio

    operator = org_actions.do_create_organization(name="Operator", slug="operator", is_operator=True, actor=None)
    client = org_actions.do_create_organization(name="Client A", slug="client-a", actor=None)
    other = org_actions.do_create_organization(name="Client B", slug="client-b", actor=None)
    user = User.objects.create(username="bench-client")
    org_actions.do_add_membership(user=user, organization=client, role=Role.CLIENT, actor=None)
    world = studio.build(operator, client, other)
    print(f"  setup (migrate, PKI, catalog, tiny model): {time.perf_counter() - started:.1f} s")
    request = JobRequest(description=studio.SCENE, model=world.model.slug, territory="US", use="commercial",
                         params={"duration": args.verify_seconds}, formats=("wav",), seed=11)
    t0 = time.perf_counter()
    job, _ = do_submit_job(request, organization=client, user=user, idempotency_key="bench-1",
                           actor=Actor.system("bench"))
    job = Job.objects.get(pk=job.pk)
    steps = ", ".join(f"{name} {step.get('seconds', 0):.2f} s" for name, step in job.steps.items())
    print(f"  job {job.pk}: {job.state} in {time.perf_counter() - t0:.1f} s (steps: {steps})")
    if job.state != "completed":
        print(f"  the job did not complete: {job.outcome_code} {job.outcome_message}")
        return
    wav = JobOutput.objects.get(job=job, kind="wav").file.open("rb").read()
    decoded = media.decode(wav)
    mp3 = media.encode(decoded.audio, decoded.sample_rate, "mp3", bitrate_kbps=128)
    owner = Principal(user_id=user.pk, memberships=tuple(Membership.objects.filter(user=user)))
    for label, data in (("sealed WAV (owner: full report)", wav), ("stripped MP3 copy (owner)", mp3),
                        ("sealed WAV (public caller)", wav)):
        principal = owner if "owner" in label else Principal(user_id=None)
        report = verify_upload(data, principal=principal)
        runs = timed(lambda d=data, p=principal: verify_upload(d, principal=p), args.repeat)
        show(label, runs)
        print(f"    -> C2PA {report['c2pa']['state']}, watermark {'yes' if report['watermark']['detected'] else 'no'}"
              f", resolved by {report['resolved_by'] or 'nothing'}"
              + (f", covered {report['indemnification']['covered']}" if report.get("indemnification") else ""))
    from provenance import credentials
    from provenance.backends import trust_anchors, watermarker

    print("  components on the sealed WAV:")
    show("decode (soundfile)", timed(lambda: media.decode(wav), args.repeat))
    show("C2PA read + validate", timed(lambda: credentials.read(wav, "audio/wav", trust_anchors()), args.repeat))
    show("watermark detect", timed(lambda: watermarker().detect(decoded.audio, decoded.sample_rate), args.repeat))
    show("decode MP3 (ffmpeg)", timed(lambda: media.decode(mp3), args.repeat))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--seal-seconds", type=float, default=60.0)
    parser.add_argument("--verify-seconds", type=int, default=30)
    parser.add_argument("--skip-verify", action="store_true")
    args = parser.parse_args()
    data_dir = tempfile.mkdtemp(prefix="bench-provenance-")
    os.environ["CLEARCUE_DATA_DIR"] = data_dir  # embedded: SQLite and in-process tasks in a scratch directory
    os.environ.pop("DATABASE_URL", None)
    os.environ.pop("CELERY_BROKER_URL", None)
    os.environ.setdefault("CLEARCUE_LOG_LEVEL", "WARNING")
    os.environ["DJANGO_SETTINGS_MODULE"] = "clearcue.settings"
    import django

    django.setup()
    try:
        print(f"Provenance benchmark ({os.cpu_count()} CPUs)")
        part_seal(args)
        if not args.skip_verify:
            part_verify(args)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
