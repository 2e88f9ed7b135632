"""Deployment fixtures: the ledger signing key fixture is shared with the licensing tests."""

from tests.licensing.conftest import ledger_key

__all__ = ["ledger_key"]
