"""Clinician pages: forms re-render with messages at the fields, nothing half-saved; evaluation charts;
program overrides; patient links and home-session logging."""

from __future__ import annotations

import datetime as dt
import html
import re
from html import escape as html_escape

import pytest

from hipext.store import repo
from hipext.store.models import PatientLink

from .conftest import add_patient, csrf_of

HHD = "hhd_hip_extension_prone_knee_flexed"


@pytest.fixture()
def clinician(world):
    c = world.login(world.clinics["A"]["users"]["clinician"])
    c.token = csrf_of(c)
    return c


def _field_error(html: str, name: str) -> str | None:
    m = re.search(r'<span class="field-error" role="alert" data-for="' + re.escape(name) + r'">([^<]*)</span>', html)
    return m.group(1) if m else None


def test_new_patient_form_shows_every_problem_at_its_field(world, clinician) -> None:
    with world.session() as s:
        before = len(repo.list_patients(s, world.clinics["A"]["id"], limit=10000))
    r = clinician.post(
        "/patients/new",
        data={
            "csrf_token": clinician.token,
            "patient.id": "FORM-1",
            "patient.age": "130",
            "patient.sex": "",
            "patient.body_mass_kg": "abc",
            "history.onset.date": "2026-02-30",
        },
    )
    assert r.status_code == 422
    for name in ("patient.age", "patient.sex", "patient.body_mass_kg", "history.onset.date"):
        assert _field_error(r.text, name), name
    assert 'value="FORM-1"' in r.text  # what was typed is kept
    with world.session() as s:
        assert len(repo.list_patients(s, world.clinics["A"]["id"], limit=10000)) == before


def test_new_patient_then_duplicate_id(world, clinician) -> None:
    form = {
        "csrf_token": clinician.token,
        "patient.id": f"FORM-OK-{world.backend.name}",
        "patient.age": "52",
        "patient.sex": "female",
        "patient.body_mass_kg": "64",
        "history.involved_side": "left",
        "history.red_flags.night_pain": "no",
        "patient.goals": "walk to work\ngarden",
    }
    r = clinician.post("/patients/new", data=form, follow_redirects=False)
    assert r.status_code == 303
    r = clinician.post("/patients/new", data=form)
    assert r.status_code == 422 and _field_error(r.text, "patient.id")


def test_visit_form_errors_at_fields_and_nothing_saved(world, clinician) -> None:
    pid = add_patient(world, "A", visits=1)
    data = {
        "csrf_token": clinician.token,
        "visit.date": "2026-11-20",
        "history.involved_side": "right",
        f"m.{HHD}.right.trial1": "200",
        f"m.{HHD}.right.trial2": "-5",
        f"m.{HHD}.right.lever_arm_m": "0.38",
        "m.single_leg_bridge.left.reps": "-1",
        "m.hip_extension_rom.left.angle_deg": "200",
        "m.mmt_hip_extension_knee_flexed.left.grade": "4+",
    }
    r = clinician.post(f"/patients/{pid}/visits/new", data=data)
    assert r.status_code == 422
    for name in (f"m.{HHD}.right.trial2", "m.single_leg_bridge.left.reps", "m.hip_extension_rom.left.angle_deg"):
        assert _field_error(r.text, name), name
    assert "Please correct 3 problems" in r.text
    assert "Single-leg hamstring bridge (left): Repetitions" in r.text  # named as the clinician sees it
    assert 'value="-5"' in r.text and 'id="test-single_leg_bridge" open' in r.text
    # Schema problems and what each test needs are reported together.
    data["m.nprs.x.value"] = "12"
    r = clinician.post(f"/patients/{pid}/visits/new", data=data)
    assert r.status_code == 422
    assert _field_error(r.text, f"m.{HHD}.right.trial2") and _field_error(r.text, "m.nprs.x.value")
    assert "Please correct 4 problems" in r.text
    # Once the values are well-formed, what each test needs is still checked.
    data.update(
        {
            f"m.{HHD}.right.trial2": "205",
            "m.single_leg_bridge.right.note": "cramped",  # a note but no repetitions
            "m.single_leg_bridge.left.reps": "20",
            "m.hip_extension_rom.left.angle_deg": "10",
            "m.nprs.x.value": "12",
        }
    )
    r = clinician.post(f"/patients/{pid}/visits/new", data=data)
    assert r.status_code == 422
    assert _field_error(r.text, "m.single_leg_bridge.right.reps")
    assert _field_error(r.text, "m.nprs.x.value")
    with world.session() as s:
        row = repo.get_patient(s, world.clinics["A"]["id"], pid)
        assert len(row.visits) == 1
        assert row.history_json.get("involved_side") == "right"
        assert len(repo.history_versions(s, world.clinics["A"]["id"], pid)) == 1
        rejected = [
            e for e in repo.audit_events(s, world.clinics["A"]["id"], patient_id=pid) if e.outcome == "rejected"
        ]
        assert len(rejected) == 3 and all(e.action == "visit.create" for e in rejected)


