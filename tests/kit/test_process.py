"""One object per process: built once on first use, replaced inside a block, forgotten on reset."""

from __future__ import annotations

import threading

from maillage.kit.process import ProcessWide


def counting() -> tuple[ProcessWide[object], list[object]]:
    built: list[object] = []

    def build() -> object:
        built.append(object())
        return built[-1]

    return ProcessWide(build), built


class TestProcessWide:
    def test_builds_once_and_keeps_it(self):
        shared, built = counting()
        assert shared.get() is shared.get() and len(built) == 1

    def test_threads_racing_for_the_first_use_build_it_once(self):
        shared, built = counting()
        threads = [threading.Thread(target=shared.get) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(built) == 1

    def test_reset_builds_anew_at_the_next_use(self):
        shared, built = counting()
        first = shared.get()
        shared.reset()
        assert shared.get() is not first and len(built) == 2

    def test_use_puts_another_in_place_inside_the_block_only(self):
        shared, _ = counting()
        kept, other = shared.get(), object()
        with shared.use(other) as inside:
            assert inside is other and shared.get() is other
        assert shared.get() is kept

    def test_uses_nest_and_unwind_in_order(self):
        shared, _ = counting()
        a, b = object(), object()
        with shared.use(a):
            with shared.use(b):
                assert shared.get() is b
            assert shared.get() is a

    def test_not_cached_builds_at_each_use(self):
        built: list[int] = []
        shared = ProcessWide(lambda: built.append(1) or len(built), cached=False)
        assert (shared.get(), shared.get()) == (1, 2)
