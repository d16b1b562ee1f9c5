"""One object per process (a key ring, a blob store, a register), built on first use and replaceable inside a block.

The settings name the object; building it may read files, so it is built once and kept (``cached=True``) or built
at each use (``cached=False``, for an object that is cheap and must follow a change of settings at once). Tests
and one-shot commands put another object in place with ``use``; ``reset`` forgets the kept one after a change of
settings.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

T = TypeVar("T")


class ProcessWide(Generic[T]):
    def __init__(self, build: Callable[[], T], *, cached: bool = True) -> None:
        self._build = build
        self._cached_mode = cached
        self._lock = threading.Lock()
        self._kept: T | None = None
        self._override: T | None = None

    def get(self) -> T:
        """The object put in place by ``use``, else the kept one, built under a lock the first time."""
        override = self._override
        if override is not None:
            return override
        if not self._cached_mode:
            return self._build()
        kept = self._kept
        if kept is not None:
            return kept
        with self._lock:
            if self._kept is None:
                self._kept = self._build()
            return self._kept

    def reset(self) -> None:
        """Forget the kept object (after a change of settings)."""
        with self._lock:
            self._kept = None

    @contextmanager
    def use(self, value: T) -> Iterator[T]:
        """Make ``value`` the process's object inside the block."""
        previous = self._override
        self._override = value
        try:
            yield value
        finally:
            self._override = previous
