"""A real worker, a real broker: tasks leave this process, run elsewhere, and come back."""

from __future__ import annotations

import uuid

import pytest
from django.conf import settings

from clearcue.celery import app
from clearcue.tasks import ping
from tests.worker import celery_worker

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_a_task_round_trips_through_a_real_worker_on_its_queue():
    assert not settings.CELERY_TASK_ALWAYS_EAGER
    token = uuid.uuid4().hex
    with celery_worker("default"):
        result = ping.delay(token).get(timeout=60)
    assert result["token"] == token
    assert result["db_vendor"] == "postgresql"
    # The worker used this test run's database, not the development one.
    assert result["db_name"] == settings.DATABASES["default"]["NAME"] or result["db_name"].startswith("test_")


def test_configuration_is_json_only_with_named_queues():
    assert app.conf.task_serializer == "json"
    assert app.conf.accept_content == ["json"]
    assert {q.name for q in app.conf.task_queues} == {"ingest", "generate", "seal", "ledger", "default"}
    assert ping.name == "clearcue.ping"
    assert ping.acks_late and ping.reject_on_worker_lost


def test_every_registered_task_is_routed_to_a_declared_queue():
    import fnmatch

    app.loader.import_default_modules()
    declared = {q.name for q in app.conf.task_queues}
    routes = app.conf.task_routes
    ours = [name for name in app.tasks if not name.startswith("celery.")]
    assert ours, "no project tasks registered"
    for name in ours:
        queues = [r["queue"] for pattern, r in routes.items() if fnmatch.fnmatch(name, pattern)]
        assert queues and queues[0] in declared, f"{name} has no explicit route"


def test_the_checkpoint_task_runs_on_a_real_worker_on_the_ledger_queue(settings):
    from licensing import note
    from licensing.models import Checkpoint
    from licensing.tasks import publish_checkpoint
    from tests.licensing.conftest import append

    signer, _ = note.generate_key(settings.LEDGER_ORIGIN)
    append(5)
    with celery_worker("ledger", extra_env={"CLEARCUE_LEDGER_SIGNING_KEY": signer}):
        result = publish_checkpoint.delay().get(timeout=60)
    assert result["tree_size"] == 5
    assert Checkpoint.objects.get(pk=result["checkpoint_id"]).tree_size == 5
    assert settings.CELERY_BEAT_SCHEDULE["ledger-checkpoint"]["task"] == publish_checkpoint.name


def test_a_catalog_import_runs_on_a_real_worker_on_the_ingest_queue():
    from clearcue.actions import do_create_organization
    from licensing import actions, importer
    from licensing.models import CatalogImport, Work
    from tests.licensing.catalog_helpers import small_catalog

    operator = do_create_organization(name="Operator", slug="operator", is_operator=True, actor=None)
    with celery_worker("ingest"):
        catalog_import = actions.do_create_catalog_import(organization=operator, user=None, data=small_catalog(),
                                                           file_format="csv", collection_slug="nordlys")
        catalog_import = importer.wait_seconds(CatalogImport.objects.get(pk=catalog_import.pk), timeout=90)
    assert catalog_import.status == "completed" and catalog_import.rows_created == 4
    assert Work.objects.count() == 4
