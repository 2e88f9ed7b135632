"""On SQLite, the append-only triggers that pgtrigger installs on PostgreSQL (used by migrations)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def create_triggers(schema_editor: Any, tables: Sequence[str]) -> None:
    """Refuse UPDATE and DELETE on each table (SQLite only; PostgreSQL has pgtrigger's triggers)."""
    if schema_editor.connection.vendor != "sqlite":
        return
    for table in tables:
        for op in ("UPDATE", "DELETE"):
            schema_editor.execute(
                f"CREATE TRIGGER IF NOT EXISTS {table}_append_only_no_{op.lower()} BEFORE {op} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, 'append-only table {table}: {op} refused'); END;"
            )


def drop_triggers(schema_editor: Any, tables: Sequence[str]) -> None:
    """Undo create_triggers."""
    if schema_editor.connection.vendor != "sqlite":
        return
    for table in tables:
        for op in ("update", "delete"):
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only_no_{op}")
