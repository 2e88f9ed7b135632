"""Environment-variable parsing for settings: typed, strict, and `*_FILE`-aware.

Every reader raises `ImproperlyConfigured` naming the variable and the bad value, so a typo in a
deployment fails at startup instead of running with a silent default.
"""

from __future__ import annotations

import builtins
import os
import re
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_RATE = re.compile(r"^\d+/(s|sec|second|m|min|minute|h|hour|d|day)$")


class Env:
    """Reads settings from a mapping (os.environ by default); secrets may come from `<NAME>_FILE`."""

    def __init__(self, environ: Mapping[builtins.str, builtins.str] | None = None) -> None:
        self._environ = os.environ if environ is None else environ

    def raw(self, name: builtins.str) -> builtins.str | None:
        """Return the value of NAME or the contents of the file named by NAME_FILE, or None if unset."""
        value = self._environ.get(name)
        file_name = self._environ.get(f"{name}_FILE")
        if value is not None and file_name is not None:
            raise ImproperlyConfigured(f"{name}: set either {name} or {name}_FILE, not both")
        if file_name is not None:
            try:
                # Secret files conventionally end with a newline that is not part of the secret.
                return Path(file_name).read_text(encoding="utf-8").rstrip("\r\n")
            except OSError as exc:
                raise ImproperlyConfigured(f"{name}_FILE: cannot read {file_name!r}: {exc.strerror}") from exc
        if value is not None and value.strip() == "":
            return None
        return value

    def str(self, name: builtins.str, default: builtins.str | None = None) -> builtins.str | None:
        """A string value, or the default when unset."""
        value = self.raw(name)
        return default if value is None else value

    def bool(self, name: builtins.str, default: builtins.bool) -> builtins.bool:
        """A boolean written as 1/0, true/false, yes/no or on/off."""
        value = self.raw(name)
        if value is None:
            return default
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ImproperlyConfigured(f"{name}: expected a boolean (true/false, 1/0, yes/no, on/off), got {value!r}")

    def int(
        self, name: builtins.str, default: builtins.int, *, minimum: builtins.int | None = None,
        maximum: builtins.int | None = None,
    ) -> builtins.int:
        """An integer, optionally bounded."""
        value = self.raw(name)
        if value is None:
            return default
        try:
            parsed = int(value.strip())
        except ValueError:
            raise ImproperlyConfigured(f"{name}: expected an integer, got {value!r}") from None
        if minimum is not None and parsed < minimum:
            raise ImproperlyConfigured(f"{name}: must be >= {minimum}, got {parsed}")
        if maximum is not None and parsed > maximum:
            raise ImproperlyConfigured(f"{name}: must be <= {maximum}, got {parsed}")
        return parsed

    def list(self, name: builtins.str, default: builtins.list[builtins.str]) -> builtins.list[builtins.str]:
        """A comma-separated list; empty items are dropped."""
        value = self.raw(name)
        if value is None:
            return list(default)
        return [item.strip() for item in value.split(",") if item.strip()]

    def choice(self, name: builtins.str, default: builtins.str, choices: tuple[builtins.str, ...]) -> builtins.str:
        """One of a fixed set of values."""
        value = self.raw(name)
        if value is None:
            return default
        if value not in choices:
            raise ImproperlyConfigured(f"{name}: expected one of {', '.join(choices)}, got {value!r}")
        return value

    def url(self, name: builtins.str, schemes: tuple[builtins.str, ...]) -> builtins.str | None:
        """A URL whose scheme is one of `schemes` and which names a host or a path."""
        value = self.raw(name)
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in schemes:
            raise ImproperlyConfigured(
                f"{name}: expected a URL with scheme {'/'.join(schemes)}, got {_redact(value)!r}"
            )
        if not parts.netloc and not parts.path.strip("/"):
            raise ImproperlyConfigured(f"{name}: URL has neither host nor path: {_redact(value)!r}")
        try:
            parts.port  # noqa: B018 - raises ValueError on a non-numeric port
        except ValueError:
            raise ImproperlyConfigured(f"{name}: invalid port in {_redact(value)!r}") from None
        return value

    def rate(self, name: builtins.str, default: builtins.str) -> builtins.str:
        """A DRF throttle rate such as `120/min`."""
        value = self.raw(name)
        if value is None:
            return default
        if not _RATE.match(value.strip()):
            raise ImproperlyConfigured(f"{name}: expected a rate such as '120/min' or '10/s', got {value!r}")
        return value.strip()


def _redact(url: str) -> str:
    """Hide the password part of a URL so error messages never print credentials."""
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@")
    return url
