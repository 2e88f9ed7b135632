"""`manage.py init_pki`: create the development C2PA PKI (root CA + signing leaf), or rotate the signing leaf."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from provenance import pki


def default_directory() -> Path:
    """Where the PKI lives unless --dir says otherwise."""
    return Path(getattr(settings, "CLEARCUE_PKI_DIR", Path(settings.DATA_DIR) / "pki"))


class Command(BaseCommand):
    """Write root.pem/root.key and chain.pem/signer.key (keys 0600); print the paths and the root's fingerprint."""

    help = ("Create a development C2PA signing PKI (self-signed root CA + leaf), or with --rotate-leaf issue a new "
            "signing leaf from the existing root. Verifiers must add root.pem to their trust anchors.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dir", default=None, help="PKI directory (default: settings.CLEARCUE_PKI_DIR)")
        parser.add_argument("--alg", choices=pki.DEV_PKI_ALGS, default="es256", help="key algorithm (default es256)")
        parser.add_argument("--organization", default=None,
                            help="O= of the certificates (default Clearcue; on rotation, the root's)")
        parser.add_argument("--root-days", type=int, default=3650, help="root validity in days")
        parser.add_argument("--leaf-days", type=int, default=365, help="leaf validity in days")
        parser.add_argument("--rotate-leaf", action="store_true",
                            help="keep the root; issue a new leaf and key (old ones kept as timestamped backups)")
        parser.add_argument("--force", action="store_true", help="overwrite an existing PKI, root included")

    def handle(self, *args: Any, **options: Any) -> None:
        directory = Path(options["dir"]) if options["dir"] else default_directory()
        try:
            if options["rotate_leaf"]:
                files = pki.issue_leaf(directory, organization=options["organization"], leaf_days=options["leaf_days"])
            else:
                files = pki.create_dev_pki(directory, organization=options["organization"] or "Clearcue",
                                           alg=options["alg"], root_days=options["root_days"],
                                           leaf_days=options["leaf_days"], overwrite=options["force"])
        except pki.PkiError as error:
            raise CommandError(f"{error.code}: {error.message}") from error
        for path in files.written:
            self.stdout.write(f"wrote {path}")
        for path in files.backups:
            self.stdout.write(f"kept {path}")
        self.stdout.write(f"signing leaf valid until {files.leaf_not_after.isoformat()} ({files.alg})")
        self.stdout.write(f"root SHA-256 fingerprint: {files.root_fingerprint_sha256}")
