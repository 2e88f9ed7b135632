"""Training, shipping and registering models: the Django side of the model registry.

`train_and_register` selects the works cleared for training, reads their assets, extracts melodies,
trains the reference composer and records manifest + model in one transaction. `export_model` writes what
Clearcue ships (checkpoint, model card, manifest); `register_shipped` registers a shipped checkpoint on
another installation only if its manifest is reproduced exactly by that installation's catalog.
`engine_for` loads a registered model's engine, checking the checkpoint's SHA-256 first.
"""

from __future__ import annotations

import hashlib
import json
import platform
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction

from clearcue.exceptions import DomainError
from generation import actions
from generation.manifest import LEAF_FORMAT, ManifestRecord, root_of, sort_records
from generation.models import GenerationModel, TrainingManifest
from generation.training import Selection, select_cleared_works
from licensing.ledger import Actor, format_time
from licensing.models import Work

SHIPPED_DIR = Path(__file__).resolve().parent / "engines" / "reference" / "shipped"
DEFAULT_NAME = "clearcue-cue"


@dataclass
class Prepared:
    """Training examples of a selection, and what could not be used."""

    selection: Selection
    examples: list[Any]
    skipped: dict[str, int]
    melodies_by_work: dict[str, int]


def cache_dir() -> Path:
    """Where extracted melodies are cached (keyed by asset SHA-256 and extractor version)."""
    path = Path(settings.DATA_DIR) / "cache" / "melodies"
    path.mkdir(parents=True, exist_ok=True)
    return path


def read_checked_assets(items: Iterable[tuple[str, Work, str]]) -> list[tuple[str, bytes]]:
    """(work key, asset bytes) for (work key, work, expected SHA-256); `asset_changed` if a stored asset differs."""
    out = []
    for key, work, sha256 in items:
        with work.asset.open("rb") as handle:
            data = handle.read()
        if hashlib.sha256(data).hexdigest() != sha256:
            raise DomainError("asset_changed", "A stored asset no longer matches its SHA-256.", details={"work": key})
        out.append((key, data))
    return out


def prepare_examples(selection: Selection, *, processes: int = 2, log: Callable[[str], None] = print) -> Prepared:
    """Read each selected work's asset, extract its melodies; works with none leave the selection."""
    from generation.engines.reference import corpus
    from generation.engines.reference.train import Example

    items = read_checked_assets((r.work, selection.works[r.work], r.sha256) for r in selection.records)
    log(f"extracting melodies from {len(items)} works ({processes} processes)")
    extracted = corpus.extract_many(items, cache_dir(), processes=processes)
    examples, used, skipped = [], {}, Counter[str]()
    for record in selection.records:
        result = extracted[record.work]
        if isinstance(result, Exception):
            skipped[getattr(result, "code", "corpus_error")] += 1
            continue
        melodies = [m for m in result if m.meter in (2, 3, 4)]
        if not melodies:
            skipped["no_melody"] += 1
            continue
        styles = tuple(selection.works[record.work].style_tags)
        for melody in melodies:
            examples.append(Example(f"{record.work}#{melody.index}", tuple(melody.notes), melody.mode,
                                    melody.meter, styles))
        used[record.work] = len(melodies)
    return Prepared(selection.subset(list(used)), examples, dict(sorted(skipped.items())), used)


def model_card(*, name: str, version: str, prepared: Prepared, metrics: dict[str, Any], train_config: dict[str, Any],
               style_tags: list[str], manifest_root: str) -> dict[str, Any]:
    """What the model is, what it learned from, how, and how well (JSON; shown in the API and the summary)."""
    selection = prepared.selection
    bases = Counter(r.basis for r in selection.records)
    licenses = Counter(r.license for r in selection.records)
    return {
        "name": name, "version": version,
        "engine": "clearcue-reference-composer",
        "description": ("Film-cue melody transformer (decoder-only, event tokens) with a rule-based planner, "
                        "harmonizer, arranger and synthesizer; conditions on mode, meter, style tags, the melody's "
                        "length and per-bar density, and is told which bar is the last."),
        "intended_use": "Original film and media cues from scene descriptions, behind Clearcue's gate.",
        "training_data": {
            "manifest_root": manifest_root, "leaf_format": LEAF_FORMAT, "works": len(selection.records),
            "melodies": len(prepared.examples), "territory": selection.territory,
            "evaluated_at": format_time(selection.evaluated_at), "ledger_size": selection.ledger_size,
            "criteria": selection.criteria, "works_considered": selection.considered,
            "denied_by_reason": selection.denied, "skipped_unreadable": prepared.skipped,
            "by_basis": dict(sorted(bases.items())), "licenses": len(licenses),
        },
        "training": {"config": train_config, "metrics": metrics, "torch": _torch_version(),
                     "python": platform.python_version()},
        "style_tags": style_tags,
        "limitations": ["Melodies only are learned; harmony, orchestration and dynamics are rule-based.",
                        "Training works are mostly folk and early music: other idioms are out of distribution."],
    }


def _torch_version() -> str:
    import torch

    return str(torch.__version__)


