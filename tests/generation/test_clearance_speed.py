"""What keeps incremental re-clearance within its budget (issue 6: <= 100 ms after one revocation at 1M works)."""

from __future__ import annotations

import pytest
from django.db import connection

pytestmark = pytest.mark.django_db


def test_opt_outs_are_indexed_by_subject_kind_then_value_for_the_rights_evaluation():
    # rights.evaluate matches creator-name and identifier opt-outs by (subject_kind, subject_value); without this
    # index PostgreSQL scans every opt-out in each of the statements a catch-up runs.
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, "licensing_optout")
    index = constraints.get("licensing_optout_kind_val_idx")
    assert index is not None and index["index"]
    assert index["columns"] == ["subject_kind", "subject_value"]
