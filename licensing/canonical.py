"""Canonical JSON for ledger payloads: the exact bytes that are hashed into the Merkle log.

Deterministic: keys sorted, no insignificant whitespace, UTF-8 (not ASCII-escaped), integers only.
Floats are refused because their text form is not canonical across languages (1e3 vs 1000.0); amounts
and shares are written as integers of a stated unit (cents, parts per million) or as decimal strings.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any


class CanonicalJSONError(TypeError):
    """A value cannot be written canonically (float, non-string key, unsupported type)."""


def _check(value: Any, path: str) -> None:
    # bool is a subclass of int and is fine; float (including NaN/inf) is not.
    if value is None or isinstance(value, bool | int | str):
        return
    if isinstance(value, float):
        raise CanonicalJSONError(f"{path}: floats are not allowed in ledger payloads ({value!r})")
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise CanonicalJSONError(f"{path}: object keys must be strings, got {key!r}")
            _check(item, f"{path}.{key}")
        return
    if isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        for i, item in enumerate(value):
            _check(item, f"{path}[{i}]")
        return
    raise CanonicalJSONError(f"{path}: unsupported type {type(value).__name__}")


def _plain(value: Any) -> bool:
    """True if `value` is built only of dict (string keys), list, tuple, str, int, bool and None: the common
    case, checked without recursion or path strings. False means "look closer" (_check), not "invalid"."""
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is str or kind is int or kind is bool or item is None:
            continue
        if kind is dict:
            if not all(type(key) is str for key in item):
                return False
            stack.extend(item.values())
        elif kind is list or kind is tuple:
            stack.extend(item)
        elif not isinstance(item, str | int):  # str and int subclasses (enum members) are written as their values
            return False
    return True


# One encoder for every call: json.dumps with non-default options builds a new JSONEncoder each time.
_ENCODE = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode


def canonical_bytes(value: Any) -> bytes:
    """Serialize `value` canonically (raises CanonicalJSONError for floats and unsupported types)."""
    if not _plain(value):
        _check(value, "$")
    return _ENCODE(value).encode("utf-8")


def canonical_bytes_unchecked(value: Any) -> bytes:
    """canonical_bytes without the type check, for values built only of types the caller controls (str, int,
    bool, None, lists and string-keyed dicts of them) that are not themselves a ledger payload, such as a digest
    of data whose ledger entry is checked anyway. Never for a payload: a float would be written, not refused."""
    return _ENCODE(value).encode("utf-8")


def parse(payload: bytes) -> Any:
    """Parse payload bytes, refusing anything that is not in canonical form."""
    value = json.loads(payload.decode("utf-8"), parse_float=_no_float)
    if canonical_bytes(value) != payload:
        raise CanonicalJSONError("payload is valid JSON but not in canonical form")
    return value


def _no_float(text: str) -> Any:
    raise CanonicalJSONError(f"floats are not allowed in ledger payloads ({text})")
