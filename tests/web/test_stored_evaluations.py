"""Evaluations stored with the record (issue 12): computed when a visit is saved, served from the store while the
data version and the record are unchanged, recomputed when either changes, and still clinic-scoped and audited."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import update

from hipext.app import evaluate_case
from hipext.store import repo
from hipext.store.models import StoredEvaluation, Visit
from hipext.web import services, stored_evaluations

from .conftest import add_patient, csrf_of, example_visit


class Counting:
    """The real engine, counting its calls (one identity, so the evaluation version stays the same across calls)."""

    calls = 0

    def __call__(self, case: Any, **kw: Any) -> Any:
        type(self).calls += 1
        return evaluate_case(case, **kw)


@pytest.fixture()
def counted(world):
    """The app evaluates through a counting engine with empty memory caches; restored afterwards."""
    state = world.app.state
    saved = (state.settings.evaluator, state.cache, state.fragments)
    Counting.calls = 0
    state.settings.evaluator = Counting()
    forget_memory(world)
    yield Counting
    world.app.state.evaluations.flush()
    state.settings.evaluator, state.cache, state.fragments = saved


def forget_memory(world) -> None:
    """What a restart, or another worker process, sees: nothing in memory, only the database."""
    world.app.state.evaluations.flush()
    world.app.state.cache = services.EvaluationCache()
    world.app.state.fragments = services.EvaluationCache()


@pytest.fixture()
def api(world):
    c = world.login(world.clinics["A"]["users"]["clinician"])
    c.headers["X-CSRF-Token"] = csrf_of(c)
    return c


def stored(world, pid: int) -> StoredEvaluation | None:
    world.app.state.evaluations.flush()
    with world.session() as s:
        return s.get(StoredEvaluation, pid)


def new_visit(api, pid: int, date: str, right: tuple[float, ...] = (200, 205, 210)) -> int:
    r = api.post(f"/api/patients/{pid}/visits", json=example_visit(date, right=list(right)))
    assert r.status_code == 201, r.text
    return r.json()["id"]


def test_a_saved_visit_is_evaluated_once_and_served_from_the_store(world, api, counted) -> None:
    pid = add_patient(world, "A", visits=1)
    new_visit(api, pid, dt.date.today().isoformat())
    assert counted.calls == 1  # computed when the visit was saved
    row = stored(world, pid)
    assert row is not None and row.clinic_id == world.clinics["A"]["id"]
    assert row.version == stored_evaluations.evaluation_version(world.app.state.settings.evaluator)
    forget_memory(world)  # as another worker, or after a restart
    doc = api.get(f"/api/patients/{pid}/evaluation")
    assert doc.status_code == 200 and doc.content == row.document.encode()  # the stored bytes, as they are
    assert doc.json()["as_of"] == dt.date.today().isoformat()
    forget_memory(world)
    page = api.get(f"/patients/{pid}/evaluation")
    assert page.status_code == 200 and "Program" in page.text
    for path in (f"/patients/{pid}/program", f"/patients/{pid}/handout", f"/patients/{pid}"):
        forget_memory(world)
        assert api.get(path).status_code == 200
    assert counted.calls == 1  # every read came from the store
    with world.session() as s:
        actions = [e.action for e in repo.audit_events(s, world.clinics["A"]["id"], patient_id=pid)]
    assert actions.count("evaluation.view") == 2  # reads from the store are audited as before


def test_a_new_data_version_recomputes_the_stored_evaluation(world, api, counted, monkeypatch) -> None:
    pid = add_patient(world, "A", visits=1)
    new_visit(api, pid, dt.date.today().isoformat())
    old = stored(world, pid)
    assert counted.calls == 1
    monkeypatch.setattr(stored_evaluations, "data_version", lambda: "evidence and care rules of a later release")
    forget_memory(world)
    assert api.get(f"/api/patients/{pid}/evaluation").status_code == 200
    assert counted.calls == 2  # the stored one was made from other rules: not served
    new = stored(world, pid)
    assert new.version != old.version
    assert new.version == stored_evaluations.evaluation_version(world.app.state.settings.evaluator)
    forget_memory(world)
    assert api.get(f"/api/patients/{pid}/evaluation").status_code == 200
    assert counted.calls == 2  # and the recomputed one is served from then on


def test_every_change_to_the_record_drops_its_stored_evaluation(world, api, counted) -> None:
    pid = add_patient(world, "A", visits=1)
    vid = new_visit(api, pid, dt.date.today().isoformat())
    assert stored(world, pid) is not None
    with world.session() as s:
        uid = repo.user_by_username(s, world.clinics["A"]["users"]["clinician"]).id
    # Correcting the visit, voiding it, correcting the patient block, the history, a program edit: each write
    # removes the stored evaluation in its own transaction.
    writes = {
        "visit amended": lambda s, row: repo.amend_visit(
            s, row, next(v for v in row.visits if v.id == vid), dict(example_visit(dt.date.today().isoformat()),
                                                                     notes="amended"),
            reason="typo", user_id=uid, now=repo.utcnow()),
        "patient corrected": lambda s, row: repo.amend_patient(
            s, row, dict(row.patient_json, body_mass_kg=81), reason="weighed again", user_id=uid, now=repo.utcnow()),
        "history changed": lambda s, row: repo.update_patient(
            s, row, row.patient_json, dict(row.history_json, conditions=["hamstring_strain", "low_back_pain"]),
            now=repo.utcnow()),
        "program edited": lambda s, row: repo.add_override(
            s, row, exercise_id="glute_bridge", field="sets", old_value="3", new_value="2", reason="pain",
            user_id=uid),
        "visit voided": lambda s, row: repo.void_visit(
            s, row, next(v for v in row.visits if v.id == vid), reason="wrong patient", user_id=uid,
            now=repo.utcnow()),
    }
    for what, write in writes.items():
        forget_memory(world)
        r = api.get(f"/api/patients/{pid}/evaluation")
        assert r.status_code == 200, (what, r.text)
        assert stored(world, pid) is not None, what
        with world.session() as s:
            write(s, repo.get_patient(s, world.clinics["A"]["id"], pid))
            s.commit()
        assert stored(world, pid) is None, what


def test_a_record_changed_behind_the_apps_back_is_not_served_stale(world, api, counted) -> None:
    pid = add_patient(world, "A", visits=1)
    new_visit(api, pid, dt.date.today().isoformat(), right=(200, 205, 210))
    before = api.get(f"/api/patients/{pid}/evaluation").json()
    with world.session() as s:  # e.g. a migration script: the stored evaluation is not deleted
        row = repo.get_patient(s, world.clinics["A"]["id"], pid)
        latest = row.visits[-1]
        changed = dict(latest.data_json, date=(dt.date.today() - dt.timedelta(days=1)).isoformat())
        s.execute(update(Visit).where(Visit.id == latest.id).values(data_json=changed))
        s.commit()
    forget_memory(world)
    after = api.get(f"/api/patients/{pid}/evaluation").json()
    assert after["as_of"] != before["as_of"]  # the record's key no longer matched: recomputed
    assert counted.calls == 2


def test_a_visit_saved_from_the_form_is_stored_and_its_correction_recomputed(world, api, counted) -> None:
    pid = add_patient(world, "A", visits=1)
    vid = new_visit(api, pid, dt.date.today().isoformat())
    first = stored(world, pid)
    token = api.headers["X-CSRF-Token"]
    r = api.post(f"/patients/{pid}/visits/{vid}/void", data={"csrf_token": token, "reason": "entered in error"})
    assert r.status_code == 200
    after = stored(world, pid)  # computed again when the void was saved, from the record without that visit
    assert after is not None and after.record_key != first.record_key and counted.calls == 2
    forget_memory(world)
    assert api.get(f"/api/patients/{pid}/evaluation").content == after.document.encode()
    assert counted.calls == 2


def test_another_clinic_cannot_read_a_stored_evaluation(world, api, counted) -> None:
    pid = add_patient(world, "A", visits=1)
    new_visit(api, pid, dt.date.today().isoformat())
    assert stored(world, pid) is not None
    other = world.login(world.clinics["B"]["users"]["clinician"])
    for path in (f"/api/patients/{pid}/evaluation", f"/patients/{pid}/evaluation", f"/patients/{pid}/program",
                 f"/patients/{pid}/handout"):
        forget_memory(world)
        assert other.get(path).status_code == 404, path
    with world.session() as s:
        assert repo.stored_evaluation(s, world.clinics["B"]["id"], pid) is None
        assert repo.stored_evaluation(s, world.clinics["A"]["id"], pid) is not None
        denied = [e for e in repo.audit_events(s, world.clinics["B"]["id"]) if e.action == "access.not_found"]
    assert any(f"/patients/{pid}/evaluation" in (e.detail or "") for e in denied)
    assert counted.calls == 1  # nothing was computed (or served) for the other clinic
