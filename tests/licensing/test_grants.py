"""deploy/grants.sql: the application role can append to the ledger but never rewrite it."""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import psycopg
import pytest
from django.db import connection

from licensing.models import LedgerEntry
from tests.licensing.conftest import append

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

GRANTS = Path(__file__).resolve().parents[2] / "deploy" / "grants.sql"


def _dsn(**overrides: str) -> str:
    s = connection.settings_dict
    parts = {"host": s["HOST"] or "127.0.0.1", "port": str(s["PORT"] or 5432), "dbname": s["NAME"],
             "user": s["USER"] or "postgres", **overrides}
    return " ".join(f"{k}={v}" for k, v in parts.items())


def test_the_application_role_may_append_and_read_but_not_update_delete_or_truncate():
    append(3)
    role = f"clearcue_app_{uuid.uuid4().hex[:8]}"
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE ROLE {role} LOGIN")
    try:
        result = subprocess.run(
            ["psql", _dsn(), "-v", f"app_role={role}", "-f", str(GRANTS)],
            capture_output=True, text=True, timeout=60, env={**os.environ, "PGPASSWORD": ""},
        )
        assert result.returncode == 0, result.stderr
        with psycopg.connect(_dsn(user=role), autocommit=True) as app:
            assert app.execute("SELECT count(*) FROM licensing_ledgerentry").fetchone() == (3,)
            for statement in (
                "UPDATE licensing_ledgerentry SET request_id = 'x'",
                "DELETE FROM licensing_ledgerentry",
                "TRUNCATE licensing_ledgerentry",
                "DELETE FROM licensing_checkpoint",
                "UPDATE licensing_ledgernode SET hash = hash",
            ):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    app.execute(statement)
            app.execute("UPDATE licensing_ledgerhead SET size = size")  # the head stays writable
            app.execute("SELECT count(*) FROM clearcue_organization")
        assert LedgerEntry.objects.count() == 3
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP OWNED BY {role}")
            cursor.execute(f"DROP ROLE {role}")
