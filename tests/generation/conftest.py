"""Generation fixtures: the ledger signing key fixture is shared with the licensing tests; one data directory per
session, so melodies extracted from the reference corpus are cached across tests."""

import pytest

from tests.licensing.conftest import ledger_key

__all__ = ["ledger_key"]


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory):
    """One data directory for the session: extracted melodies are cached there across tests."""
    return tmp_path_factory.mktemp("generation-data")
