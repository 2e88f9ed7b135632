"""Per-request / per-task context (request id) that the ledger records with each entry."""

from __future__ import annotations

from contextvars import ContextVar

# Set by RequestIdMiddleware for HTTP requests and by a task_prerun handler for Celery tasks.
request_id_var: ContextVar[str] = ContextVar("clearcue_request_id", default="")
