"""`field__any=[...]`: membership in a list passed as one array parameter on PostgreSQL.

`field__in=[...]` writes one placeholder per value; with thousands of values (a catalog batch looks up its
5,000 works by natural key) building, splitting and binding them costs more than the query itself. `__any`
sends the list as a single array, `field = ANY(%s)`, one plan for any length. Elsewhere it is `__in`.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db.models import Field, ForeignObject
from django.db.models.lookups import In


class AnyOf(In):
    """`= ANY(array)` on PostgreSQL; the same rows as `__in` (None never matches, an empty list matches nothing)."""

    lookup_name = "any"

    def as_postgresql(self, compiler: Any, connection: Any) -> tuple[str, Any]:
        if not self.rhs_is_direct_value():  # a subquery: IN (SELECT ...) as usual
            return super().as_sql(compiler, connection)
        field = self.lhs.output_field
        values = [field.get_db_prep_value(v, connection, prepared=True) for v in dict.fromkeys(self.rhs)
                  if v is not None]
        if not values:
            raise EmptyResultSet
        lhs_sql, lhs_params = self.process_lhs(compiler, connection)
        return f"{lhs_sql} = ANY(%s)", [*lhs_params, values]


Field.register_lookup(AnyOf)
ForeignObject.register_lookup(AnyOf)  # relations keep their own lookup table (work_id__any=[...] with ids)
