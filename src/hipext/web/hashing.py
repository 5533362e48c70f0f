"""Password hashing off the event loop and off the shared worker threads.

Argon2 is deliberately slow (tenths of a second of CPU and 64 MiB each). Checks run on a small pool of their own
(argon2-cffi releases the GIL, so pages keep being served), and at most `queue` checks may wait for it: a flood of
sign-in posts gets an immediate 503 instead of a queue that starves every other request or exhausts memory.
"""

from __future__ import annotations

import asyncio
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from hipext.store.passwords import DUMMY_HASH, hash_password, verify_password

T = TypeVar("T")


def _lower_priority() -> None:
    """Hashing threads run niced (Linux schedules threads one by one): under a flood of sign-ins the CPU goes to
    serving requests first, and the checks take the rest."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
    except (AttributeError, OSError):  # not Linux, or not allowed: the bound on the queue still holds
        pass


class Busy(Exception):
    """More password checks are waiting than the bound allows; the client should retry in a moment."""


class PasswordWorkers:
    def __init__(self, workers: int | None = None, queue: int | None = None) -> None:
        self.workers = workers or int(os.environ.get("HIPEXT_HASH_THREADS", "1"))
        self.queue = queue if queue is not None else int(os.environ.get("HIPEXT_HASH_QUEUE", "16"))
        self._pool: ThreadPoolExecutor | None = None  # made on first use, again after a shutdown (app restarted)
        self._admitted = 0

    async def _run(self, fn, *args) -> T:  # noqa: ANN001
        if self._admitted >= self.workers + self.queue:  # one event loop: this check and the += are atomic
            raise Busy()
        self._admitted += 1
        try:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="argon2", initializer=_lower_priority)
            return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)
        finally:
            self._admitted -= 1

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """Check a password; an unknown user is checked against a dummy hash so timing does not tell."""
        return await self._run(verify_password, password_hash or DUMMY_HASH, password)

    async def hash(self, password: str) -> str:
        return await self._run(hash_password, password)

    def shutdown(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
