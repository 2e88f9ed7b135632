"""The EU AI Act public summary of training content for a registered model (Commission template, 2025).

Built only from recorded facts: the model and its card, the training manifest (works, clearing licenses,
snapshot time and ledger size) and the opt-out registry as it stood at the snapshot. Sections follow the
template: 1 general information, 2 list of data sources, 3 relevant data-processing aspects (respect of
text-and-data-mining reservations, removal of illegal content).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from django.db.models import Count, Max, Min

from clearcue.tenancy import operator_organization
from generation.models import GenerationModel
from licensing.ledger import format_time
from licensing.models import OptOut, OptOutWithdrawal
from licensing.terms import reserved_of

TEMPLATE = "European Commission, Template for the public summary of training content for GPAI models (July 2025)"


def _size_band(n: int) -> str:
    for limit, label in ((10**3, "fewer than 1,000"), (10**6, "1,000 to 1 million"), (10**9, "1 million to 1 billion")):
        if n < limit:
            return label
    return "more than 1 billion"


def training_content_summary(model: GenerationModel) -> dict[str, Any]:
    """The summary as JSON-ready data (served as JSON and rendered as a page)."""
    manifest = model.manifest
    card = model.model_card
    data = card.get("training_data", {})
    metrics = card.get("training", {}).get("metrics", {})
    entries = manifest.entries.all()
    by_collection = list(entries.values("work__collection__slug", "work__collection__name")
                         .annotate(works=Count("id"), licenses=Count("license", distinct=True))
                         .order_by("work__collection__slug"))
    by_licensor = list(entries.values("license__licensor__name", "basis")
                       .annotate(works=Count("id")).order_by("-works", "license__licensor__name"))
    dates = entries.aggregate(first=Min("work__created_at"), last=Max("work__created_at"))
    optouts = OptOut.objects.filter(ledger_index__lt=manifest.ledger_size)
    withdrawn = set(OptOutWithdrawal.objects.filter(ledger_index__lt=manifest.ledger_size)
                    .values_list("optout_id", flat=True))
    in_force = [o for o in optouts.only("id", "source", "reserved_mask", "subject_kind") if o.pk not in withdrawn]
    by_source = Counter(o.source for o in in_force)
    by_use = Counter(u for o in in_force for u in reserved_of(o.reserved_mask))
    denied = data.get("denied_by_reason", {})
    provider = operator_organization().name
    return {
        "template": TEMPLATE,
        "generated_from": {"model": model.slug, "model_ledger_index": model.ledger_index,
                           "manifest": manifest.name, "manifest_root": manifest.merkle_root,
                           "manifest_ledger_index": manifest.ledger_index,
                           "ledger_size_at_selection": manifest.ledger_size},
        "1_general_information": {
            "provider": provider,
            "model_name": model.name, "model_version": model.version,
            "dependencies": {"engine": model.engine, "checkpoint_sha256": model.checkpoint_sha256,
                             "derived_from_other_models": "none: trained from scratch by the provider"},
            "date_placed_on_market": format_time(model.created_at),
            "modalities": {"input": ["text (scene description)", "structured parameters"],
                           "output": ["audio (48 kHz WAV/FLAC)", "symbolic music (MIDI, MusicXML)"]},
            "training_data_size": {
                "symbolic_music_works": manifest.work_count, "works_band": _size_band(manifest.work_count),
                "melodies": data.get("melodies"), "training_tokens": metrics.get("training_tokens"),
                "tokens_band": _size_band(int(metrics.get("training_tokens") or 0)),
            },
            "types_of_content": ["symbolic music notation (Humdrum, ABC, MusicXML, MIDI)"],
            "latest_data_collection_date": format_time(manifest.evaluated_at),
            "catalog_ingestion_period": {k: format_time(v) if v else None for k, v in dates.items()},
        },
        "2_list_of_data_sources": {
            "2_1_publicly_available_datasets": [],
            "2_2_private_non_publicly_available_datasets_obtained_from_third_parties": {
                "description": ("Works ingested into the provider's catalog with their rights holders and license "
                                "terms; each work is cleared for AI training by a license, an open license or a "
                                "public-domain basis recorded in the provider's ledger."),
                "collections": [{"collection": c["work__collection__slug"], "name": c["work__collection__name"],
                                 "works": c["works"], "licenses": c["licenses"]} for c in by_collection],
                "licensors": [{"licensor": r["license__licensor__name"], "basis": r["basis"], "works": r["works"]}
                              for r in by_licensor[:50]],
                "licensors_total": len(by_licensor),
                "works_by_basis": data.get("by_basis", {}),
            },
            "2_3_data_crawled_and_scraped_from_online_sources": {"used": False, "crawlers": []},
            "2_4_user_data": {"used": False},
            "2_5_synthetic_data": {"used": False},
            "2_6_other_sources": {"used": False},
        },
        "3_data_processing_aspects": {
            "3_1_respect_of_reservation_of_rights_from_text_and_data_mining_exception": {
                "measures": [
                    "Only works with a license, open license or public-domain basis granting ai_training in the "
                    f"territory {manifest.territory} at {format_time(manifest.evaluated_at)} were selected.",
                    "Reservations are read from direct requests, W3C TDMRep, IETF aipref Content-Usage (HTTP "
                    "headers and robots.txt), CAWG/C2PA training-mining assertions in the assets, and Liccium "
                    "TDM-AI declarations; any disallow wins and 'constrained' counts as 'notAllowed' unless the "
                    "constraint names a license the provider holds.",
                    "Rights evaluation and the opt-out registry are recorded in an append-only Merkle ledger; the "
                    "training manifest's Merkle root lets anyone check whether a work was in the training set.",
                ],
                "opt_outs_in_force_at_selection": sum(by_source.values()),
                "opt_outs_by_source": dict(sorted(by_source.items())),
                "opt_outs_by_reserved_use": dict(sorted(by_use.items())),
                "works_excluded_by_reason": denied,
                "works_considered": data.get("works_considered"),
            },
            "3_2_removal_of_illegal_content": {
                "measures": ["Training content comes only from the provider's rights-cleared catalog; no crawled "
                             "or user-submitted content is used."],
            },
            "3_3_other_information": {"works_unreadable_by_the_engine": data.get("skipped_unreadable", {})},
        },
    }
