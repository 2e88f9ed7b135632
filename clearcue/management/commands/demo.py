"""`manage.py demo`: the main job. Today: tenancy, the reference catalog with its rights, opt-outs and a
revocation, rights evaluation, and the ledger; no generation yet, honestly labelled as such (see README)."""

from __future__ import annotations

from io import StringIO
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
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


class Command(BaseCommand):
    """Create the demo organizations and personas and print a fresh API key for each."""

    help = (
        "Run the Clearcue demo. Until catalog ingestion, the gate and sealing land, this sets up the "
        "tenants and personas, prints their API keys, signs a ledger checkpoint and verifies the ledger; "
        "it does not generate music."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--collections", default="", help="only these music21 corpus directories")

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(self.style.MIGRATE_HEADING("Clearcue demo: tenancy, the catalog and its rights, the ledger"))
        self.stdout.write(
            "This stage of the demo creates organizations, personas and API keys, ingests the reference\n"
            "catalog (the music21 corpus) with the rights its files state, registers the shipped reference\n"
            "composer with its training manifest, registers opt-outs in three formats, revokes a license,\n"
            "evaluates rights, then signs a checkpoint of the rights ledger and verifies it.\n"
            "The generation gate and sealing are not built yet, so no music is generated in this run.\n"
        )
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
                rows.append((username, org.slug, role, issued.plaintext))
        width = max(len(r[0]) for r in rows)
        for username, slug, role, key in rows:
            self.stdout.write(f"  {username:<{width}}  {role:<18}  {slug:<24}  {key}")
        base = settings.CLEARCUE_PUBLIC_URL
        self.stdout.write("")
        self.stdout.write(f"Database: {settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]} "
                          f"({settings.DATABASES['default']['NAME']})")
        broker = "in-process (no broker set)" if settings.CELERY_TASK_ALWAYS_EAGER else settings.CELERY_BROKER_URL
        self.stdout.write(f"Celery: {broker}")
        self.stdout.write(f"Organizations: {Organization.objects.count()}, memberships: "
                          f"{Membership.objects.count()}, active API keys: "
                          f"{ApiKey.objects.filter(revoked_at__isnull=True).count()}")
        self._catalog(options["collections"])
        self._ledger()
        self.stdout.write("")
        self.stdout.write("Start the server with `make serve`, then try:")
        self.stdout.write(f"  curl -H 'Authorization: Bearer {rows[2][3]}' {base}/api/v1/me/")
        self.stdout.write(f"  API docs: {base}/api/docs/   schema: {base}/api/schema/   health: {base}/healthz")
        self.stdout.write(f"  Admin: {base}/admin/ (create a login with `make superuser`)")
        self.stdout.write(f"  Ledger: {base}/api/v1/ledger/checkpoint  (verify offline: README, 'Auditing the ledger')")

    def _catalog(self, collections: str) -> None:
        """Ingest the reference catalog, register opt-outs from three formats, revoke a license, evaluate."""
        from datetime import UTC, datetime

        from licensing import aipref, liccium, rights
        from licensing.actions import do_register_optouts, do_revoke_license
        from licensing.models import License, OptOut, Work
        from licensing.terms import Reservation, ReservedUse, Source, Subject, SubjectKind

        self.stdout.write("")
        self.stdout.write(self.style.MIGRATE_HEADING("Reference catalog (music21 corpus), rights read from the files"))
        call_command("ingest_reference_catalog", only=collections, stdout=self.stdout)
        self._model(collections)
        works = Work.objects.filter(collection__slug="music21-corpus").order_by("id")
        system = Actor.system("demo")
        harbor = Organization.objects.get(slug="harbor-music-publishing")
        if not OptOut.objects.filter(registered_by=harbor).exists() and works.count() >= 3:
            first, second, third = list(works.exclude(rights_status="reserved")[:3])
            declaration = {"version": "1.0", "iscc": third.iscc_code, "intent": "activate", "train-ai": "false",
                           "summary": "Demo: reserved from AI training by its holder."}
            reservations = [
                Reservation(subject=Subject(SubjectKind.WORK, str(first.pk)), uses=frozenset({ReservedUse.ALL}),
                            source=Source.DIRECT, evidence={"request": "demo: direct request by rhea.rights"}),
                *aipref.reservations(Subject(SubjectKind.WORK, str(second.pk)), "train-ai=n, search=y"),
                *liccium.reservations(declaration),
            ]
            optouts = do_register_optouts(reservations, actor=system, registered_by=harbor)
            for optout in optouts:
                self.stdout.write(f"  opt-out {optout.pk} ({optout.source}) on {optout.subject_kind} "
                                  f"{optout.subject_work_id or optout.subject_value}")
        license = License.objects.filter(source__origin="inband", basis="open_license").order_by("id").first()
        if license is not None and not hasattr(license, "revocation"):
            do_revoke_license(license, effective_at=None, reason="demo: licensor withdrew the encoding", actor=system)
            self.stdout.write(f"  revoked license {license.pk}: {license.name} from {license.licensor}")
        at = datetime.now(UTC)
        for use in ("ai_training", "commercial_output"):
            evaluation = rights.evaluate(works.values_list("id", flat=True), use, "US", at)
            allowed, total = len(evaluation.allowed_ids()), len(evaluation.verdicts)
            self.stdout.write(f"  evaluate {use} in US now: {allowed} of {total} works allowed; "
                              f"denied by reason {evaluation.reason_counts()}")

    def _model(self, collections: str) -> None:
        """Register the shipped reference composer: only if this catalog reproduces its training manifest."""
        from generation import registry
        from licensing.ledger import Actor

        self.stdout.write("")
        self.stdout.write(self.style.MIGRATE_HEADING("Reference composer: shipped checkpoint and training manifest"))
        if collections:
            self.stdout.write("  skipped: the shipped model was trained on the whole reference catalog, and only "
                              f"{collections} was ingested")
            return
        model = registry.register_shipped(actor=Actor.system("demo"))
        card = model.model_card
        data = card["training_data"]
        base = settings.CLEARCUE_PUBLIC_URL
        self.stdout.write(f"  {model.slug} ({model.engine}): checkpoint sha256 {model.checkpoint_sha256} "
                          f"({model.checkpoint_size:,} bytes), ledger entry {model.ledger_index}")
        self.stdout.write(f"  training manifest {model.manifest.name}: {model.manifest.work_count} works "
                          f"({data['melodies']} melodies) cleared for ai_training in {model.manifest.territory}, "
                          f"Merkle root {model.manifest.merkle_root}")
        self.stdout.write(f"  reproduced from this catalog: the same works, asset hashes and clearing licenses as "
                          f"shipped; validation loss {card['training']['metrics']['validation_loss']}")
        self.stdout.write(f"  EU AI Act training-content summary: {base}/api/v1/models/{model.pk}/training-summary/"
                          "?view=html")

    def _ledger(self) -> None:
        """Make sure the checkpoint key exists, sign the current tree head, verify the whole ledger."""
        if not settings.LEDGER_SIGNING_KEY and not settings.LEDGER_SIGNING_KEY_PATH.exists():
            call_command("init_ledger_key", stdout=StringIO(), stderr=StringIO())
        checkpoint = do_publish_checkpoint(actor=Actor.system("demo"))
        report = verify_ledger()
        self.stdout.write("")
        self.stdout.write(f"Ledger: {checkpoint.tree_size} entries; latest checkpoint (signed note):")
        for line in checkpoint.note.rstrip("\n").split("\n"):
            self.stdout.write(f"    {line}")
        self.stdout.write(f"Verifier key (auditors pin this): {ledger_verifier_key()}")
        verdict = "OK" if report.ok else f"FAILED: {report.problem} at {report.index}"
        self.stdout.write(f"verify_ledger: {verdict} ({report.entries} entries, {report.checkpoints} checkpoints)")
