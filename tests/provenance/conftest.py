"""Provenance fixtures: the ledger signing key and the generation tests' session data directory."""

from tests.generation.conftest import data_dir
from tests.licensing.conftest import ledger_key

__all__ = ["data_dir", "ledger_key"]
