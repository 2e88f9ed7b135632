"""The Celery application: JSON only, named tasks on explicit queues.

Queues: `ingest` (catalog ingestion), `generate` (gate + composing), `seal` (watermark + C2PA),
`ledger` (checkpoints, verification), `default` (everything else). Start a worker per queue to scale a
kind of work independently, e.g. `celery -A clearcue worker -Q generate -c 2`.
"""

from __future__ import annotations

import os
from typing import Any

from celery import Celery
from celery.signals import task_postrun, task_prerun
from kombu import Queue

from clearcue.context import request_id_var

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clearcue.settings")

app = Celery("clearcue")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = [Queue(name) for name in ("ingest", "generate", "seal", "ledger", "default")]
app.autodiscover_tasks()

_request_id_tokens: dict[str, Any] = {}


@task_prerun.connect
def _bind_request_id(task_id: str | None = None, **_: Any) -> None:
    """Ledger entries written by a task carry the task id as their request id."""
    if task_id:
        _request_id_tokens[task_id] = request_id_var.set(f"task:{task_id}")


@task_postrun.connect
def _unbind_request_id(task_id: str | None = None, **_: Any) -> None:
    """Restore the enclosing context (matters for in-process tasks run inside a web request)."""
    token = _request_id_tokens.pop(task_id or "", None)
    if token is not None:
        request_id_var.reset(token)
