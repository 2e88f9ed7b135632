"""A small studio for job tests: a catalog, a model trained on it, clients with contracts, and job requests.

The catalog is three collections of the reference corpus (public domain, cleared for every use) plus the
`nordlys` test catalog (metadata only): Mara Lindqvist is licensed for style reference, Per Holm is not
licensed at all. The model is trained in seconds (tiny config) on the cleared reference works.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

from django.core.management import call_command

from clearcue.models import Organization
from generation import actions, registry
from generation.models import GenerationModel, ManifestEntry
from licensing.actions import do_register_optouts
from licensing.ledger import Actor
from licensing.models import Party, WorkCreator
from licensing.terms import Reservation, ReservedUse, Source, Subject, SubjectKind
from tests.licensing.catalog_helpers import load_catalog, small_catalog

COLLECTIONS = "josquin,leadSheet,lusitano"
TRAIN = ["--steps", "30", "--d-model", "32", "--layers", "1", "--batch-size", "4", "--block-size", "64"]
SCENE = "A quiet dawn over the harbour, hopeful and tender, building to a reveal at 0:08."
STAFF = Actor.system("tests")


@dataclass
class Studio:
    """What the job tests work with."""

    model: GenerationModel
    client_a: Organization  # US + GB, commercial, standard indemnification
    client_b: Organization  # US only, non-commercial


def build(operator: Organization, client_a: Organization, client_b: Organization) -> Studio:
    """Ingest, train, and grant the two clients their contracts."""
    call_command("ingest_reference_catalog", only=COLLECTIONS, as_of_year=2026, stdout=io.StringIO())
    load_catalog(small_catalog(), operator=operator)
    call_command("train_model", "--model-version", "jobs", "--seed", "3", *TRAIN, stdout=io.StringIO())
    model = GenerationModel.objects.select_related("manifest").get(name=registry.DEFAULT_NAME, version="jobs")
    actions.do_grant_entitlement(organization=client_a, reference="MSA-A-2026", territories=["US", "GB"],
                                 commercial_use=True, indemnification_tier="standard", monthly_quota=100,
                                 actor=STAFF)
    actions.do_grant_entitlement(organization=client_b, reference="MSA-B-2026", territories=["US"],
                                 commercial_use=False, indemnification_tier="none", monthly_quota=100,
                                 actor=STAFF)
    return Studio(model, client_a, client_b)


def request(model: GenerationModel, **overrides: Any) -> dict[str, Any]:
    """A job request body (a 12-second cue keeps rendering fast)."""
    body: dict[str, Any] = {"description": SCENE, "model": model.slug, "territory": "US", "use": "commercial",
                            "params": {"duration": 12}, "formats": ["wav", "midi", "musicxml"]}
    body.update(overrides)
    return body


def opt_out_training_work(model: GenerationModel) -> ManifestEntry:
    """A rights holder reserves one of the model's training works against AI training (after training)."""
    entry = ManifestEntry.objects.filter(manifest=model.manifest).order_by("position").first()
    assert entry is not None
    do_register_optouts([Reservation(Subject(SubjectKind.WORK, str(entry.work_id)),
                                     frozenset({ReservedUse.AI_TRAINING}), Source.DIRECT,
                                     {"request": "please remove my work from training"})], actor=STAFF)
    return entry


def style_tag_with_creator(model: GenerationModel) -> tuple[str, Party]:
    """A composer tag the model conditions on, and the party credited with that tag's works."""
    from licensing.models import WorkTag

    for tag in sorted(t for t in model.style_tags if t.startswith("composer:")):
        work_ids = WorkTag.objects.filter(tag=tag).values_list("work_id", flat=True)
        credit = WorkCreator.objects.filter(work_id__in=work_ids).select_related("party").first()
        if credit is not None:
            return tag, credit.party
    raise AssertionError(f"no composer tag with a credited party among {model.style_tags}")


def opt_out_style_use(party: Party) -> None:
    """The party reserves its works against style/inference use (training stays allowed)."""
    do_register_optouts([Reservation(Subject(SubjectKind.PARTY, str(party.pk)), frozenset({ReservedUse.AI_INFERENCE}),
                                     Source.DIRECT, {"request": "no style imitation"})], actor=STAFF)
