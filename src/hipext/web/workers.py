"""Several worker processes on one port, each with a listening socket of its own (SO_REUSEPORT, Linux).

uvicorn's own workers share one listening socket, and whichever worker's event loop wakes first accepts a whole burst
of connections (asyncio accepts up to its backlog per wake-up): under load one worker served 48 of 50 keep-alive
connections while the other served 2, so most clients queued behind one core (issue 12). With a socket per worker
the kernel spreads new connections across the workers by a hash of their addresses.

The supervisor builds no app and imports nothing heavy (it never serves); each worker builds its own app from the
environment (`hipext.web.app.app_from_env`), warms it up and serves. A signal to the supervisor stops every worker
gracefully (each finishes its requests, then its lifespan shutdown writes the queued audit events); a worker that
dies on its own is started again.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import socket
import sys
import time
from types import FrameType
from typing import Any

SUPPORTED = sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")
RESTART_PAUSE_S = 1.0  # between restarts of a worker that keeps dying (a crash loop must not spin the CPU)


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def check_port_free(host: str, port: int) -> None:
    """Refuse to start beside anything already listening on the port (with SO_REUSEPORT an earlier hipext on the
    same port would otherwise silently share it)."""
    with socket.socket(_family(host), socket.SOCK_STREAM) as s:
        s.bind((host, port))


def _listen(host: str, port: int) -> socket.socket:
    sock = socket.socket(_family(host), socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    return sock


def _worker(host: str, port: int, log_level: str) -> None:
    import uvicorn  # noqa: PLC0415 - in the worker only

    from hipext.web.app import app_from_env  # noqa: PLC0415

    sock = _listen(host, port)
    config = uvicorn.Config(app_from_env, factory=True, log_level=log_level)
    uvicorn.Server(config).run(sockets=[sock])


def serve(host: str, port: int, workers: int, log_level: str) -> None:
    """Run `workers` worker processes until SIGINT or SIGTERM; return when they have all stopped."""
    check_port_free(host, port)
    ctx = multiprocessing.get_context("spawn")
    stopping = False

    def start() -> Any:
        p = ctx.Process(target=_worker, args=(host, port, log_level), daemon=False)
        p.start()
        return p

    procs = [start() for _ in range(workers)]

    def stop(sig: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for p in procs:  # SIGTERM: a graceful stop even when the worker also got the SIGINT (a second SIGINT
            if p.pid is not None and p.is_alive():  # would make uvicorn skip the shutdown that writes the audit)
                os.kill(p.pid, signal.SIGTERM)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    while True:
        for i, p in enumerate(procs):
            p.join(timeout=0.5)
            if not p.is_alive() and not stopping:
                print(f"hipext web: worker {p.pid} exited ({p.exitcode}); starting another", file=sys.stderr)
                time.sleep(RESTART_PAUSE_S)
                procs[i] = start()
        if stopping and not any(p.is_alive() for p in procs):
            return
