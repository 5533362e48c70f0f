"""`python -m hipext.web --workers 2`: each worker listens on the port itself, so a burst of keep-alive connections is
spread over the workers (before, one worker took 48 of 50 and the other core idled); the supervisor builds no app;
a second server on the same port is refused instead of silently sharing it."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

SRC = Path(__file__).resolve().parents[2] / "src"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return out


def _established_on(pid: int, port: int) -> int:
    """How many established TCP connections to `port` the process holds (from /proc)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            f = line.split()
            if int(f[1].split(":")[1], 16) == port and f[3] == "01" and f[9] in inodes:
                count += 1
    return count


def _start(tmp: Path, port: int) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(SRC))
    env.pop("HIPEXT_DATABASE_URL", None)
    return subprocess.Popen(
        [sys.executable, "-m", "hipext.web", "--port", str(port), "--workers", "2"],
        env=env, cwd=tmp, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )


def _wait_up(proc: subprocess.Popen, port: int) -> None:
    deadline = time.monotonic() + 120
    while True:
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.2)


async def _burst(port: int, n: int) -> list[asyncio.StreamWriter]:
    """n keep-alive connections opened at once, each answered once and left open."""

    async def one() -> asyncio.StreamWriter:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(f"GET /health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
        await writer.drain()
        await reader.readuntil(b"\r\n\r\n")
        return writer

    return list(await asyncio.gather(*(one() for _ in range(n))))


def test_connections_are_spread_over_the_workers_and_the_port_is_not_shared(tmp_path: Path) -> None:
    port = _port()
    proc = _start(tmp_path, port)
    try:
        _wait_up(proc, port)
        serving = [w for w in _children(proc.pid) if b"resource_tracker" not in Path(f"/proc/{w}/cmdline").read_bytes()]
        assert len(serving) == 2

        async def check() -> list[int]:
            writers = await _burst(port, 40)
            try:
                return [_established_on(w, port) for w in serving]
            finally:
                for w in writers:
                    w.close()

        held = asyncio.run(check())
        assert sum(held) == 40 and min(held) >= 8, held  # both workers serve (a hash, so not exactly 20/20)
        assert _established_on(proc.pid, port) == 0  # the supervisor serves nothing
        second = _start(tmp_path, port)
        out, _ = second.communicate(timeout=60)
        assert second.returncode != 0 and "cannot listen" in out
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 0