def test_visit_form_saves_a_full_visit(world, clinician) -> None:
    pid = add_patient(world, "A", visits=1)
    data = {
        "csrf_token": clinician.token,
        "visit.date": dt.date.today().isoformat(),
        "visit.notes": "re-test",
        "history.involved_side": "right",
        "history.red_flags.fever": "no",
        f"m.{HHD}.right.trial1": "41",
        f"m.{HHD}.right.trial2": "44",
        f"m.{HHD}.right.lever_arm_m": "0.38",
        f"m.{HHD}.right.fixation": "belt",
        "visit.force_unit": "lbf",  # chosen once for the visit
        f"m.{HHD}.left.trial1": "50",
        f"m.{HHD}.left.lever_arm_m": "0.38",
        f"m.{HHD}.left.fixation": "belt",
        "m.mmt_hip_extension_knee_flexed.left.grade": "4+",
        "m.nprs.x.value": "2",
        "m.nprs.x.context": "worst_24h",
        **{f"m.lefs.x.item{i}": "3" for i in range(1, 21)},  # every item: a LEFS with gaps is not scored
        "m.askling_h_test.right.result": "negative",
        "visit.observations": "trunk_lean",
        "visit.observation_side.trunk_lean": "right",
    }
    r = clinician.post(f"/patients/{pid}/visits/new", data=data, follow_redirects=False)
    assert r.status_code == 303, re.findall(r"<li><code>.*?</li>", r.text)
    with world.session() as s:
        row = repo.get_patient(s, world.clinics["A"]["id"], pid)
        v = row.visits[-1].data_json
    tests = [(m["test"], m.get("side")) for m in v["measurements"]]
    assert (HHD, "left") in tests and ("lefs", None) in tests
    left = next(m for m in v["measurements"] if m["test"] == HHD and m["side"] == "left")
    assert left["trials_lbf"] == [50.0]
    assert v["observations"] == ["trunk_lean"] and v["observation_sides"] == {"trunk_lean": "right"}
    with world.session() as s:  # the history changed: the old version is kept, not overwritten
        versions = repo.history_versions(s, world.clinics["A"]["id"], pid)
        assert len(versions) == 2 and versions[0].history_json != versions[1].history_json
        assert versions[1].history_json["red_flags"] == {"fever": False}
    timeline = clinician.get(f"/patients/{pid}").text
    assert "history updated (version 2)" in timeline
    vid = re.findall(rf'href="/patients/{pid}/visits/(\d+)"', timeline)[0]  # newest first
    shown = clinician.get(f"/patients/{pid}/visits/{vid}").text
    assert "trials lbf" in shown and "trunk lean (right)" in shown
    page = clinician.get(f"/patients/{pid}/evaluation")
    assert page.status_code == 200
    assert 'class="chart strength-chart"' in page.text and 'class="chart lsi-chart"' in page.text
    assert 'class="chart trend-chart"' in page.text and "lsi-target" in page.text
    html = page.text
    assert html.index('id="screening"') < html.index('id="results"')


