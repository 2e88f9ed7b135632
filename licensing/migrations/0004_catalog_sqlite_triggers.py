"""On SQLite, the append-only triggers that pgtrigger installs on PostgreSQL for licenses and opt-outs."""

from django.db import migrations

APPEND_ONLY_TABLES = ["licensing_license", "licensing_licensework", "licensing_licenserevocation",
                      "licensing_optout", "licensing_optoutwithdrawal"]


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
    dependencies = [("licensing", "0003_catalog_licenses_optouts")]

    operations = [migrations.RunPython(sqlite_triggers, drop_sqlite_triggers)]
