"""Train the reference composer on the works cleared for training now, and register it with its manifest."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from clearcue.exceptions import DomainError
from generation import registry
from licensing.ledger import Actor
from licensing.terms import Use


class Command(BaseCommand):
    help = ("Select the works cleared for ai_training (rights evaluation now, in one territory), write the "
            "training manifest, train the reference composer with a seed, and register the model.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--name", default=registry.DEFAULT_NAME)
        parser.add_argument("--model-version", dest="model_version", required=True)
        parser.add_argument("--territory", default="US", help="ISO 3166-1 alpha-2 code the works must be cleared in")
        parser.add_argument("--collection", action="append", default=[], help="only works of this collection slug")
        parser.add_argument("--also-cleared-for", dest="also_cleared_for", action="append", default=[],
                            choices=[u.value for u in Use if u.value != "ai_training"],
                            help="a use every training work must also be cleared for (repeatable), e.g. "
                                 "commercial_output for a model that serves commercial jobs")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--steps", type=int, help="optimizer steps (default: TrainConfig)")
        parser.add_argument("--d-model", type=int)
        parser.add_argument("--layers", type=int)
        parser.add_argument("--batch-size", type=int)
        parser.add_argument("--block-size", type=int)
        parser.add_argument("--lr", type=float, help="peak learning rate")
        parser.add_argument("--min-lr-fraction", dest="min_lr_fraction", type=float,
                            help="the cosine schedule ends at this fraction of the peak learning rate")
        parser.add_argument("--style-dropout", dest="style_dropout", type=float,
                            help="probability a training window is shown with STYLE_none instead of its style tags")
        parser.add_argument("--threads", type=int, help="torch threads (part of what makes training reproducible)")
        parser.add_argument("--processes", type=int, default=2, help="processes extracting uncached melodies")
        parser.add_argument("--limit", type=int, help="only the first N cleared works (tests, quick trials)")
        parser.add_argument("--export", type=Path, help="also write checkpoint, model.json, manifest.json here")

    def handle(self, *args: Any, **options: Any) -> None:
        overrides = {key: options[opt] for key, opt in (("steps", "steps"), ("d_model", "d_model"),
                                                        ("n_layer", "layers"), ("batch_size", "batch_size"),
                                                        ("block_size", "block_size"), ("lr", "lr"),
                                                        ("min_lr_fraction", "min_lr_fraction"),
                                                        ("style_dropout", "style_dropout"), ("threads", "threads"))
                     if options[opt] is not None}
        started = time.perf_counter()
        try:
            model, _ = registry.train_and_register(
                name=options["name"], version=options["model_version"], territory=options["territory"],
                collections=options["collection"], seed=options["seed"], train_overrides=overrides,
                actor=Actor.system("train_model"), limit=options["limit"],
                also_cleared_for=options["also_cleared_for"], processes=options["processes"],
                log=self.stdout.write)
        except DomainError as exc:
            raise CommandError(f"{exc.code}: {exc.message} {json.dumps(exc.details)[:500]}") from None
        card = model.model_card
        self.stdout.write(self.style.SUCCESS(
            f"registered {model.slug}: checkpoint {model.checkpoint_sha256[:16]}… ({model.checkpoint_size} bytes), "
            f"manifest {model.manifest.name} root {model.manifest.merkle_root} ({model.manifest.work_count} works), "
            f"validation loss {card['training']['metrics']['validation_loss']}, "
            f"{time.perf_counter() - started:.0f} s"))
        if options["export"]:
            for path in registry.export_model(model, options["export"]):
                self.stdout.write(f"wrote {path}")
