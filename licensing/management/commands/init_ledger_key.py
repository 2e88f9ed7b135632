"""`manage.py init_ledger_key`: create the Ed25519 key pair that signs ledger checkpoints."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from licensing import note


class Command(BaseCommand):
    """Write the signer key (mode 0600) and print the verifier key that auditors pin."""

    help = "Create the ledger checkpoint signing key (Ed25519, signed-note format) and print its verifier key."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--path", default=str(settings.LEDGER_SIGNING_KEY_PATH), help="where to write it")
        parser.add_argument("--name", default=settings.LEDGER_ORIGIN, help="key name (defaults to the origin)")
        parser.add_argument("--if-missing", action="store_true", help="do nothing if the key file exists")

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["path"])
        if path.exists():
            if options["if_missing"]:
                self.stdout.write(note.NoteSigner.from_key_string(path.read_text().strip()).verifier().key_string)
                return
            raise CommandError(f"{path} exists; refusing to overwrite a signing key (move it away first)")
        signer_key, verifier_key = note.generate_key(options["name"])
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(signer_key + "\n")
        self.stderr.write(f"wrote signing key to {path}; auditors pin this verifier key:")
        self.stdout.write(verifier_key)
