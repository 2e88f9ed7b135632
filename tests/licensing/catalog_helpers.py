"""Helpers to load catalog files into the database in tests (through the real parser and action)."""

from __future__ import annotations

from pathlib import Path

from clearcue.models import Organization
from licensing import catalog_format
from licensing.actions import ApplyResult, do_apply_catalog_rows
from licensing.ledger import Actor
from licensing.prepared import PreparedRow

ASSETS = Path(__file__).resolve().parent.parent / "assets"


def load_catalog(data: bytes, *, operator: Organization, collection: str = "nordlys",
                 file_format: str = "csv") -> ApplyResult:
    """Parse and apply a whole catalog file; rows with errors are returned in `rejected`."""
    prepared, errors = [], []
    for parsed in catalog_format.parse(data, file_format):
        if isinstance(parsed, list):
            errors.extend(parsed)
        else:
            prepared.append(PreparedRow(parsed))
    result = do_apply_catalog_rows(prepared, collection_slug=collection, collection_name=collection.title(),
                                   operator=operator, actor=Actor.system("tests"))
    result.rejected.extend(errors)
    return result


def small_catalog() -> bytes:
    return (ASSETS / "catalog" / "small.csv").read_bytes()
