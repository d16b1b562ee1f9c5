"""Large batches take one of the process's slots; small requests never wait for one (``ingest.batch_slot``)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from maillage.config import get_settings
from maillage.monitoring import ingest


@pytest.fixture
def one_slot(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("MAILLAGE_MONITORING_INGEST_SLOTS", "1")
    get_settings.cache_clear()
    yield
    monkeypatch.delenv("MAILLAGE_MONITORING_INGEST_SLOTS")
    get_settings.cache_clear()


def _enter_in_thread(size: int) -> tuple[threading.Thread, threading.Event, threading.Event]:
    """A thread that enters ``batch_slot(size)``, says so, and leaves when told to."""
    entered, leave = threading.Event(), threading.Event()

    def run() -> None:
        with ingest.batch_slot(size):
            entered.set()
            leave.wait(10)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, entered, leave


def test_a_second_large_batch_waits_for_the_first_and_then_goes(one_slot: None) -> None:
    first, first_in, first_out = _enter_in_thread(ingest.SMALL_BATCH + 1)
    assert first_in.wait(5)
    second, second_in, second_out = _enter_in_thread(1000)
    assert not second_in.wait(0.3)  # the only slot is taken
    first_out.set()
    assert second_in.wait(5)  # freed: the waiting batch goes
    second_out.set()
    first.join(5)
    second.join(5)


def test_small_requests_never_wait_for_a_slot(one_slot: None) -> None:
    large, large_in, large_out = _enter_in_thread(1000)
    assert large_in.wait(5)
    try:
        for size in (1, ingest.SMALL_BATCH):
            small, small_in, small_out = _enter_in_thread(size)
            assert small_in.wait(5), f"a batch of {size} reading(s) waited behind a large one"
            small_out.set()
            small.join(5)
    finally:
        large_out.set()
        large.join(5)


def test_no_limit_when_the_setting_is_zero(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILLAGE_MONITORING_INGEST_SLOTS", "0")
    get_settings.cache_clear()
    try:
        threads = [_enter_in_thread(1000) for _ in range(4)]
        assert all(entered.wait(5) for _, entered, _ in threads)
        for thread, _, leave in threads:
            leave.set()
            thread.join(5)
    finally:
        monkeypatch.delenv("MAILLAGE_MONITORING_INGEST_SLOTS")
        get_settings.cache_clear()


def test_a_slot_is_given_back_when_the_batch_fails(one_slot: None) -> None:
    with pytest.raises(RuntimeError), ingest.batch_slot(1000):
        raise RuntimeError("refused")
    done, entered, leave = _enter_in_thread(1000)
    assert entered.wait(5)
    leave.set()
    done.join(5)
