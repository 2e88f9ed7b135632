"""Liveness and readiness: /healthz reports each dependency, /readyz says whether to send traffic."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, JsonResponse


def check_database() -> dict[str, Any]:
    """Run a trivial query."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"vendor": connection.vendor}


def check_broker() -> dict[str, Any]:
    """Connect to the Celery broker, or report the embedded (in-process) mode."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return {"mode": "in-process"}
    from clearcue.celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
        return {"mode": "broker", "transport": conn.transport_cls}


def check_storage() -> dict[str, Any]:
    """Write, read back and delete a small probe object."""
    name = default_storage.save(f"healthz/{uuid.uuid4().hex}.txt", ContentFile(b"ok"))
    try:
        with default_storage.open(name, "rb") as fh:
            if fh.read() != b"ok":
                raise OSError("storage returned different bytes than were written")
    finally:
        default_storage.delete(name)
    return {"backend": settings.STORAGE_BACKEND}


CHECKS: dict[str, Callable[[], dict[str, Any]]] = {
    "database": check_database,
    "broker": check_broker,
    "storage": check_storage,
}


def _run(check: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        result = {"ok": True, **check()}
    except Exception as exc:
        result = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    result["ms"] = round((time.perf_counter() - started) * 1000, 1)
    return result


def healthz(request: HttpRequest) -> JsonResponse:
    """Each dependency with its status; 503 if any is down."""
    results = {name: _run(check) for name, check in CHECKS.items()}
    ok = all(r["ok"] for r in results.values())
    return JsonResponse({"status": "ok" if ok else "degraded", "checks": results}, status=200 if ok else 503)


def readyz(request: HttpRequest) -> JsonResponse:
    """Ready when the database answers and every migration is applied."""
    try:
        executor = MigrationExecutor(connection)
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except DatabaseError as exc:
        return JsonResponse({"ready": False, "reason": f"database: {exc}"}, status=503)
    if pending:
        return JsonResponse(
            {"ready": False, "reason": "unapplied migrations",
             "pending": [f"{m.app_label}.{m.name}" for m, _ in pending]},
            status=503,
        )
    return JsonResponse({"ready": True})
