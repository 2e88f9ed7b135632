"""`manage.py init_watermark_key`: create (or rotate) the secret key of the keyed audio watermark."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from provenance.backends import new_watermark_key, parse_watermark_keys


class Command(BaseCommand):
    """Append a random 256-bit key to the key file (0600); the newest key embeds, every key still detects."""

    help = "Create the keyed watermark's secret, or with --rotate add a new embedding key (old keys keep detecting)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--path", default=str(settings.WATERMARK_KEYS_PATH), help="the key file")
        parser.add_argument("--rotate", action="store_true", help="add a new key that embeds from now on")
        parser.add_argument("--if-missing", action="store_true", help="do nothing if a key exists")

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["path"])
        existing = parse_watermark_keys(path.read_text(encoding="utf-8")) if path.exists() else {}
        if existing and not options["rotate"]:
            if options["if_missing"]:
                self.stdout.write(list(existing)[-1])
                return
            raise CommandError(f"{path} already holds {len(existing)} key(s); use --rotate to add one")
        key_id = new_watermark_key(path)
        self.stderr.write(f"wrote watermark key {key_id} to {path} ({len(existing) + 1} key(s); {key_id} embeds)")
        self.stdout.write(key_id)
