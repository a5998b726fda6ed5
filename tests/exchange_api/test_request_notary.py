"""The request notary's flush: when it returns, every request submitted before it is in the log."""

from __future__ import annotations

import threading

import pytest

from exchange_api.db import make_engine, upgrade_head
from exchange_api.middleware.metrics import Metrics
from exchange_api.middleware.notary import RequestNotary
from notarizer.log import TransparencyLog

pytestmark = [pytest.mark.api, pytest.mark.database]


class GatedLog:
    """A real transparency log whose appends wait for a gate: the background writer can be caught
    holding entries it took from the queue but has not written yet."""

    def __init__(self, log: TransparencyLog) -> None:
        self.log = log
        self.entered = threading.Event()
        self.gate = threading.Event()
        self.appended = threading.Event()

    def append_many(self, items: list) -> list:
        self.entered.set()
        self.gate.wait(30)
        out = self.log.append_many(items)
        self.appended.set()
        return out


def test_flush_waits_for_the_batch_the_background_writer_is_appending(database_url) -> None:
    engine = make_engine(database_url)
    upgrade_head(engine)
    log = GatedLog(TransparencyLog(engine))
    notary = RequestNotary(log, Metrics(), interval=0.01)  # type: ignore[arg-type]
    notary.start()
    try:
        notary.submit("anonymous", "GET", "/v1/catalog/datasets", "", 200, "rid-1")
        assert log.entered.wait(10), "the background writer never took the entry"
        seen_at_return: list[bool] = []

        def flush_and_look() -> None:
            notary.flush()
            seen_at_return.append(log.appended.is_set())

        flusher = threading.Thread(target=flush_and_look)
        flusher.start()
        flusher.join(timeout=0.5)  # a flush that does not wait returns here, before the append
        log.gate.set()
        flusher.join(timeout=30)
        assert seen_at_return == [True], "flush returned while the entry was still on its way to the log"
        assert [e.payload["request_id"] for e in log.log.entries(kind="api.request", limit=None)] == ["rid-1"]
    finally:
        log.gate.set()
        notary.stop()
        engine.dispose()
