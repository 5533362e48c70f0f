"""Load benchmark of the clinic web app on loopback: 50 concurrent clients against the evaluation page and the
API evaluate call, on SQLite and on PostgreSQL. Starts and stops the server itself (`python -m hipext.web`).

    .venv/bin/python benchmarks/bench_web.py [--seconds 10] [--clients 50] [--only sqlite|postgresql]

PostgreSQL: $HIPEXT_BENCH_POSTGRES_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/test); a throwaway
schema is created and dropped. Prints requests per second, latency percentiles (goal p95 < 200 ms for the
evaluation page and the API evaluate call), the server's CPU time per request (all its processes, from /proc) and
the server's memory (PSS of all its processes, goal < 300 MiB in total); on a PostgreSQL on this machine also the
database backends' CPU time per request. --json for one JSON document.
"""

from __future__ import annotations

import asyncio
import contextlib
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
REQUEST_TIMEOUT_S = 30  # a request not answered by then counts as an error (the run always ends)
PG_URL = os.environ.get("HIPEXT_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(url: str, schema: str | None, workers: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""))
    cmd = [sys.executable, "-m", "hipext.web", "--port", str(port), "--database-url", url, "--workers", str(workers),
           "--demo"]  # a configured database gets the demo clinic only when asked
    if schema:
        cmd += ["--schema", schema]
    # Its own session: stopping it stops its workers too, even when the supervisor has to be killed.
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180  # migrations, demo seeding and each worker's warm-up, on a loaded machine
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
    try:
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(20)
    except subprocess.TimeoutExpired:
        pass
    except ProcessLookupError:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # the supervisor and any worker still there
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
    return sum(_process_cpu_s(p) for p in _tree(pid))


def _process_cpu_s(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class DatabaseCpu:
    """CPU seconds of the PostgreSQL backends serving the benchmark's server (found by the application_name its
    connections carry, in pg_stat_activity), when the database runs on this machine: it shares the CPUs with the
    server, so its work per request is part of the cost. Backends opened during a run count from zero."""

    def __init__(self, admin: Any, application_name: str) -> None:
        self.admin, self.application_name = admin, application_name

    def __call__(self) -> float:
        from sqlalchemy import text  # noqa: PLC0415 - PostgreSQL runs only

        with self.admin.connect() as conn:
            pids = conn.execute(text("SELECT pid FROM pg_stat_activity WHERE application_name = :n"),
                                {"n": self.application_name}).scalars().all()
        return sum(_process_cpu_s(p) for p in pids)


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


PATIENTS = 100  # saved for the many-patients page: each first read per worker is a stored evaluation


async def seed_patients(client: httpx.AsyncClient, csrf: str, case: dict[str, Any], n: int) -> list[int]:
    """n patients like DEMO-001 (body mass varied), saved through the API visit by visit: every saved visit is
    evaluated and its evaluation stored with the record, as in the clinic."""
    headers = {"X-CSRF-Token": csrf}
    tag = uuid.uuid4().hex[:6]
    ids = []
    for i in range(n):
        varied = _vary(case, i)
        body = {"patient": dict(varied["patient"], id=f"BENCH-{tag}-{i}"), "history": varied["history"]}
        r = await client.post("/api/patients", json=body, headers=headers)
        assert r.status_code == 201, r.text
        pid = r.json()["id"]
        for visit in case["visits"]:
            v = await client.post(f"/api/patients/{pid}/visits", json=visit, headers=headers)
            assert v.status_code == 201, v.text
        ids.append(pid)
    return ids


async def run_load(base: str, seconds: float, clients: int, cpu: Any = lambda: 0.0,
                   db_cpu: Any = None) -> dict[str, dict[str, float]]:
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        csrf = await login(client)
        pid = (await client.get("/api/patients", params={"q": "DEMO-001"})).json()[0]["id"]
        case = (await client.get(f"/api/patients/{pid}/case")).json()
        many = await seed_patients(client, csrf, case, PATIENTS)
        cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
    host, port = base.removeprefix("http://").split(":")
    json_headers = {"Content-Type": "application/json", "X-CSRF-Token": csrf}
    # 5000 distinct unsaved cases (body mass varied) so every posted request runs the whole evaluation.
    distinct = [json.dumps(_vary(case, i)).encode() for i in range(5000)]
    # (method, paths, bodies, headers, carries the p95 goal)
    targets = {
        "evaluation page  GET /patients/{id}/evaluation": ("GET", [f"/patients/{pid}/evaluation"], [b""], {}, True),
        f"evaluation page  GET /patients/{{id}}/evaluation ({PATIENTS} patients)": (
            "GET", [f"/patients/{i}/evaluation" for i in many], [b""], {}, True),
        "API evaluate     GET /api/patients/{id}/evaluation": (
            "GET", [f"/api/patients/{pid}/evaluation"], [b""], {}, True),
        f"API evaluate     GET /api/patients/{{id}}/evaluation ({PATIENTS} patients)": (
            "GET", [f"/api/patients/{i}/evaluation" for i in many], [b""], {}, True),
        "API evaluate     POST /api/evaluate (unsaved new cases)": (
            "POST", ["/api/evaluate"], distinct, json_headers, False),
    }
    out = {}
    for name, (method, paths, payloads, headers, goal) in targets.items():
        conns = [RawClient(host, int(port), cookie) for _ in range(clients)]
        for c in conns[:5]:  # warm-up
            assert await asyncio.wait_for(c.request(method, paths[0], payloads[0], headers), REQUEST_TIMEOUT_S) == 200
        counter = itertools.count()
        latencies: list[float] = []
        errors = 0
        stop_at = time.perf_counter() + seconds

        async def worker(  # the loop's values are bound as defaults: each endpoint gets its own workers
            c: RawClient,
            method: str = method,
            paths: list = paths,
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
                    n = next(counter)
                    payload, path = payloads[n % len(payloads)], paths[n % len(paths)]
                    ok = await asyncio.wait_for(c.request(method, path, payload, headers), REQUEST_TIMEOUT_S) == 200
                except (OSError, asyncio.IncompleteReadError, ValueError):  # OSError includes TimeoutError
                    ok = False
                    await c.close()
                    c.writer = None
                latencies.append(time.perf_counter() - t0)
                errors += not ok

        d0 = db_cpu() if db_cpu else 0.0
        t0, c0 = time.perf_counter(), cpu()
        await asyncio.gather(*(worker(c) for c in conns))
        elapsed, server_cpu = time.perf_counter() - t0, cpu() - c0
        database_cpu = db_cpu() - d0 if db_cpu else None
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
            "database_cpu_ms_per_request": (
                None if database_cpu is None else database_cpu * 1000 / max(1, len(latencies))),
            "goal": goal,
        }
    return out


def _vary(case: dict[str, Any], i: int) -> dict[str, Any]:
    return dict(case, patient=dict(case["patient"], body_mass_kg=round(55 + (i % 4000) * 0.01, 2), id=f"B-{i}"))


def bench(report: _bench.Report, label: str, url: str, schema: str | None, seconds: float, clients: int,
          workers: int, db_cpu: Any = None) -> None:
    proc, base = start_server(url, schema, workers)
    try:
        results = asyncio.run(run_load(base, seconds, clients, cpu=lambda: server_cpu_s(proc.pid), db_cpu=db_cpu))
        memory = server_memory_mib(proc.pid)
    finally:
        stop_server(proc)
    for name, r in results.items():
        goal = bool(r["goal"])  # the page and the API call on saved patients; unsaved cases are bench_evaluate's
        report.figure(f"{label} {name} p95", r["p95_ms"], "ms", goal="< 200 ms" if goal else "",
                      met=r["p95_ms"] < 200 if goal else None,
                      note=f"p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms, {r['rps']:.1f} req/s, "
                           f"n={r['requests']}, errors={r['errors']}")
        report.figure(f"{label} {name} server CPU per request", r["server_cpu_ms_per_request"], "ms")
        if r["database_cpu_ms_per_request"] is not None:
            report.figure(f"{label} {name} database CPU per request", r["database_cpu_ms_per_request"], "ms",
                          note="PostgreSQL backends on this machine, same CPUs")
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
        # Its connections carry a name of their own, so that the database's CPU for them can be read (local only).
        tag = f"hipext-bench-{uuid.uuid4().hex[:8]}"
        url = PG_URL + ("&" if "?" in PG_URL else "?") + f"application_name={tag}"
        local = admin.url.host in (None, "", "localhost", "127.0.0.1", "::1")
        try:
            bench(report, "postgresql", url, schema, args.seconds, args.clients, args.workers,
                  db_cpu=DatabaseCpu(admin, tag) if local else None)
        finally:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()
    report.emit(args.json)


if __name__ == "__main__":
    main()
