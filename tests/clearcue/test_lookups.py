"""`field__any=[...]` finds the same rows as `field__in=[...]`, on every database."""

from __future__ import annotations

import pytest

from clearcue.models import Membership, Organization, Role, User

pytestmark = pytest.mark.django_db


@pytest.fixture
def orgs():
    return [Organization.objects.create(name=f"Org {i}", slug=f"org-{i}") for i in range(5)]


@pytest.mark.parametrize("values", [["org-1", "org-3"], ["org-1", "org-1", None, "missing"], [], [None],
                                    [f"org-{i}" for i in range(5)] * 3000])
def test_any_matches_the_rows_in_matches(orgs, values):
    by_any = set(Organization.objects.filter(slug__any=values).values_list("pk", flat=True))
    by_in = set(Organization.objects.filter(slug__in=values).values_list("pk", flat=True))
    assert by_any == by_in


def test_any_works_on_primary_and_foreign_keys_subqueries_and_excludes(orgs):
    ids = [orgs[0].pk, orgs[2].pk, 10**12]
    assert set(Organization.objects.filter(pk__any=ids).values_list("slug", flat=True)) == {"org-0", "org-2"}
    assert Organization.objects.exclude(pk__any=ids).count() == 3
    subquery = Organization.objects.filter(pk=orgs[4].pk).values("slug")
    assert Organization.objects.filter(slug__any=subquery).get() == orgs[4]
    user = User.objects.create(username="member")
    for org in orgs[:3]:
        Membership.objects.create(user=user, organization=org, role=Role.CLIENT)
    assert set(Membership.objects.filter(organization_id__any=ids).values_list("organization__slug", flat=True)) \
        == {"org-0", "org-2"}
    assert Membership.objects.filter(organization__any=ids).count() == 2
