"""Emptying a test database whose append-only tables refuse DELETE (SQLite), for transactional tests."""

from __future__ import annotations


def empty_sqlite_database() -> None:
    """Empty the test database on SQLite before pytest-django's flush, with the append-only triggers lifted.

    A transactional test (the live server's, the demo's) ends by flushing every table. PostgreSQL's flush is a
    TRUNCATE, which row triggers do not see; SQLite's is a DELETE, which the append-only triggers refuse
    (licensing.sqlite_append_only). They are dropped for this flush only and re-created exactly as they were.
    """
    from django.core.management import call_command
    from django.db import connection

    if connection.vendor != "sqlite":
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND name LIKE '%append_only%'")
        triggers = cursor.fetchall()
        for name, _ in triggers:
            cursor.execute(f'DROP TRIGGER "{name}"')
        try:
            call_command("flush", interactive=False, verbosity=0, inhibit_post_migrate=True)
        finally:
            for _, sql in triggers:
                cursor.execute(sql)
