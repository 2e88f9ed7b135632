"""Register a shipped model (checkpoint + model card + manifest) if this catalog reproduces its manifest."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from clearcue.exceptions import DomainError
from generation import registry
from licensing.ledger import Actor


class Command(BaseCommand):
    help = ("Register the model shipped in DIRECTORY (default: the reference composer) after checking its "
            "checkpoint SHA-256 and that the catalog clears exactly the works of its training manifest.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("directory", nargs="?", type=Path, default=registry.SHIPPED_DIR)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            model = registry.register_shipped(options["directory"], actor=Actor.system("register_model"))
        except DomainError as exc:
            raise CommandError(f"{exc.code}: {exc.message} {json.dumps(exc.details)[:800]}") from None
        self.stdout.write(self.style.SUCCESS(
            f"{model.slug}: checkpoint {model.checkpoint_sha256}, manifest root {model.manifest.merkle_root} "
            f"({model.manifest.work_count} works), ledger entry {model.ledger_index}"))
