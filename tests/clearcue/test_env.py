"""Settings come from the environment and fail loudly, naming the variable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from clearcue.env import Env

ROOT = Path(__file__).resolve().parents[2]


def test_file_variants_are_read_and_trailing_newline_dropped(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("s3cret-value\n")
    assert Env({"TOKEN_FILE": str(secret)}).str("TOKEN") == "s3cret-value"


def test_setting_both_a_value_and_its_file_is_an_error(tmp_path):
    with pytest.raises(ImproperlyConfigured, match="TOKEN: set either TOKEN or TOKEN_FILE"):
        Env({"TOKEN": "a", "TOKEN_FILE": str(tmp_path)}).str("TOKEN")


def test_an_unreadable_secret_file_names_the_variable(tmp_path):
    with pytest.raises(ImproperlyConfigured, match="TOKEN_FILE: cannot read"):
        Env({"TOKEN_FILE": str(tmp_path / "missing")}).str("TOKEN")


@pytest.mark.parametrize(
    ("environ", "call", "message"),
    [
        ({"X": "maybe"}, lambda e: e.bool("X", False), "X: expected a boolean"),
        ({"X": "ten"}, lambda e: e.int("X", 1), "X: expected an integer, got 'ten'"),
        ({"X": "0"}, lambda e: e.int("X", 1, minimum=1), "X: must be >= 1"),
        ({"X": "mysql://h/db"}, lambda e: e.url("X", ("postgres",)), "X: expected a URL with scheme postgres"),
        ({"X": "postgres://u:pw@h:port/db"}, lambda e: e.url("X", ("postgres",)), "X: invalid port"),
        ({"X": "fast"}, lambda e: e.rate("X", "1/s"), "X: expected a rate"),
        ({"X": "c"}, lambda e: e.choice("X", "a", ("a", "b")), "X: expected one of a, b"),
    ],
)
def test_malformed_values_raise_naming_the_variable(environ, call, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        call(Env(environ))


def test_passwords_never_appear_in_url_errors():
    with pytest.raises(ImproperlyConfigured) as info:
        Env({"X": "mysql://user:hunter2@h/db"}).url("X", ("postgres",))
    assert "hunter2" not in str(info.value)


def _start(env_overrides: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "CELERY_", "CLEARCUE_"))}
    env.update({"CLEARCUE_DATA_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "clearcue.settings"})
    env.update(env_overrides)
    return subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DATABASE_URL", "mysql://root@localhost/x"),
        ("CELERY_BROKER_URL", "kafka://localhost"),
        ("CLEARCUE_DEBUG", "perhaps"),
        ("CLEARCUE_THROTTLE_USER", "lots"),
        ("CLEARCUE_STORAGE", "ftp"),
    ],
)
def test_startup_fails_with_an_error_naming_the_malformed_variable(variable, value, tmp_path):
    result = _start({variable: value}, tmp_path)
    assert result.returncode != 0
    assert f"ImproperlyConfigured: {variable}:" in result.stderr


def test_with_no_environment_the_project_starts_embedded(tmp_path):
    result = _start({}, tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "secret_key").exists()
    assert oct((tmp_path / "secret_key").stat().st_mode & 0o777) == "0o600"
