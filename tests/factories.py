"""factory-boy factories for tenancy objects (they build through the actions, like the app does)."""

from __future__ import annotations

import factory

from clearcue import actions
from clearcue.models import Membership, Organization, User


class UserFactory(factory.django.DjangoModelFactory):
    """A person."""

    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.test")


def make_org(name: str, *, is_operator: bool = False) -> Organization:
    """An organization created by the action."""
    return actions.do_create_organization(name=name, is_operator=is_operator, actor=None)


def make_member(username: str, org: Organization, role: str) -> Membership:
    """A user with one role in `org`."""
    return actions.do_add_membership(user=UserFactory(username=username), organization=org, role=role, actor=None)
