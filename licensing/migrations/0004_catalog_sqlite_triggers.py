"""On SQLite, the append-only triggers that pgtrigger installs on PostgreSQL for licenses and opt-outs."""

from django.db import migrations

from licensing.sqlite_append_only import create_triggers, drop_triggers

APPEND_ONLY_TABLES = ["licensing_license", "licensing_licensework", "licensing_licenserevocation",
                      "licensing_optout", "licensing_optoutwithdrawal"]


class Migration(migrations.Migration):
    dependencies = [("licensing", "0003_catalog_licenses_optouts")]

    operations = [
        migrations.RunPython(lambda apps, editor: create_triggers(editor, APPEND_ONLY_TABLES),
                             lambda apps, editor: drop_triggers(editor, APPEND_ONLY_TABLES)),
    ]
