"""Group commit of audit events: many requests' events written in one transaction by one thread per process.

Under load every page view appended its own event: a head bump, an insert, a head update and a commit per request,
each taking SQLite's write lock or the chain head's row lock on PostgreSQL while the request's thread could be
preempted, so requests queued behind each other's locks (the p95 of issue 12). Here a request hands its event to
the writer and gets a future; the writer takes every event waiting, appends them to their chains in order
(`audit_chain.append_many`: one head bump per chain) and commits once, then completes the futures.

Nothing is lost: a request's response is held until its future completes (`hipext.web.audit_gate`), so a response
the client sees always has its event committed; an event whose batch fails makes its request fail (503) instead.
A process killed with events still queued never answered those requests. On shutdown the writer drains the queue
before it stops. The chain stays valid because every batch bumps the head under the same lock `append` uses.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from sqlalchemy.engine import Engine

from hipext.store import audit_chain

log = logging.getLogger("hipext.store")
_STOP = object()


MAX_BATCH = 500  # events per transaction (a bound on one statement's size, not on what is written)


class AuditWriter:
    """One writer thread; `submit(row)` returns a future that completes when the row is committed.

    `engine` is asked for each batch (the app may replace its engine). After `close()`, the next `submit` starts a
    new thread: an app whose lifespan ended and that is served again (tests) keeps auditing."""

    def __init__(self, engine: Callable[[], Engine], max_batch: int = MAX_BATCH) -> None:
        self.engine = engine
        self.max_batch = max_batch
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self.batches = 0  # how many transactions were written (tests, the benchmark)
        self.events = 0

    def submit(self, row: dict[str, Any]) -> Future[None]:
        fut: Future[None] = Future()
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="hipext-audit-writer", daemon=True)
                self._thread.start()
            self._queue.put((row, fut))
        return fut

    def _run(self) -> None:
        stop = False
        while not stop:
            item = self._queue.get()
            batch: list[tuple[dict[str, Any], Future[None]]] = []
            while True:
                if item is _STOP:
                    stop = True  # everything queued before the stop is in this batch: written, then the end
                else:
                    batch.append(item)
                if len(batch) >= self.max_batch:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            if batch:
                self._write(batch)

    def _write(self, batch: list[tuple[dict[str, Any], Future[None]]]) -> None:
        try:
            with self.engine().begin() as conn:
                audit_chain.append_many(conn, [row for row, _ in batch])
        except Exception as exc:  # noqa: BLE001 - every waiting request learns its event was not written
            log.error("audit batch of %d events not written: %s", len(batch), exc)
            for _, fut in batch:
                fut.set_exception(exc)
            return
        self.batches += 1
        self.events += len(batch)
        for _, fut in batch:
            fut.set_result(None)

    def close(self, timeout: float | None = None) -> None:
        """Write every event already queued, then stop the thread (the app's shutdown, after its last request)."""
        with self._lock:
            thread, self._thread = self._thread, None
            if thread is None:
                return
            self._queue.put(_STOP)
        thread.join(timeout)
