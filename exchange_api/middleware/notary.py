"""Notarizes API requests: entries are queued and appended to the transparency log in batches.

Every signed-in member's request is notarized. Anonymous requests are notarized up to
`anonymous_per_minute` per client IP (per worker) and only counted past that: the log is append-only
and anchored on-chain for good, so an outsider must not be able to grow it without bound, while a
member's requests are accountable (an admitted address, rate-limited) and what an audit is about. The
bound is per worker process on purpose: it costs a dict lookup on the hot path, no database round trip;
with W workers an IP adds at most W x N entries a minute.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any

from exchange_api.middleware.metrics import Metrics
from notarizer.entry import Kind
from notarizer.log import TransparencyLog

log = logging.getLogger("exchange_api.notary")


class RequestNotary:
    """A background writer: requests never wait on the log (nor on the chain that anchors it).

    Entries are appended by a thread in batches (one transaction each), so the hot read path pays a
    queue put, not a database write. A crash loses at most the entries of the last `interval` seconds.
    """

    def __init__(
        self,
        transparency_log: TransparencyLog,
        metrics: Metrics,
        interval: float = 0.05,
        batch: int = 200,
        anonymous_per_minute: int = 60,
    ) -> None:
        self.log = transparency_log
        self.anonymous_per_minute = anonymous_per_minute
        self._anon_window = -1
        self._anon_counts: dict[str, int] = {}
        self._anon_lock = threading.Lock()
        self.metrics = metrics
        self.interval = interval
        self.batch = batch
        self._queue: queue.SimpleQueue[dict[str, Any]] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # One flush at a time: a caller's flush must not return while the background thread still holds
        # entries it took from the queue but has not yet appended.
        self._flushing = threading.Lock()

    def submit(
        self, actor: str, method: str, route: str, body_sha256: str, status: int, request_id: str
    ) -> None:
        self._queue.put(
            {
                "kind": Kind.API_REQUEST,
                "actor": actor or "anonymous",
                "subjects": (),
                "payload": {
                    "method": method,
                    "route": route,
                    "body_sha256": body_sha256,
                    "status": status,
                    "request_id": request_id,
                },
            }
        )

    def admit_anonymous(self, client_ip: str, now: float | None = None) -> bool:
        """Whether one more anonymous request from `client_ip` is notarized in this minute."""
        window = int((time.time() if now is None else now) // 60)
        with self._anon_lock:
            if window != self._anon_window:
                # A new minute forgets every IP: memory stays bounded by one minute's callers.
                self._anon_window, self._anon_counts = window, {}
            count = self._anon_counts.get(client_ip, 0)
            if count >= self.anonymous_per_minute:
                return False
            self._anon_counts[client_ip] = count + 1
            return True

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="dx-request-notary", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self.flush()

    def flush(self) -> int:
        """Append everything queued so far; returns how many entries this call wrote. On return, every
        entry submitted before the call is in the log (or counted as a notarization failure)."""
        with self._flushing:
            return self._flush_queued()

    def _flush_queued(self) -> int:
        written = 0
        while True:
            items: list[dict[str, Any]] = []
            while len(items) < self.batch:
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            if not items:
                break
            try:
                self.log.append_many(items)
                written += len(items)
            except Exception:
                self.metrics.notarize_failures.inc(len(items))
                log.exception("could not append %d request entries to the transparency log", len(items))
        self.metrics.notarize_backlog.set(self._queue.qsize())
        return written

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.flush()
