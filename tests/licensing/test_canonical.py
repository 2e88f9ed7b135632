"""Canonical JSON: the common shapes take the fast path, and it accepts and refuses exactly what the precise
check does."""

from __future__ import annotations

from collections import OrderedDict

import pytest

from licensing.canonical import CanonicalJSONError, _check, _plain, canonical_bytes
from licensing.models import EntryType


def test_enum_members_are_written_as_their_values_on_the_fast_path():
    body = {"type": EntryType.WORK_REGISTERED, "data": {"b": [1, True, None, ("x", "é")], "a": {}}}
    assert _plain(body)
    expected = '{"data":{"a":{},"b":[1,true,null,["x","é"]]},"type":"' + EntryType.WORK_REGISTERED.value + '"}'
    assert canonical_bytes(body) == expected.encode()


@pytest.mark.parametrize("value", [{"a": 1.5}, {"a": [{"b": float("nan")}]}, {1: "x"}, {"a": b"x"}, [{"a": {2.0}}]])
def test_anything_the_precise_check_refuses_is_refused(value):
    with pytest.raises(CanonicalJSONError):
        _check(value, "$")
    with pytest.raises(CanonicalJSONError):
        canonical_bytes(value)


def test_mappings_other_than_dict_leave_the_fast_path_and_are_still_written():
    value = OrderedDict([("b", 1), ("a", 2)])
    assert not _plain(value)
    assert canonical_bytes(value) == b'{"a":2,"b":1}'
