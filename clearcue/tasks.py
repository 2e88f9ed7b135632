"""Platform-level tasks."""

from __future__ import annotations

import socket
from typing import Any

from celery import shared_task
from django.db import connection


@shared_task(name="clearcue.ping", acks_late=True, reject_on_worker_lost=True)
def ping(token: str) -> dict[str, Any]:
    """Round trip through a worker: echo `token` with the worker's host and a database check."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {
        "token": token,
        "host": socket.gethostname(),
        "db_vendor": connection.vendor,
        "db_name": str(connection.settings_dict["NAME"]),
    }
