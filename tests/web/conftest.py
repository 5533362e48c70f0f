"""Fixtures for the web tests: one app per database backend (SQLite file, PostgreSQL schema), a movable clock,
and two clinics with an admin, a clinician and a read-only user each."""

from __future__ import annotations

import datetime as dt
import os
import re
import sys
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
if str(SRC) not in sys.path:
    sys.path.insert(0, str(SRC))

warnings.filterwarnings("ignore", message=".*httpx.*")

from sqlalchemy import create_engine, text  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402

from hipext.store import repo  # noqa: E402
from hipext.web import create_app  # noqa: E402
from hipext.web.config import Settings  # noqa: E402

PG_URL = os.environ.get("HIPEXT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
PASSWORD = "correct-horse-battery"
BACKENDS = ["sqlite", "postgresql"]


class Clock:
    """A clock tests can move forward; starts at the real time."""

    def __init__(self) -> None:
        self.offset = dt.timedelta(0)

    def __call__(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + self.offset

    def advance(self, **kw: float) -> None:
        self.offset += dt.timedelta(**kw)

    def reset(self) -> None:
        self.offset = dt.timedelta(0)


@pytest.fixture(scope="session")
def pg_schema() -> Any:
    """A fresh PostgreSQL schema for this test session, dropped afterwards. No server is a failure, not a skip."""
    schema = f"hipext_test_{uuid.uuid4().hex[:10]}"
    try:
        engine = create_engine(PG_URL)
        with engine.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # noqa: BLE001
        pytest.fail(f"PostgreSQL at {PG_URL} is required for these tests and is not reachable: {exc}")
    yield schema
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    engine.dispose()


@dataclass
class Backend:
    name: str
    url: str
    schema: str | None


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Backend:
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("db") / "web.sqlite3"
        return Backend("sqlite", f"sqlite:///{path}", None)
    return Backend("postgresql", PG_URL, request.getfixturevalue("pg_schema"))


@dataclass
class World:
    app: Any
    clock: Clock
    backend: Backend
    clinics: dict[str, dict[str, Any]]

    def client(self) -> TestClient:
        return TestClient(self.app, raise_server_exceptions=False)

    def login(self, username: str, password: str = PASSWORD) -> TestClient:
        c = self.client()
        login(c, username, password)
        return c

    def session(self) -> Any:
        return self.app.state.sessionmaker()


def own_database(db: str, tmp_path: Path, request: pytest.FixtureRequest, name: str) -> tuple[str, str | None]:
    """A database of its own for a server a test starts: a SQLite file, or a new PostgreSQL schema that is dropped
    when the test ends. Returns the URL and the schema."""
    if db == "sqlite":
        return f"sqlite:///{tmp_path / f'{name}.sqlite3'}", None
    schema = f"{request.getfixturevalue('pg_schema')}_{name}"
    admin = create_engine(PG_URL)

    def drop() -> None:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))

    drop()
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    request.addfinalizer(admin.dispose)
    request.addfinalizer(drop)  # runs first
    return PG_URL, schema


def login(c: TestClient, username: str, password: str = PASSWORD) -> Any:
    page = c.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    return c.post(
        "/login", data={"username": username, "password": password, "csrf_token": token}, follow_redirects=False
    )


def csrf_of(c: TestClient) -> str:
    page = c.get("/account")
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


EXAMPLE_PATIENT = {
    "id": "P-1",
    "age": 34,
    "sex": "male",
    "body_mass_kg": 78,
    "height_m": 1.8,
    "activity_level": "competitive_sport",
    "goals": ["return to sprinting"],
}
EXAMPLE_HISTORY = {
    "involved_side": "right",
    "conditions": ["hamstring_strain"],
    "red_flags": {"saddle_anaesthesia": False, "night_pain": False},
}


def example_visit(date: str, right: list[float] = (182, 190, 186), left: list[float] = (210, 214, 205)) -> dict:
    return {
        "date": date,
        "measurements": [
            {
                "test": "hhd_hip_extension_prone_knee_flexed",
                "side": "right",
                "trials_n": list(right),
                "lever_arm_m": 0.38,
                "fixation": "belt",
            },
            {
                "test": "hhd_hip_extension_prone_knee_flexed",
                "side": "left",
                "trials_n": list(left),
                "lever_arm_m": 0.38,
                "fixation": "belt",
            },
            {"test": "single_leg_bridge", "side": "right", "reps": 18},
            {"test": "single_leg_bridge", "side": "left", "reps": 27},
            {"test": "nprs", "context": "worst_24h", "value": 4},
        ],
    }


def add_patient(
    world: World, clinic: str, external_id: str | None = None, visits: int = 1, history: dict | None = None
) -> int:
    """Create a patient in a clinic directly in the store; returns its server id."""
    external_id = external_id or f"P-{uuid.uuid4().hex[:8]}"
    with world.session() as s:
        row = repo.create_patient(
            s, world.clinics[clinic]["id"], dict(EXAMPLE_PATIENT, id=external_id), dict(history or EXAMPLE_HISTORY)
        )
        for i in range(visits):
            d = (dt.date.today() - dt.timedelta(days=14 * (visits - i))).isoformat()
            repo.add_visit(s, row, example_visit(d, right=[180 + 20 * i, 185 + 20 * i]), user_id=None)
        s.commit()
        return row.id


@pytest.fixture(scope="session")
def world(backend: Backend) -> World:
    clock = Clock()
    app = create_app(backend.url, schema=backend.schema, settings=Settings(clock=clock))
    clinics: dict[str, dict[str, Any]] = {}
    with app.state.sessionmaker() as s:
        for key in ("A", "B"):
            tag = uuid.uuid4().hex[:6]
            clinic = repo.get_or_create_clinic(s, f"Clinic {key} {tag}")
            users = {}
            for role in ("admin", "clinician", "read_only"):
                u = repo.create_user(s, clinic, f"{key.lower()}-{role}-{tag}", PASSWORD, role=role)
                users[role] = u.username
            clinics[key] = {"id": clinic.id, "users": users}
        s.commit()
    w = World(app, clock, backend, clinics)
    yield w
    app.state.engine.dispose()


@pytest.fixture()
def clock(world: World) -> Clock:
    world.clock.reset()
    yield world.clock
    world.clock.reset()
