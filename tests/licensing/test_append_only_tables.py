"""Every append-only model keeps its UPDATE and DELETE triggers after all migrations, on either database.

Migrations can silently drop SQLite triggers (altering a field makes SQLite rebuild the table), so this reads
the trigger catalogue for each model that declares the append-only triggers. Behaviour (a refused UPDATE or
DELETE) is tested where rows exist: the ledger, jobs and provenance tests.
"""

from __future__ import annotations

import pytest
from django.apps import apps
from django.db import connection

from licensing.models import APPEND_ONLY_TRIGGERS

pytestmark = pytest.mark.django_db

APPEND_ONLY = sorted((m for m in apps.get_models() if getattr(m._meta, "triggers", None) == APPEND_ONLY_TRIGGERS),
                     key=lambda m: m._meta.db_table)


def test_the_append_only_models_include_the_ledger_outputs_and_provenance_records():
    tables = {m._meta.db_table for m in APPEND_ONLY}
    assert {"licensing_ledgerentry", "generation_joboutput", "provenance_watermarkpayload",
            "provenance_credential", "provenance_traininggraph", "provenance_licensegraph",
            "provenance_stylelicense", "provenance_attribution", "provenance_attributionwork",
            "provenance_impactreport"} <= tables


@pytest.mark.parametrize("model", APPEND_ONLY, ids=lambda m: m._meta.db_table)
def test_each_append_only_table_has_both_triggers(model):
    table = model._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT count(*) FROM pg_trigger WHERE tgrelid = %s::regclass AND tgenabled <> 'D' "
                           "AND tgname LIKE 'pgtrigger_append_only_no_%%'", [table])
        else:
            cursor.execute("SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND tbl_name = %s "
                           "AND name LIKE %s", [table, f"{table}_append_only_no_%"])
        assert cursor.fetchone()[0] == 2, f"{table} lost its append-only triggers"
