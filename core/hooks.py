"""Extension points that let a lower layer call code of the apps above it.

A lower layer (say the media app) declares a :class:`Hook` and calls it where the work
happens; a higher app registers its function into it from ``AppConfig.ready()``. The
lower layer never imports the higher one, and the call is explicit at the place it
happens (unlike a ``post_save`` receiver).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class Hook:
    """A named list of callables, called in registration order."""

    def __init__(self, name: str, doc: str = ""):
        self.name = name
        self.__doc__ = doc or name
        self._functions: list[Callable[..., Any]] = []

    def register(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """Add ``fn`` (once; registering it again is a no-op). Usable as a decorator."""
        if fn not in self._functions:
            self._functions.append(fn)
        return fn

    def unregister(self, fn: Callable[..., Any]) -> None:
        if fn in self._functions:
            self._functions.remove(fn)

    @property
    def functions(self) -> tuple[Callable[..., Any], ...]:
        return tuple(self._functions)

    def __bool__(self) -> bool:
        return bool(self._functions)

    def __call__(self, *args: Any, **kwargs: Any) -> list[Any]:
        """Call every registered function; their results, in order."""
        return [fn(*args, **kwargs) for fn in self._functions]

    def __repr__(self) -> str:
        return f"<Hook {self.name}: {len(self._functions)} registered>"
