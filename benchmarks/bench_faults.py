"""Faults on loopback: kill -9 in the middle of bursts of writes, and a flood of sign-in posts.

1. Durability: a real server (`python -m hipext.web`) takes concurrent `POST /api/patients` from 8 clients; after a
   random moment it is killed with SIGKILL. Every write the server acknowledged (201) must be in the database after
   the crash, and the audit chain must still verify. Rounds on SQLite and on PostgreSQL. Target: 0 lost.
2. Availability: 16 clients post sign-ins as fast as they can, each from a different address (X-Forwarded-For from
   the loopback proxy, so no address throttle stops them: every post costs a full Argon2 check), while /health is
   timed. Production Argon2 parameters. Target: /health p95 under 50 ms.

    .venv/bin/python benchmarks/bench_faults.py [--rounds 3] [--seconds 15] [--only sqlite|postgresql]

PostgreSQL: $HIPEXT_BENCH_POSTGRES_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/test); a throwaway
schema is created and dropped. Only loopback addresses are contacted.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx
from sqlalchemy import create_engine, select, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
PG_URL = os.environ.get("HIPEXT_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")

from hipext.store import audit_chain, make_engine, migrate, repo, session_factory  # noqa: E402
from hipext.store.models import Patient  # noqa: E402

sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_web import start_server  # noqa: E402


def start(url: str, schema: str | None) -> tuple[subprocess.Popen, str]:
    """The server as `bench_web` starts it (one worker), with production Argon2 parameters."""
    os.environ.pop("HIPEXT_ARGON2_FAST_FOR_TESTS", None)
    return start_server(url, schema, 1)


def prepare(url: str, schema: str | None) -> tuple[str, int]:
    """Schema, a clinic and a clinician with an API token; returns (token, clinic id)."""
    engine = make_engine(url, schema=schema)
    migrate(engine)
    token = secrets.token_urlsafe(32)
    with session_factory(engine)() as s:
        clinic = repo.get_or_create_clinic(s, f"Fault clinic {uuid.uuid4().hex[:6]}")
        user = repo.create_user(s, clinic, f"fault-{uuid.uuid4().hex[:6]}", "fault-bench-passphrase", role="clinician")
        user.api_token_hash = repo.sha256(token)
        s.commit()
        clinic_id = clinic.id
    engine.dispose()
    return token, clinic_id


def crash_round(url: str, schema: str | None, token: str, clinic_id: int, rng: random.Random) -> tuple[int, int, int]:
    """One burst of writes ended by SIGKILL. Returns (acknowledged, lost, refused-or-cut)."""
    proc, base = start(url, schema)
    acked: list[str] = []
    failed = [0]
    stop = threading.Event()

    def writer(n: int) -> None:
        with httpx.Client(base_url=base, timeout=10, headers={"Authorization": f"Bearer {token}"}) as c:
            i = 0
            while not stop.is_set():
                ext = f"K-{n}-{i}-{uuid.uuid4().hex[:6]}"
                body = {"patient": {"id": ext, "age": 40, "sex": "female", "body_mass_kg": 65}}
                try:
                    r = c.post("/api/patients", json=body)
                except httpx.HTTPError:
                    failed[0] += 1  # the connection died with the server: not acknowledged
                    return
                if r.status_code == 201:
                    acked.append(ext)
                else:
                    failed[0] += 1
                i += 1

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    time.sleep(rng.uniform(3.0, 6.0))
    os.kill(proc.pid, signal.SIGKILL)  # mid-burst
    proc.wait()
    stop.set()
    for t in threads:
        t.join()
    engine = make_engine(url, schema=schema)
    with session_factory(engine)() as s:
        stored = set(s.scalars(select(Patient.external_id).where(Patient.clinic_id == clinic_id)))
    broken = [r for r in audit_chain.verify(engine) if r.broken]
    engine.dispose()
    if broken:
        print(f"    audit chain broken after the crash: {broken[0].broken}")
    return len(acked), len([e for e in acked if e not in stored]), failed[0]


def durability(kind: str, rounds: int) -> tuple[int, int]:
    rng = random.Random(7)
    if kind == "sqlite":
        url, schema, cleanup = f"sqlite:///{tempfile.mkdtemp()}/faults.sqlite3", None, None
    else:
        url, schema = PG_URL, f"hipext_faults_{uuid.uuid4().hex[:8]}"
        admin = create_engine(PG_URL)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        cleanup = admin
    try:
        token, clinic_id = prepare(url, schema)
        total_acked = total_lost = 0
        for i in range(rounds):
            acked, lost, cut = crash_round(url, schema, token, clinic_id, rng)
            total_acked += acked
            total_lost += lost
            print(f"  {kind} round {i + 1}: {acked} writes acknowledged before kill -9, {lost} lost, {cut} cut off")
        return total_acked, total_lost
    finally:
        if cleanup is not None:
            with cleanup.begin() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            cleanup.dispose()


def login_flood(seconds: float, clients: int = 16) -> dict[str, float]:
    url = f"sqlite:///{tempfile.mkdtemp()}/flood.sqlite3"
    prepare(url, None)
    proc, base = start(url, None)
    stop = time.monotonic() + seconds
    codes: dict[int, int] = {}

    def flood(n: int) -> None:
        with httpx.Client(base_url=base, timeout=60) as c:
            i = 0
            while time.monotonic() < stop:
                addr = f"198.51.{100 + n % 2}.{(n * 97 + i) % 250 + 1}"  # a different address every post
                i += 1
                try:
                    page = c.get("/login", headers={"X-Forwarded-For": addr})
                    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
                    r = c.post(
                        "/login",
                        headers={"X-Forwarded-For": addr},
                        data={"username": f"nobody-{n}-{i}", "password": "guess", "csrf_token": token},
                    )
                    codes[r.status_code] = codes.get(r.status_code, 0) + 1
                except httpx.HTTPError:
                    codes[0] = codes.get(0, 0) + 1

    try:
        idle = []
        with httpx.Client(base_url=base, timeout=30) as c:
            for _ in range(50):
                t0 = time.perf_counter()
                c.get("/health")
                idle.append(time.perf_counter() - t0)
        threads = [threading.Thread(target=flood, args=(n,)) for n in range(clients)]
        for t in threads:
            t.start()
        time.sleep(1)
        busy = []
        with httpx.Client(base_url=base, timeout=30) as c:
            while time.monotonic() < stop:
                t0 = time.perf_counter()
                assert c.get("/health").status_code == 200
                busy.append(time.perf_counter() - t0)
                time.sleep(0.02)
        for t in threads:
            t.join()
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(20)
    q = statistics.quantiles(busy, n=20)
    return {
        "idle_median_ms": statistics.median(idle) * 1000,
        "median_ms": statistics.median(busy) * 1000,
        "p95_ms": q[18] * 1000,
        "samples": len(busy),
        "posts": sum(codes.values()),
        "codes": codes,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=15)
    ap.add_argument("--only", choices=["sqlite", "postgresql"], help="one database for the kill -9 part")
    ap.add_argument("--part", choices=["all", "crash", "flood"], default="all")
    args = ap.parse_args()
    if args.part in ("all", "crash"):
        print("kill -9 during bursts of writes (8 clients, POST /api/patients); goal: 0 acknowledged writes lost")
        for kind in [args.only] if args.only else ["sqlite", "postgresql"]:
            acked, lost = durability(kind, args.rounds)
            print(f"{kind}: {acked} acknowledged, {lost} lost  [{'OK' if lost == 0 else 'FAIL'}: goal 0]")
    if args.part == "crash":
        return
    print(
        f"\n/health during {args.seconds:.0f} s of 16 parallel sign-in posts (each a full Argon2 check); "
        "goal p95 < 50 ms"
    )
    r = login_flood(args.seconds)
    print(
        f"  idle median {r['idle_median_ms']:.1f} ms; during the flood median {r['median_ms']:.1f} ms, "
        f"p95 {r['p95_ms']:.1f} ms over {r['samples']} probes; {r['posts']} sign-in posts answered {r['codes']}"
    )
    print(f"login flood: /health p95 {r['p95_ms']:.1f} ms  [{'OK' if r['p95_ms'] < 50 else 'FAIL'}: goal < 50 ms]")


if __name__ == "__main__":
    main()