def test_measurement_form_is_built_from_the_protocols(world, clinician) -> None:
    from hipext import evidence

    pid = add_patient(world, "A", visits=0)
    html = clinician.get(f"/patients/{pid}/visits/new").text
    for proto in evidence.load().protocols.values():
        assert f'id="test-{proto.id}"' in html, proto.id
    assert 'name="m.lefs.x.item20"' in html and 'name="m.psfs.x.activity1"' in html


def test_program_overrides_keep_reason_and_never_unblock(world, clinician) -> None:
    history = {"involved_side": "right", "conditions": ["acute_hamstring_strain"]}
    pid = add_patient(world, "A", visits=1, history=history)
    ev = clinician.get(f"/api/patients/{pid}/evaluation").json()
    blocked = ev["screening"]["blocked_exercises"]
    assert blocked, "an acute hamstring strain blocks some exercises"
    url = f"/patients/{pid}/program/overrides"
    assert '<em class="override">edited</em>' not in clinician.get(f"/patients/{pid}/evaluation").text
    page = clinician.get(f"/patients/{pid}/program").text
    ex_id = re.search(r'<tr id="ex-([^"]+)"', page).group(1)
    before_handout = clinician.get(f"/patients/{pid}/handout").text
    r = clinician.post(
        url, data={"csrf_token": clinician.token, "exercise_id": ex_id, "field": "sets", "new_value": "2", "reason": ""}
    )
    assert r.status_code == 422 and _field_error(r.text, "reason")
    r = clinician.post(
        url,
        data={
            "csrf_token": clinician.token,
            "exercise_id": blocked[0],
            "field": "include",
            "new_value": "yes",
            "reason": "athlete asks",
        },
    )
    assert r.status_code == 422 and "an exercise screening allows" in (_field_error(r.text, "exercise_id") or "")
    r = clinician.post(
        url,
        data={
            "csrf_token": clinician.token,
            "exercise_id": blocked[0],
            "field": "sets",
            "new_value": "3",
            "reason": "athlete asks",
        },
    )
    assert r.status_code == 422
    r = clinician.post(
        url,
        data={
            "csrf_token": clinician.token,
            "exercise_id": ex_id,
            "field": "sets",
            "new_value": "3",
            "reason": "tolerated well in clinic",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303
    page = clinician.get(f"/patients/{pid}/program").text
    assert "tolerated well in clinic" in page and "edited by" in page
    with world.session() as s:
        ovs = repo.overrides(s, world.clinics["A"]["id"], pid)
        assert [(o.exercise_id, o.field, o.new_value, o.reason) for o in ovs] == [
            (ex_id, "sets", "3", "tolerated well in clinic")
        ]
    evaluation = clinician.get(f"/patients/{pid}/evaluation").text  # the cached page follows the override
    assert '<em class="override">edited</em>' in evaluation
    handout = clinician.get(f"/patients/{pid}/handout").text
    assert before_handout.count("3 sets of") < handout.count("3 sets of")  # the patient's words follow the edit
    assert not any(f"<code>{b}</code>" in page for b in blocked)


def test_patient_link_log_and_adherence(world, clinician, clock) -> None:
    pid = add_patient(world, "A", visits=1)
    r = clinician.post(f"/patients/{pid}/links", data={"csrf_token": clinician.token})
    url = re.search(r'id="patient-link" href="([^"]+)"', r.text).group(1)
    token = url.rsplit("/", 1)[1]
    assert len(token) >= 43  # 256-bit token, URL-safe base64
    with world.session() as s:
        link = s.query(PatientLink).filter_by(patient_id=pid).one()
        assert link.token_hash != token and token not in link.token_hash
    anon = world.client()
    home = anon.get(f"/p/{token}")
    assert home.status_code == 200 and "Log a session" in home.text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', home.text).group(1)
    bad = anon.post(f"/p/{token}/log", data={"csrf_token": csrf, "date": "2020-01-01", "pain_during": "11"})
    assert bad.status_code == 422 and "0 (no pain) to 10" in bad.text
    assert (
        anon.post(f"/p/{token}/log", data={"date": dt.date.today().isoformat(), "pain_during": "2"}).status_code == 403
    )
    ok = anon.post(
        f"/p/{token}/log",
        data={"csrf_token": csrf, "date": dt.date.today().isoformat(), "pain_during": "3", "completed": "yes"},
    )
    assert ok.status_code == 200 and "Saved" in ok.text
    log_id = re.search(rf"/p/{re.escape(token)}/log/(\d+)/morning", ok.text).group(1)
    r = anon.post(f"/p/{token}/log/{log_id}/morning", data={"csrf_token": csrf, "pain_next_morning": "1"})
    assert r.status_code == 200
    page = clinician.get(f"/patients/{pid}").text
    assert "1 session completed in the last 14 days" in page and 'class="chart pain-chart"' in page
    form = clinician.get(f"/patients/{pid}/visits/new").text
    assert "home session" in form or "No prescribed program" in form
    # Revoked and expired links stop working.
    clock.advance(days=43)
    assert anon.get(f"/p/{token}").status_code == 404
    clock.reset()
    link_id = re.search(rf"/patients/{pid}/links/(\d+)/revoke", page).group(1)
    clinician.post(f"/patients/{pid}/links/{link_id}/revoke", data={"csrf_token": clinician.token})
    assert anon.get(f"/p/{token}").status_code == 404
    with world.session() as s:
        actions = [e.action for e in repo.audit_events(s, world.clinics["A"]["id"], patient_id=pid)]
    assert {"link.create", "home.view", "home.log", "link.revoke", "patient.view"} <= set(actions)


def test_every_patient_page_read_is_audited(world, clinician) -> None:
    pid = add_patient(world, "A", visits=1)
    for sub in ("", "/evaluation", "/program", "/handout"):
        assert clinician.get(f"/patients/{pid}{sub}").status_code == 200
    with world.session() as s:
        events = repo.audit_events(s, world.clinics["A"]["id"], patient_id=pid)
    assert {"patient.view", "evaluation.view", "program.view", "handout.print"} <= {e.action for e in events}
    assert all(e.actor.startswith("user:") and e.at.tzinfo is not None for e in events)


def test_handout_is_printable(world, clinician) -> None:
    pid = add_patient(world, "A", visits=1)
    html = clinician.get(f"/patients/{pid}/handout").text
    assert "Your home exercise program" in html and "Session log" in html
    css = clinician.get("/static/app.css").text
    assert "@media print" in css


def test_output_is_escaped(world, clinician) -> None:
    evil = "<script>alert(1)</script>"
    form = {
        "csrf_token": clinician.token,
        "patient.id": f"X{world.backend.name}{evil}",
        "patient.age": "40",
        "patient.sex": "male",
        "patient.body_mass_kg": "70",
        "patient.goals": evil,
    }
    r = clinician.post("/patients/new", data=form)
    assert r.status_code == 200 and evil not in r.text and "&lt;script&gt;" in r.text
    assert evil not in clinician.get("/patients").text


def test_an_engine_failure_does_not_lock_the_record(world, clinician) -> None:
    from hipext.web import services

    def broken(case, **_kw):
        raise RuntimeError("engine bug")

    pid = add_patient(world, "A", visits=1, history={"involved_side": "left", "conditions": ["engine_failure_probe"]})
    state = world.app.state
    saved = (state.settings.evaluator, state.cache, state.fragments)
    state.settings.evaluator, state.cache, state.fragments = (
        broken,
        services.EvaluationCache(),
        services.EvaluationCache(),
    )
    try:
        assert clinician.get(f"/patients/{pid}").status_code == 200
        page = clinician.get(f"/patients/{pid}/evaluation")
        assert page.status_code == 200 and "could not be computed" in page.text and "engine bug" not in page.text
    finally:
        state.settings.evaluator, state.cache, state.fragments = saved


def test_screening_questions_are_the_ones_screening_reads(world, clinician) -> None:
    from hipext.care.data import red_flag_questions, red_flag_text

    pid = add_patient(world, "A", visits=0)
    html = clinician.get(f"/patients/{pid}/visits/new").text
    asked = set(re.findall(r'name="history\.red_flags\.([a-z_]+)" value="no"', html))
    assert asked == set(red_flag_questions())
    # Each is asked in the plain words the data gives, not spelled from its key.
    for key in red_flag_questions():
        assert html_escape(red_flag_text()[key], quote=False) in html, key


def test_patient_search_by_id_condition_and_goal(world, clinician) -> None:
    pid = add_patient(
        world,
        "A",
        external_id=f"SRCH-{world.backend.name}",
        visits=0,
        history={"involved_side": "left", "conditions": ["gluteal_tendinopathy_probe"]},
    )
    for q in (f"SRCH-{world.backend.name}".lower(), "gluteal tendinopathy probe", "RETURN TO SPRINTING"):
        assert f'href="/patients/{pid}"' in clinician.get("/patients", params={"q": q}).text, q
    assert f'href="/patients/{pid}"' not in clinician.get("/patients", params={"q": "no-such-thing-xyz"}).text


def _link_token(clinician, pid: int) -> str:
    r = clinician.post(f"/patients/{pid}/links", data={"csrf_token": clinician.token})
    return re.search(r'id="patient-link" href="([^"]+)"', r.text).group(1).rsplit("/", 1)[1]


def test_supervised_only_exercises_stay_out_of_the_home_program(world, clinician) -> None:
    history = {"involved_side": "right", "conditions": ["hip_osteoarthritis"], "red_flags": {"falls_risk": True}}
    pid = add_patient(world, "A", visits=1, history=history)
    program = clinician.get(f"/api/patients/{pid}/evaluation").json()["program"]
    therapist = [e["name"] for e in program["exercises"] if e["supervision"] == "with_therapist"]
    home_names = [e["name"] for e in program["exercises"] if e["supervision"] == "home"]
    assert program["supervised_only"] and therapist and home_names
    home = world.client().get(f"/p/{_link_token(clinician, pid)}").text
    listed = home[home.index("<h2>Exercises</h2>"): home.index('id="with-therapist"')]
    assert all(html.escape(n) not in listed for n in therapist) and all(html.escape(n) in listed for n in home_names)
    assert "done only at your sessions, with your therapist" in home
    handout = clinician.get(f"/patients/{pid}/handout").text  # the printed handout names them, marked
    assert all(html.escape(n) in handout for n in therapist) and "(with your therapist)" in handout
    for bad in ("1RM", "RPE", "RIR", "in reserve", "supervised only.;", ".;"):
        assert bad not in handout, bad
    assert not re.search(r"\d\s*s\s+s\b|seconds seconds", handout)  # a unit printed once


def test_session_pain_is_never_copied_into_an_exercise_response(world, clinician) -> None:
    pid = add_patient(world, "A", visits=1)
    token = _link_token(clinician, pid)
    anon = world.client()
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', anon.get(f"/p/{token}").text).group(1)
    r = anon.post(f"/p/{token}/log", data={"csrf_token": csrf, "date": dt.date.today().isoformat(),
                                           "pain_during": "7", "pain_next_morning": "6", "completed": "yes"})
    assert r.status_code == 200
    form = clinician.get(f"/patients/{pid}/visits/new").text
    assert "highest pain during a session 7/10" in form
    rows = re.findall(r'name="er\.\d+\.(pain_during|pain_next_morning)"[^>]*value="([^"]*)"', form)
    assert rows and all(v == "" for _, v in rows)
