from __future__ import annotations

import pytest

from realtime.core.errors import InputError
from realtime.core.registry import Registry


def test_entries_are_listed_and_unknown_names_refused_with_the_known_ones() -> None:
    registry: Registry[int] = Registry("widget")
    registry.register("b")(2)
    registry.add("a", 1)
    assert registry.names() == ("b", "a") and registry["a"] == 1
    assert Registry("widget", sort=True).names() == ()
    with pytest.raises(InputError, match=r"unknown widget 'c'; known: b, a"):
        registry["c"]
    with pytest.raises(ValueError, match="registered twice"):
        registry.add("a", 3)
