"""Shared fixtures: personas (catalog admin, auditor, client A, client B, outsider) and API clients."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from clearcue import actions
from clearcue.models import Membership, Organization, Role, User
from tests.factories import UserFactory, make_member, make_org


@dataclass
class Persona:
    """A user acting through one membership, with an API client authenticated by that member's key."""

    user: User
    membership: Membership | None
    key: str | None
    api: APIClient

    @property
    def org(self) -> Organization:
        assert self.membership is not None
        return self.membership.organization


def _persona(membership: Membership) -> Persona:
    issued = actions.do_create_api_key(membership=membership, name="test", actor=membership.user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.plaintext}")
    return Persona(user=membership.user, membership=membership, key=issued.plaintext, api=client)


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    """Throttle counters live in the cache; every test starts with none."""
    cache.clear()


@pytest.fixture(scope="session")
def sealing_material(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A development C2PA PKI and a watermark key for the whole session, configured in this process's settings;
    returns the environment a worker process needs to use the same material."""
    from django.conf import settings

    from provenance import backends, pki
    from provenance.backends import new_watermark_key

    directory = tmp_path_factory.mktemp("sealing")
    files = pki.create_dev_pki(directory / "pki", organization="Clearcue Tests")
    new_watermark_key(directory / "watermark.keys")
    keys = (directory / "watermark.keys").read_text(encoding="utf-8").strip()
    settings.CLEARCUE_PKI_DIR = files.directory
    settings.C2PA_CERT_CHAIN_PATH = files.chain
    settings.C2PA_SIGNING_KEY_PATH = files.signer_key
    settings.C2PA_TRUST_ANCHORS_PATH = files.root_cert
    settings.WATERMARK_KEYS = keys
    backends.reset()
    return {"CLEARCUE_PKI_DIR": str(files.directory), "CLEARCUE_WATERMARK_KEYS": keys}


@pytest.fixture(autouse=True)
def _sealing(sealing_material: dict[str, str]) -> None:
    """Every test can seal: the session's PKI and watermark key are configured (tests that need none ignore it)."""


@pytest.fixture(autouse=True)
def _tasks_in_process(request: pytest.FixtureRequest):
    """Tasks enqueued by the code under test run in-process, unless the test starts a real worker
    (`worker` marker): with CELERY_BROKER_URL set (CI), they would otherwise wait in the broker forever."""
    from clearcue.celery import app

    if "worker" in request.keywords:
        yield
        return
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous


@pytest.fixture
def operator_org(db: None) -> Organization:
    return make_org("Clearcue Operator", is_operator=True)


@pytest.fixture
def org_a(db: None) -> Organization:
    return make_org("Northlight Pictures")


@pytest.fixture
def org_b(db: None) -> Organization:
    return make_org("Brightwave Agency")


@pytest.fixture
def catalog_admin(operator_org: Organization) -> Persona:
    return _persona(make_member("cat.admin", operator_org, Role.CATALOG_ADMIN))


@pytest.fixture
def auditor(operator_org: Organization) -> Persona:
    return _persona(make_member("ada.auditor", operator_org, Role.COMPLIANCE_AUDITOR))


@pytest.fixture
def client_a(org_a: Organization) -> Persona:
    return _persona(make_member("cleo.client", org_a, Role.CLIENT))


@pytest.fixture
def client_b(org_b: Organization) -> Persona:
    return _persona(make_member("bo.client", org_b, Role.CLIENT))


@pytest.fixture
def outsider(db: None) -> Persona:
    """Authenticated (session) but a member of nothing."""
    user = UserFactory(username="otto.outsider")
    client = APIClient()
    client.force_login(user)
    return Persona(user=user, membership=None, key=None, api=client)


@pytest.fixture
def staff(db: None) -> Persona:
    """Platform staff, logged in by session."""
    user = UserFactory(username="sam.staff", is_staff=True, is_superuser=True)
    client = APIClient()
    client.force_login(user)
    return Persona(user=user, membership=None, key=None, api=client)


@pytest.fixture
def anon() -> APIClient:
    return APIClient()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip, with a visible reason, tests whose real services are not configured.

    `postgres`: needs PostgreSQL (DATABASE_URL). `worker`: needs PostgreSQL (a worker process must share
    the test database) and a broker (CELERY_BROKER_URL). CI sets both, so nothing is skipped there.
    """
    from django.conf import settings

    on_postgres = settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
    skip_pg = pytest.mark.skip(reason="needs PostgreSQL: set DATABASE_URL=postgres://... (CI does)")
    skip_worker = pytest.mark.skip(
        reason="needs a real broker and PostgreSQL: set CELERY_BROKER_URL and DATABASE_URL (CI does)"
    )
    for item in items:
        if "postgres" in item.keywords and not on_postgres:
            item.add_marker(skip_pg)
        if "worker" in item.keywords and (not on_postgres or settings.CELERY_TASK_ALWAYS_EAGER):
            item.add_marker(skip_worker)
