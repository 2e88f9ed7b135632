"""Check (default) or rebuild the opt-out match index against the catalog and the opt-out registry."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from licensing.optout_matches import compare_matches, rebuild_matches


class Command(BaseCommand):
    help = ("Compare the opt-out match index (which works each opt-out names) with what the catalog and the "
            "opt-outs imply; exits non-zero on a difference. --rebuild replaces the index in one transaction.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--rebuild", action="store_true", help="replace the index by the implied matches")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["rebuild"]:
            with transaction.atomic():
                count = rebuild_matches()
            self.stdout.write(f"rebuilt: {count} matches")
            return
        missing, extra = compare_matches()
        if missing or extra:
            sample = {"missing": sorted(missing)[:5], "extra": sorted(extra)[:5]}
            raise CommandError(f"opt-out match index differs: {len(missing)} missing, {len(extra)} extra "
                               f"(work, opt-out) pairs, e.g. {sample}; run with --rebuild")
        self.stdout.write("opt-out match index: consistent")
