"""The Celery application: JSON only, named tasks on explicit queues.

Queues: `ingest` (catalog ingestion), `generate` (gate + composing), `seal` (watermark + C2PA),
`ledger` (checkpoints, verification), `default` (everything else). Start a worker per queue to scale a
kind of work independently, e.g. `celery -A clearcue worker -Q generate -c 2`.
"""

from __future__ import annotations

import os

from celery import Celery
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clearcue.settings")

app = Celery("clearcue")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = [Queue(name) for name in ("ingest", "generate", "seal", "ledger", "default")]
app.autodiscover_tasks()
