"""Issue 10, items 2, 8 and 12: input that used to crash or exhaust the server.

FHIR downloads for any patient id (CJK, emoji, right-to-left, CRLF, quotes); NaN, Infinity, unpaired surrogates and
NUL in JSON bodies; request bodies over the route's limit; the evaluation cache; /health and start-up against a
database that does not answer.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import unquote

import pytest
from starlette.testclient import TestClient

from hipext.store import make_engine
from hipext.web import create_app

from .conftest import EXAMPLE_HISTORY, EXAMPLE_PATIENT, csrf_of, example_visit

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def api(world):
    c = world.login(world.clinics["A"]["users"]["clinician"])
    c.headers["X-CSRF-Token"] = csrf_of(c)
    return c


def strict_json(text: str):  # noqa: ANN201
    def no_constant(name: str) -> None:
        raise AssertionError(f"{name} in a response")

    return json.loads(text, parse_constant=no_constant)


@pytest.mark.parametrize(
    "external_id",
    ["患者-001", "😀🦴-7", "מטופל-3", "مريض-٤", "P\r\nSet-Cookie: a=1", 'P"; filename="evil.sh', "P\tx\\y;z"],
)
def test_fhir_download_for_any_patient_id(world, api, external_id: str) -> None:
    unique = f"{external_id}-{uuid.uuid4().hex[:4]}"
    r = api.post("/api/patients", json={"patient": dict(EXAMPLE_PATIENT, id=unique), "history": EXAMPLE_HISTORY})
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    api.post(f"/api/patients/{pid}/visits", json=example_visit("2026-11-01"))
    r = api.get(f"/api/patients/{pid}/fhir")
    assert r.status_code == 200 and r.json()["resourceType"] == "Bundle"
    header = r.headers["content-disposition"]
    assert not re.search(r"[\r\n\x00]", header)
    params = dict(re.findall(r';\s*([\w*]+)=("(?:[^"\\]|\\.)*"|[^;]*)', header))
    assert header.startswith("attachment;") and list(params) == ["filename", "filename*"]  # nothing injected
    assert unquote(params["filename*"].removeprefix("UTF-8''")) == re.sub(r"[\r\n\t]", "_", f"{unique}-fhir.json")
    assert params["filename"].isascii() and params["filename"].endswith('-fhir.json"')


@pytest.mark.parametrize(
    "body",
    [
        '{"hipext_case": 1, "patient": {"id": "N", "age": NaN, "sex": "male", "body_mass_kg": 70}, "visits": []}',
        '{"hipext_case": 1, "patient": {"id": "I", "age": 40, "sex": "male", "body_mass_kg": Infinity}, "visits": []}',
        '{"hipext_case": 1, "patient": {"id": "I", "age": 40, "sex": "male", "body_mass_kg": -Infinity}}',
        '{"hipext_case": 1, "patient": {"id": "S\\ud800", "age": 40, "sex": "male", "body_mass_kg": 70}}',
        '{"hipext_case": 1, "patient": {"id": "Z\\u0000", "age": 40, "sex": "male", "body_mass_kg": 70}}',
        '{"hipext_case": 1, "patient": {"id": "\\udfff", "age": "\\ud83d", "sex": NaN}}',
    ],
)
@pytest.mark.parametrize("path", ["/api/evaluate", "/api/patients"])
def test_non_json_values_are_a_422_never_a_500(world, api, body: str, path: str) -> None:
    if path == "/api/patients":
        body = '{"patient": ' + body.split('"patient": ', 1)[1].rsplit(', "visits"', 1)[0].rstrip("}") + "}}"
    r = api.post(path, content=body.encode(), headers={"content-type": "application/json"})
    assert r.status_code == 422, (path, body, r.status_code, r.text)
    problems = strict_json(r.text)["problems"]
    assert problems and all("expected" in p for p in problems)


def test_a_problem_list_echoing_nan_is_json(world, api) -> None:
    """A NaN that reaches the case validator (here from a JSON number too large for a float) is echoed as text."""
    case = {"hipext_case": 1, "patient": dict(EXAMPLE_PATIENT), "visits": [example_visit("2026-11-01")]}
    text = json.dumps(case).replace('"lever_arm_m": 0.38', '"lever_arm_m": 1e999')
    r = api.post("/api/evaluate", content=text.encode(), headers={"content-type": "application/json"})
    assert r.status_code == 422
    strict_json(r.text)


def test_bodies_over_the_route_limit_get_413(world, api) -> None:
    big_case = {"hipext_case": 1, "patient": EXAMPLE_PATIENT, "visits": [], "pad": "x" * (3 * 2**20)}
    r = api.post("/api/evaluate", json=big_case)
    assert r.status_code == 413 and "at most 2 MiB" in r.json()["detail"]

    def chunks():  # no Content-Length: the body is cut off as it streams
        yield b'{"hipext_case": 1, "pad": "'
        for _ in range(40):
            yield b"y" * 2**16
        yield b'"}'

    r = api.post("/api/evaluate", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413 and "at most 2 MiB" in r.json()["detail"]
    r = api.post("/patients/new", data={"csrf_token": api.headers["X-CSRF-Token"], "notes": "z" * 300_000})
    assert r.status_code == 413 and "Too large" in r.text
    r = world.client().post("/login", data={"username": "u", "password": "p" * 40_000})
    assert r.status_code == 413


def test_unsaved_evaluations_are_not_cached(world, api) -> None:
    cache = world.app.state.cache
    before = len(cache)
    for i in range(12):
        case = {
            "hipext_case": 1,
            "patient": dict(EXAMPLE_PATIENT, id=f"UNSAVED-{i}"),
            "history": EXAMPLE_HISTORY,
            "visits": [example_visit("2026-11-01")],
        }
        assert api.post("/api/evaluate", json=case).status_code == 200
    assert len(cache) == before


def test_evaluation_cache_is_bounded_in_bytes() -> None:
    from hipext.web.services import EvaluationCache

    cache = EvaluationCache(max_bytes=200_000)
    for i in range(100):
        cache.get_or_compute(f"k{i}", lambda: "x" * 10_000)  # each entry about 20 kB
    assert cache.bytes <= 200_000 and 5 <= len(cache) <= 10
    assert cache.get_or_compute("huge", lambda: "y" * 60_000) and "huge" not in cache._data  # > a quarter: not kept


def test_health_checks_the_database(world, tmp_path) -> None:
    r = world.client().get("/health")
    assert r.status_code == 200 and r.json() == {"status": "ok", "database": "ok"}
    app = create_app(f"sqlite:///{tmp_path / 'h.sqlite3'}")
    app.state.engine.dispose()
    app.state.engine = make_engine("postgresql://nobody@127.0.0.1:9/none")  # nothing listens on port 9
    r = TestClient(app).get("/health")
    assert r.status_code == 503 and r.json()["status"] == "degraded"


@pytest.mark.parametrize("args", [["-m", "hipext.web"], ["-m", "hipext.store", "upgrade"]])
def test_start_up_against_an_unreachable_database_is_one_clear_line(args: list[str]) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    r = subprocess.run(
        [sys.executable, *args, "--database-url", "postgresql://hipext@127.0.0.1:9/clinic"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env=env,
    )
    assert r.returncode == 2
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert lines[0].startswith("hipext: cannot use the database postgresql+psycopg://hipext@127.0.0.1:9/clinic")


def _body_routes(routes: list) -> list:
    """Every route of the app that accepts a body (routers included into the app are walked too)."""
    from fastapi.routing import APIRoute

    found = []
    for r in routes:
        inner = getattr(r, "original_router", None)
        if inner is not None:
            found += _body_routes(inner.routes)
        elif isinstance(r, APIRoute) and r.methods - {"GET", "HEAD", "OPTIONS"}:
            found.append(r)
    return found


def test_every_route_that_takes_a_body_has_its_limit_and_refuses_more(world) -> None:
    """Each route is listed in web/limits.py (not left to the catch-all), and a body one byte over its limit is
    refused with 413 before it is read, whoever sends it."""
    import re

    from hipext.web.limits import DEFAULT_LIMITS, BodyLimit

    limits = BodyLimit(None)
    routes = _body_routes(world.app.routes)
    assert len(routes) >= 25  # forms, uploads, the API: the walk found them
    c = world.client()
    for route in routes:
        path = re.sub(r"\{[^}]+\}", "1", route.path)
        entry = next(i for i, (pattern, _) in enumerate(DEFAULT_LIMITS) if re.search(pattern, path))
        assert DEFAULT_LIMITS[entry][0], f"{route.path} has no entry of its own in web/limits.py"
        limit = limits.limit_for(path)
        for method in route.methods - {"GET", "HEAD", "OPTIONS"}:
            r = c.request(method, path, content=b"x" * (limit + 1), headers={"content-type": "application/json"})
            assert r.status_code == 413, f"{method} {route.path}: {r.status_code}"
