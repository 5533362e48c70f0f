"""Schema-driven fuzzing of the JSON API (schemathesis over the app's own OpenAPI document), authenticated with a
bearer token, on SQLite and on PostgreSQL: whatever the generated request, no server error (5xx).

Bounded: a fixed number of derandomised examples per operation, so a backend's run takes well under two minutes.
"""

from __future__ import annotations

import secrets

import schemathesis
from hypothesis import HealthCheck, given, settings

from hipext.store import repo

from .conftest import add_patient

EXAMPLES_PER_OPERATION = 40


def test_api_never_answers_with_a_server_error(world) -> None:
    token = secrets.token_urlsafe(32)
    with world.session() as s:
        user = repo.user_by_username(s, world.clinics["A"]["users"]["clinician"])
        user.api_token_hash = repo.sha256(token)
        s.commit()
    pid = add_patient(world, "A", visits=2)
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", world.app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 7
    seen: dict[str, set[int]] = {}
    client = world.client()  # one client for the run (no lifespan per call), like a real API consumer
    for op in operations:
        fuzz_operation(client, op, token, pid, seen)
    assert len(seen) == len(operations)


def fuzz_operation(client, op, token: str, pid: int, seen: dict[str, set[int]]) -> None:  # noqa: ANN001
    @given(case=op.as_strategy())
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case) -> None:  # noqa: ANN001
        if "pid" in (case.path_parameters or {}):
            case.path_parameters["pid"] = pid  # a real patient of the caller's clinic: bodies reach the store
        request = case.as_transport_kwargs(base_url="http://testserver", headers={"Authorization": f"Bearer {token}"})
        request.pop("cookies", None)  # none are generated: the API is bearer-authenticated here
        response = client.request(**request)
        seen.setdefault(f"{op.method.upper()} {op.path}", set()).add(response.status_code)
        assert response.status_code < 500, (op.method, op.path, case.body, response.text[:500])

    run()
