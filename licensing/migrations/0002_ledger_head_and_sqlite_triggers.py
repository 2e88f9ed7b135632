"""Create the ledger head row, and on SQLite the append-only triggers pgtrigger installs on PostgreSQL."""

from hashlib import sha256

from django.db import migrations

APPEND_ONLY_TABLES = ["licensing_ledgerentry", "licensing_ledgernode", "licensing_checkpoint"]


def create_head(apps, schema_editor):
    LedgerHead = apps.get_model("licensing", "LedgerHead")
    LedgerHead.objects.using(schema_editor.connection.alias).get_or_create(
        id=1, defaults={"size": 0, "root_hash": sha256(b"").digest()}
    )


def sqlite_triggers(apps, schema_editor):
    if schema_editor.connection.vendor != "sqlite":
        return
    for table in APPEND_ONLY_TABLES:
        for op in ("UPDATE", "DELETE"):
            schema_editor.execute(
                f"CREATE TRIGGER IF NOT EXISTS {table}_append_only_no_{op.lower()} BEFORE {op} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, 'append-only table {table}: {op} refused'); END;"
            )


def drop_sqlite_triggers(apps, schema_editor):
    if schema_editor.connection.vendor != "sqlite":
        return
    for table in APPEND_ONLY_TABLES:
        for op in ("update", "delete"):
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only_no_{op}")


class Migration(migrations.Migration):
    dependencies = [("licensing", "0001_initial")]

    operations = [
        migrations.RunPython(create_head, migrations.RunPython.noop),
        migrations.RunPython(sqlite_triggers, drop_sqlite_triggers),
    ]
