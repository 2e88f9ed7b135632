"""`manage.py verify FILE`: the verification report of a file, as the API gives it to operator auditors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from clearcue.exceptions import DomainError
from clearcue.tenancy import Principal


class Command(BaseCommand):
    """Print the report (JSON with --json, else a readable summary); exit 1 unless the file verifies."""

    help = "Verify an audio file: C2PA state, watermark, the job it resolves to, ledger proofs, rights, coverage."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="the file to verify (WAV, FLAC, MP3, M4A, ...)")
        parser.add_argument("--json", action="store_true", help="print the full JSON report")

    def handle(self, *args: Any, **options: Any) -> None:
        from provenance.verify import verify_upload

        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"{path}: no such file")
        if path.stat().st_size > settings.VERIFY_MAX_BYTES:
            raise CommandError(f"{path}: larger than CLEARCUE_VERIFY_MAX_BYTES ({settings.VERIFY_MAX_BYTES})")
        try:  # the operator's own console: the full answer, as for an operator auditor
            report = verify_upload(path.read_bytes(), principal=Principal(user_id=None, is_staff=True))
        except DomainError as error:
            raise CommandError(f"{error.code}: {error.message}") from error
        if options["json"]:
            self.stdout.write(json.dumps(report, indent=2, sort_keys=True, default=str))
        else:
            for line in summary_lines(report):
                self.stdout.write(line)
        if not verified(report):
            raise SystemExit(1)


def verified(report: dict[str, Any]) -> bool:
    """A file verifies when it resolves to a Clearcue output and nothing contradicts it (no invalid manifest,
    no conflict between manifest and watermark)."""
    return bool(report.get("clearcue_output")) and report["c2pa"]["state"] not in ("Invalid",) \
        and not report.get("conflict")


def summary_lines(report: dict[str, Any]) -> list[str]:
    """A readable summary of a verification report."""
    c2pa, mark = report["c2pa"], report["watermark"]
    lines = [f"file: {report['media_type']}, {report['size']} bytes, {report['seconds']} s, sha256 {report['sha256']}",
             f"C2PA: {c2pa['state']}" + (f" ({', '.join(c2pa['codes'])})" if c2pa["codes"] else "")
             + (f", manifest {c2pa['manifest_id']}" if c2pa.get("manifest_id") else ""),
             f"watermark: {'detected' if mark['detected'] else 'not detected'} ({mark['alg']}, confidence "
             f"{mark['confidence']})"
             + (f", payload {mark['payload']:#010x}" if mark.get("payload") is not None else "")
             + (f", seconds {mark['seconds']}" if mark["seconds"] else "")]
    if not report["clearcue_output"]:
        lines.append("resolves to: nothing (not a Clearcue output, or not one we can identify)")
        return lines
    job = report.get("job") or {}
    lines.append(f"resolves to: job {job.get('id')} of {job.get('organization')} by {', '.join(report['resolved_by'])}"
                 + (f"; output {report['output']['kind']} {report['output']['sha256'][:16]}…" if report.get("output")
                    else "") + (" — CONFLICT between manifest and watermark" if report.get("conflict") else ""))
    ledger = report.get("ledger") or {}
    if ledger.get("checkpoint"):
        lines.append(f"ledger: {len(ledger['entries'])} entries proven against checkpoint "
                     f"{ledger['checkpoint']['tree_size']} ({'verified' if ledger['verified'] else 'NOT verified'})"
                     + (f", {len(ledger['pending'])} pending the next checkpoint" if ledger["pending"] else ""))
    rights = report.get("rights") or {}
    then, now = rights.get("at_generation") or {}, rights.get("now") or {}
    lines.append(f"rights: at generation {'allowed' if then.get('allowed') else 'denied'}, now "
                 f"{'allowed' if now.get('allowed') else 'denied'}"
                 + (f" (changed: {', '.join(rights['changed_since'])})" if rights.get("changed_since") else ""))
    cover = report.get("indemnification") or {}
    lines.append(f"indemnification: {'COVERED' if cover.get('covered') else 'not covered'} ({cover.get('tier')}): "
                 + "; ".join(r["code"] for r in cover.get("reasons", [])))
    return lines
