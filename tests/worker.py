"""Start a real Celery worker process against the real broker and the test database."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

from django.db import connection

ROOT = Path(__file__).resolve().parents[1]


def test_database_url() -> str:
    """A DATABASE_URL naming the database this test run uses (the worker must see the same rows)."""
    s = connection.settings_dict
    auth = quote(s["USER"] or "")
    if s.get("PASSWORD"):
        auth += ":" + quote(s["PASSWORD"])
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


@contextmanager
def celery_worker(queues: str = "default", *, concurrency: int = 1, pool: str = "prefork",
                  extra_env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[str]]:
    """Run `celery worker` in a subprocess until the block ends; wait until it is ready."""
    from clearcue.celery import app

    env = dict(os.environ)
    env.update({"DATABASE_URL": test_database_url(), "DJANGO_SETTINGS_MODULE": "clearcue.settings"})
    env.update(extra_env or {})
    hostname = f"test-{os.getpid()}-{time.monotonic_ns()}@%h"
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "clearcue", "worker", "-Q", queues, "-c", str(concurrency),
         "-P", pool, "-n", hostname, "--without-gossip", "--without-mingle", "-l", "INFO"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        deadline = time.monotonic() + 60
        node = hostname.replace("%h", os.uname().nodename)
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"worker exited early:\n{proc.stdout.read() if proc.stdout else ''}")
            replies = app.control.ping(destination=[node], timeout=0.5)
            if replies:
                break
        else:
            raise RuntimeError("worker did not become ready within 60 s")
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
