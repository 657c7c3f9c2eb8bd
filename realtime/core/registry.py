"""Named entries of one kind (backbones, fusions, optimisers, ...), timm-style.

Register with a decorator (or `add`), list the names, and refuse an unknown name in one line
that lists the known ones, so a typo in a config or an option never gets further than the check.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from realtime.core.errors import InputError

T = TypeVar("T")


class Registry(Generic[T]):
    """`kind` names the entries in messages ("unknown {kind} 'x'; known: ...")."""

    def __init__(self, kind: str, *, sort: bool = False) -> None:
        self.kind = kind
        self.sort = sort  # list names sorted; otherwise in registration order (e.g. the paper's first)
        self._entries: dict[str, T] = {}

    def add(self, name: str, entry: T) -> T:
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} registered twice")
        self._entries[name] = entry
        return entry

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: `@REGISTRY.register("name")` over a factory or class."""
        return lambda entry: self.add(name, entry)

    def names(self) -> tuple[str, ...]:
        return tuple(sorted(self._entries)) if self.sort else tuple(self._entries)

    def check(self, name: str) -> None:
        if name not in self._entries:
            raise InputError(f"unknown {self.kind} {name!r}; known: {', '.join(self.names())}")

    def __getitem__(self, name: str) -> T:
        self.check(name)
        return self._entries[name]
