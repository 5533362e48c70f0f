"""Load benchmark of the clinic web app on loopback: 50 concurrent clients against the evaluation page and the
API evaluate call, on SQLite and on PostgreSQL. Starts and stops the server itself (`python -m hipext.web`).

    .venv/bin/python benchmarks/bench_web.py [--seconds 10] [--clients 50] [--only sqlite|postgresql]

PostgreSQL: $HIPEXT_BENCH_POSTGRES_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/test); a throwaway
schema is created and dropped. Prints requests per second, latency percentiles (goal p95 < 200 ms for the
evaluation page and the API evaluate call), the server's CPU time per request (all its processes, from /proc) and
the server's memory (PSS of all its processes, goal < 300 MiB in total). --json for one JSON document.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import _bench
import httpx

ROOT = Path(__file__).resolve().parents[1]
PG_URL = os.environ.get("HIPEXT_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(url: str, schema: str | None, workers: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""))
    cmd = [sys.executable, "-m", "hipext.web", "--port", str(port), "--database-url", url, "--workers", str(workers)]
    if schema:
        cmd += ["--schema", schema]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stdout.read() if proc.stdout else ''}")
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("server did not start")


def stop_server(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class RawClient:
    """A minimal HTTP/1.1 keep-alive client: the load generator shares the 2 cores with the server, so it must be
    cheap (httpx costs about as much CPU per request as the server does)."""

    def __init__(self, host: str, port: int, cookie: str) -> None:
        self.host, self.port, self.cookie = host, port, cookie
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        head = [
            f"{method} {path} HTTP/1.1",
            f"Host: {self.host}:{self.port}",
            f"Cookie: {self.cookie}",
            f"Content-Length: {len(body)}",
        ]
        head += [f"{k}: {v}" for k, v in (headers or {}).items()]
        self.writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        await self.writer.drain()
        raw = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length = next(int(x.split(":", 1)[1]) for x in lines[1:] if x.lower().startswith("content-length:"))
        await self.reader.readexactly(length)
        return status

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def login(client: httpx.AsyncClient) -> str:
    page = await client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    r = await client.post("/login", data={"username": "demo", "password": "demo-clinician-2026", "csrf_token": token})
    assert r.status_code == 303, r.text
    account = await client.get("/account")
    return re.search(r'name="csrf_token" value="([^"]+)"', account.text).group(1)


def _tree(pid: int) -> list[int]:
    """pid and all its descendants (Linux /proc)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        for task in Path(f"/proc/{p}/task").glob("*"):
            try:
                todo += [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                pass
    return out


def server_cpu_s(pid: int) -> float:
    """User + system CPU seconds of the server and its worker processes."""
    total = 0.0
    for p in _tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def server_memory_mib(pid: int) -> float:
    """Proportional set size (shared pages split between processes) of the server and its workers, MiB."""
    total = 0
    for p in _tree(pid):
        try:
            for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


async def run_load(base: str, seconds: float, clients: int, cpu: Any = lambda: 0.0) -> dict[str, dict[str, float]]:
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        csrf = await login(client)
        pid = (await client.get("/api/patients", params={"q": "DEMO-001"})).json()[0]["id"]
        case = (await client.get(f"/api/patients/{pid}/case")).json()
        cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
    host, port = base.removeprefix("http://").split(":")
    json_headers = {"Content-Type": "application/json", "X-CSRF-Token": csrf}
    # The same case every time (evaluations are cached: a pure function of the case), and 5000 distinct cases
    # (body mass varied) so every request runs the whole evaluation.
    same = [json.dumps(case).encode()]
    distinct = [json.dumps(_vary(case, i)).encode() for i in range(5000)]
    targets = {
        "evaluation page  GET /patients/{id}/evaluation": ("GET", f"/patients/{pid}/evaluation", [b""], {}),
        "API evaluate     POST /api/evaluate (same case)": ("POST", "/api/evaluate", same, json_headers),
        "API evaluate     POST /api/evaluate (new cases)": ("POST", "/api/evaluate", distinct, json_headers),
    }
    out = {}
    for name, (method, path, payloads, headers) in targets.items():
        conns = [RawClient(host, int(port), cookie) for _ in range(clients)]
        for c in conns[:5]:  # warm-up
            assert await c.request(method, path, payloads[0], headers) == 200
        counter = itertools.count()
        latencies: list[float] = []
        errors = 0
        stop_at = time.perf_counter() + seconds

        async def worker(  # the loop's values are bound as defaults: each endpoint gets its own workers
            c: RawClient,
            method: str = method,
            path: str = path,
            payloads: list = payloads,
            counter: Any = counter,
            headers: dict = headers,
            stop_at: float = stop_at,
            latencies: list = latencies,
        ) -> None:
            nonlocal errors
            while time.perf_counter() < stop_at:
                t0 = time.perf_counter()
                try:
                    payload = payloads[next(counter) % len(payloads)]
                    ok = await c.request(method, path, payload, headers) == 200
                except (OSError, asyncio.IncompleteReadError, ValueError):
                    ok = False
                    await c.close()
                    c.writer = None
                latencies.append(time.perf_counter() - t0)
                errors += not ok

        t0, c0 = time.perf_counter(), cpu()
        await asyncio.gather(*(worker(c) for c in conns))
        elapsed, server_cpu = time.perf_counter() - t0, cpu() - c0
        for c in conns:
            await c.close()
        q = statistics.quantiles(latencies, n=100)
        out[name] = {
            "requests": len(latencies),
            "rps": len(latencies) / elapsed,
            "p50_ms": q[49] * 1000,
            "p95_ms": q[94] * 1000,
            "p99_ms": q[98] * 1000,
            "errors": errors,
            "server_cpu_ms_per_request": server_cpu * 1000 / max(1, len(latencies)),
        }
    return out


def _vary(case: dict[str, Any], i: int) -> dict[str, Any]:
    return dict(case, patient=dict(case["patient"], body_mass_kg=round(55 + (i % 4000) * 0.01, 2), id=f"B-{i}"))


def bench(report: _bench.Report, label: str, url: str, schema: str | None, seconds: float, clients: int,
          workers: int) -> None:
    proc, base = start_server(url, schema, workers)
    try:
        results = asyncio.run(run_load(base, seconds, clients, cpu=lambda: server_cpu_s(proc.pid)))
        memory = server_memory_mib(proc.pid)
    finally:
        stop_server(proc)
    for name, r in results.items():
        goal = "new cases" not in name  # the page and the API call on a saved case carry the goal
        report.figure(f"{label} {name} p95", r["p95_ms"], "ms", goal="< 200 ms" if goal else "",
                      met=r["p95_ms"] < 200 if goal else None,
                      note=f"p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms, {r['rps']:.1f} req/s, "
                           f"n={r['requests']}, errors={r['errors']}")
        report.figure(f"{label} {name} server CPU per request", r["server_cpu_ms_per_request"], "ms")
    report.figure(f"{label} server memory, all processes (PSS)", memory, "MiB", goal="< 300 MiB", met=memory < 300)


def main() -> None:
    ap = _bench.parser(__doc__)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--only", choices=["sqlite", "postgresql"])
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="server worker processes")
    args = ap.parse_args()
    report = _bench.Report("web under load", context={
        "load": f"{args.clients} concurrent clients, {args.seconds:g} s per endpoint, {args.workers} server "
                "worker(s), server and clients on loopback (sharing the CPUs)"})
    if args.only in (None, "sqlite"):
        with tempfile.TemporaryDirectory() as tmp:
            bench(report, "sqlite", f"sqlite:///{tmp}/bench.sqlite3", None, args.seconds, args.clients,
                  args.workers)
    if args.only in (None, "postgresql"):
        from sqlalchemy import create_engine, text

        schema = f"hipext_bench_{uuid.uuid4().hex[:8]}"
        admin = create_engine(PG_URL)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        try:
            bench(report, "postgresql", PG_URL, schema, args.seconds, args.clients, args.workers)
        finally:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()
    report.emit(args.json)


if __name__ == "__main__":
    main()