def train_and_register(*, name: str, version: str, territory: str, collections: list[str], seed: int,
                       train_overrides: dict[str, Any], actor: Actor, limit: int | None = None,
                       also_cleared_for: Sequence[str] = (), processes: int = 2,
                       log: Callable[[str], None] = print) -> tuple[GenerationModel, bytes]:
    """Select, extract, train, then record manifest + model together (nothing is recorded if training fails).

    `also_cleared_for`: uses every training work must be cleared for besides ai_training (`commercial_output`
    for a model that serves commercial jobs)."""
    from generation.engines.reference.train import TrainConfig, train

    if GenerationModel.objects.filter(name=name, version=version).exists():
        raise DomainError("model_exists", f"Model {name}@{version} is already registered.", status=409)
    selection = select_cleared_works(territory=territory, collections=collections, limit=limit,
                                     also_cleared_for=also_cleared_for)
    uses = " and ".join(["ai_training", *sorted(set(also_cleared_for) - {"ai_training"})])
    log(f"{len(selection.records)} of {selection.considered} works cleared for {uses} in "
        f"{selection.territory} at ledger size {selection.ledger_size}")
    prepared = prepare_examples(selection, processes=processes, log=log)
    if not prepared.examples:
        raise DomainError("manifest_empty", "No cleared work yielded a usable melody.",
                          details={"skipped": prepared.skipped})
    log(f"{len(prepared.examples)} melodies from {len(prepared.selection.records)} works; skipped {prepared.skipped}")
    config = TrainConfig(seed=seed, **train_overrides)
    result = train(prepared.examples, config, log=log)
    root = root_of(prepared.selection.records).hex()
    card = model_card(name=name, version=version, prepared=prepared, metrics=result.metrics,
                      train_config=asdict(config), style_tags=list(result.vocab.styles), manifest_root=root)
    with transaction.atomic():
        manifest = actions.do_create_training_manifest(prepared.selection, name=f"{name}@{version}", actor=actor)
        model = actions.do_register_model(
            name=name, version=version, engine="clearcue-reference-composer", config=asdict(config),
            checkpoint=result.checkpoint, manifest=manifest, style_tags=result.vocab.styles, model_card=card,
            actor=actor)
    return model, result.checkpoint


def manifest_json(manifest: TrainingManifest) -> dict[str, Any]:
    """A manifest as shipped: records in order, root, and how they were chosen."""
    records = [ManifestRecord(e.work_key, e.asset_sha256, e.license_key, e.basis).to_json()
               for e in manifest.entries.order_by("position")]
    return {"name": manifest.name, "leaf_format": manifest.leaf_format, "merkle_root": manifest.merkle_root,
            "territory": manifest.territory, "criteria": manifest.selection, "work_count": manifest.work_count,
            "records": records}


def export_model(model: GenerationModel, directory: Path) -> list[Path]:
    """Write checkpoint, model.json (card, config, pins) and manifest.json into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    with default_storage.open(model.checkpoint.name, "rb") as handle:
        checkpoint = handle.read()
    meta = {"name": model.name, "version": model.version, "engine": model.engine, "config": model.config,
            "checkpoint": "checkpoint.pt", "checkpoint_sha256": model.checkpoint_sha256,
            "style_tags": model.style_tags, "model_card": model.model_card}
    paths = [directory / "checkpoint.pt", directory / "model.json", directory / "manifest.json"]
    paths[0].write_bytes(checkpoint)
    paths[1].write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    paths[2].write_text(json.dumps(manifest_json(model.manifest), indent=1, sort_keys=True) + "\n")
    return paths


def register_shipped(directory: Path = SHIPPED_DIR, *, actor: Actor) -> GenerationModel:
    """Register a shipped model if this catalog reproduces its manifest (same works, assets, licenses, root)."""
    try:
        meta = json.loads((directory / "model.json").read_text())
        shipped = json.loads((directory / "manifest.json").read_text())
        checkpoint = (directory / meta["checkpoint"]).read_bytes()
    except (OSError, ValueError, KeyError) as exc:
        raise DomainError("shipped_model_unreadable", f"Cannot read the shipped model in {directory}: {exc}") from None
    existing = GenerationModel.objects.filter(name=meta["name"], version=meta["version"]).first()
    if existing is not None and existing.checkpoint_sha256 == meta["checkpoint_sha256"]:
        return existing
    if hashlib.sha256(checkpoint).hexdigest() != meta["checkpoint_sha256"]:
        raise DomainError("checkpoint_sha256_mismatch", "The shipped checkpoint does not match its pinned SHA-256.")
    records = sort_records(ManifestRecord.from_json(r) for r in shipped["records"])
    if root_of(records).hex() != shipped["merkle_root"]:
        raise DomainError("manifest_root_mismatch", "The shipped manifest's records do not hash to its root.")
    criteria = shipped.get("criteria", {})
    selection = select_cleared_works(territory=shipped["territory"], collections=criteria.get("collections", ()),
                                     also_cleared_for=criteria.get("also_cleared_for", ()))
    current = set(selection.records)
    missing = [r for r in records if r not in current]
    if missing:
        raise DomainError("manifest_not_reproduced",
                          "This catalog does not clear every work of the shipped model's training set exactly "
                          "(missing, changed asset, or a different clearing license).",
                          details={"count": len(missing), "works": [r.work for r in missing[:20]]})
    narrowed = selection.subset([r.work for r in records])
    if root_of(narrowed.records).hex() != shipped["merkle_root"]:
        raise DomainError("manifest_root_mismatch", "The reproduced manifest has a different root.")
    with transaction.atomic():
        manifest = actions.do_create_training_manifest(narrowed, name=shipped["name"], actor=actor)
        return actions.do_register_model(
            name=meta["name"], version=meta["version"], engine=meta["engine"], config=meta["config"],
            checkpoint=checkpoint, manifest=manifest, style_tags=meta["style_tags"], model_card=meta["model_card"],
            actor=actor)


@lru_cache(maxsize=4)
def _engine(engine: str, storage_name: str, sha256: str) -> Any:
    from generation.engines.base import load_engine

    with default_storage.open(storage_name, "rb") as handle:
        data = handle.read()
    return load_engine(engine, data, sha256)


def engine_for(model: GenerationModel) -> Any:
    """The model's engine, loaded once per process; the checkpoint must match the registered SHA-256."""
    return _engine(model.engine, model.checkpoint.name, model.checkpoint_sha256)
