"""`manage.py verify_ledger`: recompute the whole log and check every checkpoint; exit 1 on divergence."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from licensing.ledger import b64, verify_ledger


class Command(BaseCommand):
    """Full verification: leaf hashes, subtree hashes, root, checkpoint signatures and consistency."""

    help = "Verify the ledger end to end and report the first divergence precisely."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--vkey", action="append", help="verifier key string(s); default: the ledger's own")

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.perf_counter()
        report = verify_ledger(verifier_keys=options["vkey"])
        seconds = time.perf_counter() - started
        if not report.ok:
            raise CommandError(
                f"ledger verification FAILED: {report.problem} at index {report.index}: "
                f"expected {report.expected}, found {report.found}"
            )
        rate = report.entries / seconds if seconds else 0.0
        self.stdout.write(
            f"ledger OK: {report.entries} entries, {report.nodes} subtree hashes, {report.checkpoints} checkpoints "
            f"verified in {seconds:.2f} s ({rate:,.0f} entries/s); root {b64(report.root)}"
        )
