"""Create the ledger head row, and on SQLite the append-only triggers pgtrigger installs on PostgreSQL."""

from hashlib import sha256

from django.db import migrations

from licensing.sqlite_append_only import create_triggers, drop_triggers

APPEND_ONLY_TABLES = ["licensing_ledgerentry", "licensing_ledgernode", "licensing_checkpoint"]


def create_head(apps, schema_editor):
    LedgerHead = apps.get_model("licensing", "LedgerHead")
    LedgerHead.objects.using(schema_editor.connection.alias).get_or_create(
        id=1, defaults={"size": 0, "root_hash": sha256(b"").digest()}
    )


def sqlite_triggers(apps, schema_editor):
    create_triggers(schema_editor, APPEND_ONLY_TABLES)


def drop_sqlite_triggers(apps, schema_editor):
    drop_triggers(schema_editor, APPEND_ONLY_TABLES)


class Migration(migrations.Migration):
    dependencies = [("licensing", "0001_initial")]

    operations = [
        migrations.RunPython(create_head, migrations.RunPython.noop),
        migrations.RunPython(sqlite_triggers, drop_sqlite_triggers),
    ]
