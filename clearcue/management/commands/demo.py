"""`manage.py demo`: the main job, end to end, as a newcomer meets the product (README "The two commands").

Seven steps, each printed from the real components (nothing here is canned):

1. tenants and personas: the operator, two clients, a rights holder; one API key per persona, printed once;
   a staff login for the admin console; the clients' contracts (entitlements);
2. the reference catalog (music21 corpus) ingested with the rights its files state, the shipped reference
   composer registered against it, opt-outs from three intake formats (a direct request, an IETF aipref
   `Content-Usage` value, a Liccium TDM·AI declaration), one license revoked, the impact reports they raised;
3. a model for commercial jobs: the catalog's files grant commercial use for only a few works (the corpus
   licence is non-commercial), so a small composer is trained here on the works cleared for both AI training
   and commercial output, honouring the opt-outs and the revocation;
4. jobs submitted through the HTTP API with the clients' keys (in-process requests through the real URL
   routing, authentication and views): one cleared commercial cue that completes (sealed WAV, MIDI, MusicXML,
   audit report) and four the gate refuses (opt-out since training, a non-commercial license on a commercial
   job, a style reference without license, an unlicensed artist named in the prompt), each with its reasons;
5. the sealed WAV verified through `/api/v1/verify`; re-encoded to MP3 (metadata stripped) and verified again
   (the watermark leads back to the job); one byte flipped: the signature check fails;
6. the whole ledger verified and a checkpoint signed;
7. a summary: where the files are, the URLs to open under `make serve`, timings per step.

Re-running is safe: organizations, catalog, models, opt-outs and jobs are reused (jobs by idempotency key);
API keys and the admin password are replaced.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from io import StringIO
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from clearcue import actions
from clearcue.models import ApiKey, Membership, Organization, Role, User
from licensing.actions import do_publish_checkpoint
from licensing.ledger import Actor, ledger_verifier_key, verify_ledger

PERSONAS = [
    # (username, organization slug, organization name, role)
    ("ada.auditor", "clearcue-operator", "Clearcue (operator)", Role.COMPLIANCE_AUDITOR),
    ("cat.admin", "clearcue-operator", "Clearcue (operator)", Role.CATALOG_ADMIN),
    ("cleo.client", "northlight-pictures", "Northlight Pictures", Role.CLIENT),
    ("bo.client", "brightwave-agency", "Brightwave Agency", Role.CLIENT),
    ("rhea.rights", "harbor-music-publishing", "Harbor Music Publishing", Role.RIGHTS_HOLDER),
]
ADMIN_USERNAME = "demo.admin"
CONTRACTS = {
    # organization slug: (reference, territories, commercial use, indemnification tier, monthly quota)
    "northlight-pictures": ("MSA-NL-2026", ["US", "GB"], True, "standard", 50),
    "brightwave-agency": ("MSA-BW-2026", ["US"], False, "none", 20),
}
COMMERCIAL_VERSION = "commercial-1"
SCENE = ("A lighthouse keeper climbs the stairs at dawn, hopeful and tender, the sea calm below; "
         "the lamp is lit at {minutes}:{seconds:02d}.")  # the hit point: two thirds into the cue
AUDIO_FORMATS = ["wav", "midi", "musicxml"]
TERMINAL = {"completed", "denied", "failed", "cancelled"}
JOB_TIMEOUT = 600  # seconds to wait for workers (`make worker`) when a broker is configured


class Command(BaseCommand):
    """The main job: catalog, rights, opt-outs, models, gated jobs, sealing, verification, the ledger."""

    help = ("Run the Clearcue demo end to end: personas and keys, the reference catalog and its rights, "
            "opt-outs and a revocation, models with training manifests, gated jobs (one sealed cue, four "
            "refusals), verification of the sealed, stripped and tampered cue, the verified ledger.")

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--collections", default="", help="only these music21 corpus directories (quick runs)")
        parser.add_argument("--train-steps", type=int, default=240,
                            help="optimizer steps for the commercial model (fewer: quicker, worse)")
        parser.add_argument("--duration", type=int, default=30, help="seconds of the cleared cue")
        parser.add_argument("--out", default="", help="where the demo's files go (default <data dir>/demo)")

    def handle(self, *args: Any, **options: Any) -> None:
        from django.test import Client

        # The demo prints what each step did; per-task and PDF-layout log lines would bury it (workers and
        # `make serve` keep logging them).
        for name in ("celery.app.trace", "weasyprint", "kombu.connection"):
            logging.getLogger(name).setLevel(logging.ERROR)
        warnings.filterwarnings("ignore", module=r"music21\.")  # score-repair notes while reading the corpus
        self.timings: list[tuple[str, float]] = []
        self.files: list[tuple[str, Path]] = []
        self.collections: str = options["collections"]
        self.out = Path(options["out"] or settings.DATA_DIR / "demo")
        self.out.mkdir(parents=True, exist_ok=True)
        self.http = Client(SERVER_NAME="127.0.0.1")
        self.base = settings.CLEARCUE_PUBLIC_URL
        self._heading("Clearcue demo: from a licensed catalog to a sealed, verifiable film cue")
        db = settings.DATABASES["default"]
        broker = "in-process (no broker set)" if settings.CELERY_TASK_ALWAYS_EAGER else settings.CELERY_BROKER_URL
        self.stdout.write(f"Database: {db['ENGINE'].rsplit('.', 1)[-1]} ({db['NAME']}); Celery: {broker}")
        started = time.perf_counter()
        with self._step("1. keys, tenants, personas, contracts"):
            self._keys()
            self._personas()
        with self._step("2. catalog, rights, opt-outs, revocation"):
            self._catalog()
        with self._step("3. models and training manifests"):
            self._models(options["train_steps"])
        with self._step("4. jobs through the gate"):
            completed = self._jobs(options["duration"])
        with self._step("5. verification: sealed, stripped, tampered"):
            self._verify(completed)
        with self._step("6. ledger"):
            self._ledger()
        self._summary(completed, time.perf_counter() - started)

    # --- plumbing -------------------------------------------------------------------------------------------

    def _heading(self, text: str) -> None:
        self.stdout.write("")
        self.stdout.write(self.style.MIGRATE_HEADING(text))

    @contextmanager
    def _step(self, name: str) -> Iterator[None]:
        self._heading(name)
        t0 = time.perf_counter()
        yield
        self.timings.append((name, time.perf_counter() - t0))

    def _api(self, method: str, path: str, key: str, **kwargs: Any) -> Any:
        """One request through the real API (URL routing, API-key authentication, permissions, views)."""
        response = getattr(self.http, method)(path, HTTP_AUTHORIZATION=f"Bearer {key}", **kwargs)
        return response

    def _save(self, label: str, name: str, data: bytes) -> Path:
        path = self.out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        self.files.append((label, path))
        return path

    # --- 1. tenants ---------------------------------------------------------------------------------------

    def _keys(self) -> None:
        """The three keys a deployment holds, created on the first run when none is configured (deploy/OPERATIONS.md
        says where production keeps them): the ledger's checkpoint key, the C2PA signing PKI, the watermark key."""
        from provenance import backends

        made = []
        if not settings.LEDGER_SIGNING_KEY and not settings.LEDGER_SIGNING_KEY_PATH.exists():
            call_command("init_ledger_key", stdout=StringIO(), stderr=StringIO())
            made.append(f"ledger checkpoint key {settings.LEDGER_SIGNING_KEY_PATH}")
        if not settings.C2PA_SIGNER_FACTORY and not settings.C2PA_SIGNING_KEY_PATH.exists():
            call_command("init_pki", stdout=StringIO())
            made.append(f"C2PA development PKI (root CA + signing leaf) in {settings.CLEARCUE_PKI_DIR}")
        if not settings.WATERMARK_KEYS and not settings.WATERMARK_KEYS_PATH.exists():
            call_command("init_watermark_key", stdout=StringIO())
            made.append(f"watermark key {settings.WATERMARK_KEYS_PATH}")
        backends.reset()
        from cryptography import x509

        identity = backends.signing_identity()
        leaf = x509.load_pem_x509_certificates(identity.chain_pem.encode())[0]
        marker = backends.watermarker()
        self.stdout.write(f"Keys: {'; '.join(made) if made else 'configured (reused)'}")
        self.stdout.write(f"  C2PA signer {leaf.subject.rfc4514_string()} ({identity.alg}), valid until "
                          f"{leaf.not_valid_after_utc:%Y-%m-%d}; watermark {marker.alg}, "
                          f"key {backends.active_key_id(marker)}")

    def _personas(self) -> None:
        from generation.actions import do_grant_entitlement
        from generation.models import Entitlement
        from licensing.terms import territories_of

        self.keys: dict[str, str] = {}
        rows = []
        with transaction.atomic():
            for username, slug, org_name, role in PERSONAS:
                org = Organization.objects.filter(slug=slug).first() or actions.do_create_organization(
                    name=org_name, slug=slug, is_operator=slug == "clearcue-operator", actor=None
                )
                user, _ = User.objects.get_or_create(username=username)
                membership = actions.do_add_membership(user=user, organization=org, role=role, actor=None)
                # Re-running the demo replaces its keys instead of piling them up.
                for old in ApiKey.objects.filter(membership=membership, name="demo", revoked_at__isnull=True):
                    actions.do_revoke_api_key(api_key=old, actor=user)
                issued = actions.do_create_api_key(membership=membership, name="demo", actor=user)
                self.keys[username] = issued.plaintext
                rows.append((username, role, org.slug, issued.plaintext))
            staff = Actor.system("demo")
            for slug, (reference, territories, commercial, tier, quota) in CONTRACTS.items():
                org = Organization.objects.get(slug=slug)
                if not Entitlement.objects.filter(organization=org, reference=reference).exists():
                    do_grant_entitlement(organization=org, reference=reference, territories=territories,
                                         commercial_use=commercial, indemnification_tier=tier, monthly_quota=quota,
                                         actor=staff)
            admin, _ = User.objects.get_or_create(username=ADMIN_USERNAME)
            self.admin_password = secrets.token_urlsafe(12)
            admin.is_staff = admin.is_superuser = True
            admin.set_password(self.admin_password)
            admin.save()
        self.stdout.write("API keys (shown once, stored hashed; re-running the demo replaces them):")
        width = max(len(r[0]) for r in rows)
        for username, role, slug, key in rows:
            self.stdout.write(f"  {username:<{width}}  {role:<18}  {slug:<24}  {key}")
        self.stdout.write(f"Admin console login: {ADMIN_USERNAME} / {self.admin_password}")
        for ent in Entitlement.objects.select_related("organization").order_by("organization__slug"):
            commercial = "yes" if ent.commercial_use else "no"
            self.stdout.write(f"  contract {ent.reference} for {ent.organization.slug}: territories "
                              f"{','.join(territories_of(ent.territories))}, commercial use {commercial}, "
                              f"indemnification {ent.indemnification_tier}, {ent.monthly_quota} jobs/month")
        self.stdout.write(f"Organizations: {Organization.objects.count()}, memberships: "
                          f"{Membership.objects.count()}, active API keys: "
                          f"{ApiKey.objects.filter(revoked_at__isnull=True).count()}")

    # --- 2. catalog ----------------------------------------------------------------------------------------

    def _catalog(self) -> None:
        """Ingest the reference catalog, register the shipped model against it, then opt-outs and a revocation."""
        from licensing import aipref, liccium
        from licensing.actions import do_register_optouts, do_revoke_license
        from licensing.models import License, OptOut, Work
        from licensing.terms import Reservation, ReservedUse, Source, Subject, SubjectKind, reserved_of
        from provenance.models import ImpactReport

        self.stdout.write("Reference catalog (music21 corpus), rights read from the files:")
        call_command("ingest_reference_catalog", only=self.collections, stdout=self.stdout)
        self._shipped_model()
        works = Work.objects.filter(collection__slug="music21-corpus").order_by("id")
        system = Actor.system("demo")
        harbor = Organization.objects.get(slug="harbor-music-publishing")
        self.stdout.write("Opt-outs (three intake formats):")
        if not OptOut.objects.filter(registered_by=harbor).exists() and works.count() >= 3:
            # Three works with stated rights, none of the composers the refused jobs below reference.
            candidates = works.exclude(rights_status="reserved").exclude(source_key__startswith="beethoven/") \
                .exclude(source_key__startswith="monteverdi/")
            first, second, third = list(candidates[:3])
            declaration = {"version": "1.0", "iscc": third.iscc_code, "intent": "activate", "train-ai": "false",
                           "summary": "Demo: reserved from AI training by its holder."}
            reservations = [
                Reservation(subject=Subject(SubjectKind.WORK, str(first.pk)), uses=frozenset({ReservedUse.ALL}),
                            source=Source.DIRECT, evidence={"request": "demo: direct request by rhea.rights"}),
                *aipref.reservations(Subject(SubjectKind.WORK, str(second.pk)), "train-ai=n, search=y"),
                *liccium.reservations(declaration),
            ]
            do_register_optouts(reservations, actor=system, registered_by=harbor)
        for optout in OptOut.objects.filter(registered_by=harbor).order_by("id"):
            subject = (Work.objects.get(pk=optout.subject_work_id).source_key if optout.subject_work_id
                       else optout.subject_value)
            self.stdout.write(f"  opt-out {optout.pk} ({optout.source}): {subject} reserved against "
                              f"{', '.join(reserved_of(optout.reserved_mask))}")
        license = License.objects.filter(source__origin="inband", basis="open_license").order_by("id").first()
        if license is not None and not hasattr(license, "revocation"):
            do_revoke_license(license, effective_at=None, reason="demo: licensor withdrew the encoding", actor=system)
        if license is not None:
            self.stdout.write(f"Revoked license {license.pk}: {license.name} from {license.licensor} "
                              f"({license.work_links.count()} works)")
        from provenance import impact

        deadline = time.monotonic() + JOB_TIMEOUT  # with a broker, a worker on the default queue writes them
        while impact.pending() and time.monotonic() < deadline:
            time.sleep(0.5)
        for report in ImpactReport.objects.order_by("id")[:10]:
            self.stdout.write(f"  impact report {report.pk} ({report.trigger_type}, raised automatically): "
                              f"{report.works} work(s), {report.models_count} model(s), {report.jobs} job(s), "
                              f"{report.outputs} output(s) affected")

    def _shipped_model(self) -> None:
        """Register the shipped reference composer: only if this catalog reproduces its training manifest."""
        from generation import registry

        self.shipped = None
        if self.collections:
            self.stdout.write("Shipped model: skipped (it was trained on the whole reference catalog, and only "
                              f"{self.collections} was ingested)")
            return
        model = registry.register_shipped(actor=Actor.system("demo"))
        self.shipped = model
        card = model.model_card
        self.stdout.write(f"Shipped model {model.slug}: checkpoint sha256 {model.checkpoint_sha256[:16]}… "
                          f"({model.checkpoint_size:,} bytes), ledger entry {model.ledger_index}; training manifest: "
                          f"{model.manifest.work_count} works ({card['training_data']['melodies']} melodies) cleared "
                          f"for ai_training in {model.manifest.territory}, reproduced exactly from this catalog, "
                          f"Merkle root {model.manifest.merkle_root[:16]}…")

    # --- 3. models -----------------------------------------------------------------------------------------

    def _models(self, steps: int) -> None:
        from generation import registry
        from generation.models import GenerationModel
        from licensing.models import OptOut

        existing = GenerationModel.objects.filter(name=registry.DEFAULT_NAME, version=COMMERCIAL_VERSION).first()
        if existing is None:
            self.stdout.write("Training a composer on the works cleared for ai_training AND commercial_output "
                              "(the opt-outs and the revocation above are honoured):")
            existing, _ = registry.train_and_register(
                name=registry.DEFAULT_NAME, version=COMMERCIAL_VERSION, territory="US", collections=[], seed=7,
                train_overrides={"steps": steps, "d_model": 96, "n_layer": 2, "batch_size": 8, "block_size": 128,
                                 "min_style_count": 6},
                also_cleared_for=["commercial_output"], actor=Actor.system("demo"),
                log=lambda line: self.stdout.write(f"    {line}"))
        self.commercial = existing
        card = existing.model_card["training_data"]
        self.stdout.write(f"Model {existing.slug}: {existing.manifest.work_count} works ({card['melodies']} melodies; "
                          f"bases {card['by_basis']}), Merkle root {existing.manifest.merkle_root[:16]}…, style tags "
                          f"{', '.join(existing.style_tags) or 'none'}; left out: {card['denied_by_reason']}")
        honoured = OptOut.objects.filter(withdrawal__isnull=True).count()
        self.stdout.write(f"  {honoured} opt-out(s) in force when it was trained; EU training-content summary: "
                          f"{self.base}/api/v1/models/{existing.pk}/training-summary/?view=html")

    # --- 4. jobs -------------------------------------------------------------------------------------------

    def _submit(self, label: str, username: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST a job with an idempotency key, then read it back; print its outcome and gate reasons."""
        from generation.models import Job

        key = self.keys[username]
        # The same request gets the same key, so a re-run returns the same job (a changed request is a new job);
        # a job an earlier run left failed is tried afresh under a new key.
        org = Membership.objects.get(user__username=username).organization
        digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:12]
        idem, attempt = f"demo-{label}-{digest}", 1
        while Job.objects.filter(organization=org, idempotency_key=idem, state__in=("failed", "cancelled")).exists():
            attempt += 1
            idem = f"demo-{label}-{digest}-{attempt}"
        t0 = time.perf_counter()
        response = self._api("post", "/api/v1/jobs/", key, data=body, content_type="application/json",
                             HTTP_IDEMPOTENCY_KEY=idem)
        if response.status_code not in (200, 201):
            raise CommandError(f"job {label}: HTTP {response.status_code} {response.content[:300]!r}")
        job = self._api("get", f"/api/v1/jobs/{response.json()['id']}/", key).json()
        # In-process tasks have finished by now; with a broker, workers run the pipeline: wait for them.
        deadline = time.monotonic() + JOB_TIMEOUT
        while job["state"] not in TERMINAL and time.monotonic() < deadline:
            time.sleep(0.5)
            job = self._api("get", f"/api/v1/jobs/{job['id']}/", key).json()
        seconds = time.perf_counter() - t0
        mark = (self.style.SUCCESS if job["state"] == "completed" else self.style.ERROR)(job["state"].upper())
        self.stdout.write(f"  job {job['id']} [{label}] {username} {body['use']} in {body['territory']} on "
                          f"{body['model']}: {mark} ({seconds:.1f} s)")
        for decision in job["decisions"]:
            for reason in decision["reasons"]:
                count = f" ({reason['count']} in all)" if reason.get("count", 0) > len(reason.get("ids") or []) \
                    else ""
                ids = f" ids {reason['ids'][:3]}{count}" if reason.get("ids") else ""
                self.stdout.write(f"      {decision['stage']}-gate {reason['severity']}: {reason['code']}: "
                                  f"{reason['message']}{ids}")
        if job["state"] == "completed":
            ran = sorted((i["started_at"], s, i["seconds"]) for s, i in job["steps"].items() if "seconds" in i)
            steps = ", ".join(f"{name} {seconds:.1f} s" for _, name, seconds in ran)
            self.stdout.write(f"      steps: {steps}; indemnified: {job['indemnified']}")
        return job

    def _jobs(self, duration: int) -> dict[str, Any]:
        commercial = self.commercial.slug
        tags = list(self.commercial.style_tags)
        composer = next((t for t in tags if t.startswith("composer:")), None)
        period = next((t for t in tags if t.startswith("period:")), None)
        hit = duration * 2 // 3
        cue = {"description": SCENE.format(minutes=hit // 60, seconds=hit % 60), "model": commercial,
               "territory": "US", "use": "commercial", "params": {"duration": duration, "tempo": 84},
               "formats": AUDIO_FORMATS, "style_tags": [composer] if composer else []}
        self.stdout.write("Cleared: a commercial cue for Northlight Pictures (contract MSA-NL-2026)")
        completed = self._submit("cleared-cue", "cleo.client", cue)
        if completed["state"] != "completed":
            raise CommandError(f"the cleared job ended {completed['state']}: {completed['outcome_message']}")
        self._download(completed)
        self.stdout.write("Refused by the gate:")
        short = {"formats": ["wav"]}  # refused before composing: the request is what matters
        if self.shipped is not None:
            self._submit("opted-out", "bo.client", {**cue, **short, "model": self.shipped.slug, "use": "non_commercial",
                                                    "style_tags": [],
                                                    "description": "Rain on a night window, a quiet waltz."})
        else:
            self.stdout.write("  [opted-out] skipped: the shipped model is not registered in a partial catalog")
        self._submit("non-commercial-license", "cleo.client", {
            **cue, **short, "style_tags": [],
            "description": "A stately procession in the manner of Ludwig van Beethoven, brass and strings."})
        if period:
            self._submit("style-unlicensed", "cleo.client", {**cue, **short, "style_tags": [period]})
        self._submit("named-artist", "cleo.client", {
            **cue, **short, "style_tags": [],
            "description": "Candlelit chapel, a lament for five voices like Claudio Monteverdi would write."})
        return completed

    def _download(self, job: dict[str, Any]) -> None:
        key = self.keys["cleo.client"]
        self.sealed: dict[str, bytes] = {}
        suffix = {"wav": "wav", "midi": "mid", "musicxml": "musicxml"}
        for output in job["outputs"]:
            response = self._api("get", f"/api/v1/jobs/{job['id']}/outputs/{output['kind']}/", key)
            data = b"".join(response.streaming_content) if response.streaming else response.content
            self.sealed[output["kind"]] = data
            path = self._save(f"sealed {output['kind']}", f"job-{job['id']}/cue.{suffix.get(output['kind'], 'bin')}",
                              data)
            self.stdout.write(f"      {output['kind']}: {len(data):,} bytes sha256 {output['sha256'][:16]}… -> {path}")
        graph = self._api("get", f"/api/v1/jobs/{job['id']}/license-graph", key)
        document = graph.json()
        kinds: dict[str, int] = {}
        for node in document["nodes"]:
            kinds[node.get("type", "?")] = kinds.get(node.get("type", "?"), 0) + 1
        self._save("license-chain graph (JSON)", f"job-{job['id']}/license-graph.json", graph.content)
        self.stdout.write(f"      license chain: {len(document['nodes'])} nodes "
                          f"({', '.join(f'{n} {k}' for k, n in sorted(kinds.items()))}), digest "
                          f"{graph['X-Graph-Digest'][:16]}… (the manifest carries it)")
        picture = self._api("get", f"/api/v1/jobs/{job['id']}/license-graph?view=svg", key)
        if picture.status_code == 200:
            self._save("license-chain picture (SVG)", f"job-{job['id']}/license-graph.svg", picture.content)
        attribution = self._api("get", f"/api/v1/jobs/{job['id']}/attribution", key).json()
        top = ", ".join(f"{h['name']} {h['ppm'] / 10_000:.1f}%" for h in attribution["holders"][:3])
        self.stdout.write(f"      attribution ({attribution['method']}): {len(attribution['contributions'])} works "
                          f"credited; top rights holders {top}")
        html = self._api("get", f"/api/v1/jobs/{job['id']}/audit-report", key)
        self._save("audit report (HTML)", f"job-{job['id']}/audit-report.html", html.content)
        pdf = self._api("get", f"/api/v1/jobs/{job['id']}/audit-report?format=pdf", key)
        if pdf.status_code == 200:
            path = self._save("audit report (PDF)", f"job-{job['id']}/audit-report.pdf", pdf.content)
            self.stdout.write(f"      audit report: {len(pdf.content):,} bytes PDF -> {path}")
        else:
            self.stdout.write(f"      audit report PDF unavailable ({pdf.json()['error']['code']}): HTML saved")

    # --- 5. verification -----------------------------------------------------------------------------------

    def _report(self, label: str, data: bytes, content_type: str) -> dict[str, Any]:
        response = self._api("post", "/api/v1/verify", self.keys["cleo.client"], data=data,
                             content_type=content_type)
        if response.status_code != 200:
            raise CommandError(f"verify {label}: HTTP {response.status_code} {response.content[:300]!r}")
        report: dict[str, Any] = response.json()
        watermark = report.get("watermark", {})
        covered = report.get("indemnification", {})
        reasons = ", ".join(r["code"] for r in covered.get("reasons", []))
        job = report.get("job", {}).get("id")
        self.stdout.write(f"  {label}: C2PA {report['c2pa']['state']}; resolved by "
                          f"{', '.join(report.get('resolved_by', [])) or 'nothing'} to job {job}; watermark "
                          f"{'detected' if watermark.get('detected') else 'not detected'}; ledger proofs "
                          f"{'verified' if report.get('ledger', {}).get('verified') else 'not verified'}; "
                          f"indemnified: {covered.get('covered')} ({reasons})")
        return report

    def _verify(self, job: dict[str, Any]) -> None:
        from provenance import media

        wav = self.sealed["wav"]
        self._report("sealed WAV", wav, "audio/wav")
        try:
            decoded = media.decode(wav)
            mp3 = media.encode(decoded.audio, decoded.sample_rate, "mp3", bitrate_kbps=128)
        except Exception as exc:  # ffmpeg missing on this machine: say so, do not pretend
            self.stdout.write(f"  stripped MP3: skipped ({getattr(exc, 'code', type(exc).__name__)}: {exc}); "
                              "install ffmpeg (`make demo` tries Debian's package)")
        else:
            self._save("metadata-stripped MP3", f"job-{job['id']}/cue-stripped.mp3", mp3)
            self._report("re-encoded MP3, metadata stripped", mp3, "audio/mpeg")
        at = wav.index(b"data") + 8 + 5000
        tampered = wav[:at] + bytes([wav[at] ^ 0x01]) + wav[at + 1:]
        self._save("tampered WAV (one byte flipped)", f"job-{job['id']}/cue-tampered.wav", tampered)
        report = self._report("one audio byte flipped", tampered, "audio/wav")
        codes = report["c2pa"].get("codes") or []
        self.stdout.write(f"      signature check: {report['c2pa']['state']} ({', '.join(codes[:3])})")

    # --- 6. ledger -----------------------------------------------------------------------------------------

    def _ledger(self) -> None:
        """Make sure the checkpoint key exists, sign the current tree head, verify the whole ledger."""
        checkpoint = do_publish_checkpoint(actor=Actor.system("demo"))
        t0 = time.perf_counter()
        report = verify_ledger()
        seconds = time.perf_counter() - t0
        verdict = "OK" if report.ok else f"FAILED: {report.problem} at {report.index}"
        self.stdout.write(f"verify_ledger: {verdict} ({report.entries} entries, {report.checkpoints} checkpoints, "
                          f"{seconds:.2f} s)")
        self.stdout.write(f"Latest checkpoint ({checkpoint.tree_size} entries, signed note):")
        for line in checkpoint.note.rstrip("\n").split("\n"):
            self.stdout.write(f"    {line}")
        self.stdout.write(f"Verifier key (auditors pin this): {ledger_verifier_key()}")
        if not report.ok:
            raise CommandError("the ledger does not verify")

    # --- 7. summary ----------------------------------------------------------------------------------------

    def _summary(self, job: dict[str, Any], total: float) -> None:
        from generation.models import Job

        self._heading("Summary")
        by_state = {s: Job.objects.filter(state=s).count() for s in ("completed", "denied", "failed")}
        self.stdout.write(f"Jobs: {by_state['completed']} completed, {by_state['denied']} denied, "
                          f"{by_state['failed']} failed")
        self.stdout.write("Timings:")
        for name, seconds in self.timings:
            self.stdout.write(f"  {name:<44} {seconds:7.1f} s")
        self.stdout.write(f"  {'total':<44} {total:7.1f} s")
        self.stdout.write(f"Files (in {self.out}):")
        for label, path in self.files:
            self.stdout.write(f"  {label:<34} {path.relative_to(self.out)}")
        b = self.base
        self.stdout.write("Start the server with `make serve`, then open:")
        self.stdout.write(f"  admin console      {b}/admin/   (login {ADMIN_USERNAME} / {self.admin_password})")
        self.stdout.write(f"  audit report       {b}/api/v1/jobs/{job['id']}/audit-report  (?format=pdf)")
        self.stdout.write(f"  license chain      {b}/api/v1/jobs/{job['id']}/license-graph")
        self.stdout.write(f"  compliance         {b}/api/v1/compliance/dashboard")
        self.stdout.write(f"  ledger checkpoint  {b}/api/v1/ledger/checkpoint  (verify offline: README, "
                          "'Auditing the ledger')")
        self.stdout.write(f"  API docs           {b}/api/docs/")
        self.stdout.write(f"  as a client        curl -H 'Authorization: Bearer {self.keys['cleo.client']}' "
                          f"{b}/api/v1/jobs/{job['id']}/")
