"""Case fields a clinician could not enter before: each exercise's own response (what was actually done, its own
pain), activity checks, where the person lives, vitals, pregnancy, growth plates and the anterior-approach
restriction kinds. Each entry must reach the evaluation, not just the database."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from hipext.store import repo
from hipext.web import confirm

from .conftest import add_patient, csrf_of


@pytest.fixture()
def clinician(world):
    c = world.login(world.clinics["A"]["users"]["clinician"])
    c.token = csrf_of(c)
    return c


def _problems(r) -> list:
    return re.findall(r'data-for="([^"]+)">([^<]*)<', r.text)


def _visit_form(clinician, pid: int) -> tuple[str, list[str]]:
    page = clinician.get(f"/patients/{pid}/visits/new").text
    return page, re.findall(r'name="er\.\d+\.exercise" value="([^"]+)"', page)


def _post_visit(clinician, pid: int, **fields: str):
    _page, rows = _visit_form(clinician, pid)
    data = {"csrf_token": clinician.token, "visit.date": dt.date.today().isoformat(),
            "history.involved_side": "right", "history.conditions": "hamstring strain"}
    data |= {f"er.{k}.exercise": ex for k, ex in enumerate(rows)} | fields
    return clinician.post(f"/patients/{pid}/visits/new", data=data, follow_redirects=False)


def _decision(doc: dict, exercise: str) -> dict:
    return next(d for d in doc["progression"]["decisions"] if d["exercise"] == exercise)


def test_each_exercise_response_reaches_the_progression_on_its_own(world, clinician) -> None:
    pid = add_patient(world, "A", visits=1)
    page, rows = _visit_form(clinician, pid)
    assert len(rows) >= 2 and "Load (kg)" in page and "Sessions / week" in page
    hurt, fine = rows[0], rows[1]
    r = _post_visit(clinician, pid, **{
        "er.0.completed": "on", "er.0.sets": "3", "er.0.reps": "10", "er.0.pain_during": "8",
        "er.1.completed": "on", "er.1.sets": "2", "er.1.reps": "12", "er.1.load_kg": "7.5",
        "er.1.sessions_per_week": "3", "er.1.pain_during": "1", "er.1.pain_next_morning": "0",
    })
    assert r.status_code == 303, _problems(r)
    with world.session() as s:
        visit = repo.get_patient(s, world.clinics["A"]["id"], pid).active_visits[-1].data_json
    stored = {x["exercise"]: x for x in visit["exercise_responses"]}
    assert stored[fine] | {"sets": 2, "reps": 12, "load_kg": 7.5, "sessions_per_week": 3} == stored[fine]
    assert "load_kg" not in stored[hurt]  # nothing copied across rows
    doc = clinician.get(f"/api/patients/{pid}/evaluation").json()
    assert _decision(doc, hurt)["outcome"] in ("regress", "stop")  # pain 8 during that exercise
    assert _decision(doc, fine)["outcome"] not in ("regress", "stop")  # the other exercise did not hurt


def test_a_bad_response_is_named_at_its_row_and_nothing_is_saved(world, clinician) -> None:
    pid = add_patient(world, "A", visits=1)
    r = _post_visit(clinician, pid, **{"er.0.sets": "0", "er.0.load_kg": "heavy", "er.1.pain_during": "12"})
    assert r.status_code == 422
    fields = dict(_problems(r))
    assert {"er.0.sets", "er.0.load_kg", "er.1.pain_during"} <= set(fields)  # every problem at once
    assert "Exercise responses, row 1: Load (kg)" in r.text
    with world.session() as s:
        assert len(repo.get_patient(s, world.clinics["A"]["id"], pid).active_visits) == 1


def test_activity_checks_and_vitals_reach_the_evaluation(world, clinician) -> None:
    pid = add_patient(world, "A", visits=1)
    page, _ = _visit_form(clinician, pid)
    assert "Normal walking stride without pain" in page and "Blood pressure, systolic (mmHg)" in page
    r = _post_visit(clinician, pid, **{"visit.activity_checks.walk_pain_free": "yes",
                                       "visit.activity_checks.jog_pain_free": "no",
                                       "visit.vitals.systolic_mmhg": "128", "visit.vitals.diastolic_mmhg": "82",
                                       "visit.vitals.heart_rate_bpm": "64"})
    assert r.status_code == 303, _problems(r)
    with world.session() as s:
        visit = repo.get_patient(s, world.clinics["A"]["id"], pid).active_visits[-1].data_json
    assert visit["activity_checks"] == {"walk_pain_free": True, "jog_pain_free": False}
    assert visit["vitals"] == {"systolic_mmhg": 128, "diastolic_mmhg": 82, "heart_rate_bpm": 64}
    text = str(clinician.get(f"/api/patients/{pid}/evaluation").json())
    assert "Very low-speed jog without pain" in text  # the readiness checklist reads the visit's checks
    # Amending shows what was recorded.
    vid = max(v.id for v in _rows(world, pid))
    amend = clinician.get(f"/patients/{pid}/visits/{vid}/amend").text
    assert re.search(r'name="visit.vitals.systolic_mmhg" id="[^"]+" value="128"', amend)
    assert re.search(r'name="visit.activity_checks.jog_pain_free" value="no" checked', amend)


def _rows(world, pid):
    with world.session() as s:
        return list(repo.get_patient(s, world.clinics["A"]["id"], pid).active_visits)


def test_bad_vitals_are_all_named_at_their_fields(world, clinician) -> None:
    pid = add_patient(world, "A", visits=1)
    r = _post_visit(clinician, pid, **{"visit.vitals.systolic_mmhg": "128", "visit.vitals.heart_rate_bpm": "400",
                                       "visit.vitals.spo2_percent": "120"})
    assert r.status_code == 422
    fields = {f for f, _m in _problems(r)}
    assert {"visit.vitals.heart_rate_bpm", "visit.vitals.spo2_percent"} <= fields
    assert "<strong>Resting heart rate (beats/min)</strong>: expected" in r.text  # named as the clinician sees it
    assert len(_rows(world, pid)) == 1


def _new_patient(clinician, **extra: str):
    data = {"csrf_token": clinician.token, "patient.name": "Case Fields", "patient.sex": "female",
            "patient.date_of_birth": f"{dt.date.today().year - 31}-02-01", "patient.body_mass_kg": "68",
            "patient.mass_unit": "kg", "patient.activity_level": "recreational",
            "history.involved_side": "left"} | extra
    data.setdefault("patient.id", f"CF-{abs(hash(tuple(sorted(extra.items())))) % 10**8}")
    return clinician.post("/patients/new", data=data, follow_redirects=False)


def test_residence_pregnancy_growth_plates_and_anterior_restrictions_are_stored(world, clinician) -> None:
    form = clinician.get("/patients/new").text
    for label in ("Lives in", "Care home", "Pregnant: weeks of gestation", "Growth plates",
                  "Hip extension no more than (°)", "No lying face down (prone)"):
        assert label in form, label
    r = _new_patient(clinician, **{
        "history.growth_plates": "closed",
        "history.pregnancy.weeks_pregnant": "28", "history.pregnancy.pelvic_girdle_pain": "yes",
        "history.surgery.procedure": "total_hip_arthroplasty_anterior",
        "history.surgery.date": (dt.date.today() - dt.timedelta(days=21)).isoformat(),
        "history.surgery.restrictions[0].kind": "hip_extension_max_deg",
        "history.surgery.restrictions[0].value": "0",
        "history.surgery.restrictions[1].kind": "no_prone"})
    assert r.status_code == 303, _problems(r)
    pid = int(r.headers["location"].rsplit("/", 1)[1])
    with world.session() as s:
        row = repo.get_patient(s, world.clinics["A"]["id"], pid)
        patient, history = row.patient_json, row.history_json
    assert patient.get("residence", "community") == "community" and history["growth_plates"] == "closed"
    assert history["pregnancy"] == {"weeks_pregnant": 28, "pelvic_girdle_pain": True}
    assert [x["kind"] for x in history["surgery"]["restrictions"]] == ["hip_extension_max_deg", "no_prone"]
    # The next visit's form shows the history as recorded.
    page = clinician.get(f"/patients/{pid}/visits/new").text
    assert re.search(r'name="history.pregnancy.weeks_pregnant" id="[^"]+" value="28"', page)
    assert re.search(r'<option value="closed" selected>', page)


def test_residence_decides_which_norms_apply(world, clinician) -> None:
    born = f"{dt.date.today().year - 73}-01-10"
    r = _new_patient(clinician, **{"patient.residence": "care_home", "patient.date_of_birth": born})
    assert r.status_code == 303, _problems(r)
    pid = int(r.headers["location"].rsplit("/", 1)[1])
    r = clinician.post(f"/patients/{pid}/visits/new", follow_redirects=False, data={
        "csrf_token": clinician.token, "visit.date": dt.date.today().isoformat(), "history.involved_side": "left",
        "m.chair_stand_30s.x.reps": "9"})
    assert r.status_code == 303, _problems(r)
    doc = clinician.get(f"/api/patients/{pid}/evaluation").json()
    chair = next(x for x in doc["results"] if x["test"] == "chair_stand_30s")
    assert "community-dwelling people only" in str(chair["norm"])  # the community norm is not applied to her
    edit = clinician.get(f"/patients/{pid}/edit").text
    assert '<option value="care_home" selected>' in edit


def test_pregnancy_needs_one_period_named_at_the_field(world, clinician) -> None:
    r = _new_patient(clinician, **{"history.pregnancy.weeks_pregnant": "20",
                                   "history.pregnancy.weeks_postpartum": "3", "patient.body_mass_kg": "2"})
    assert r.status_code == 422
    fields = {f for f, _m in _problems(r)}
    assert {"history.pregnancy.weeks_pregnant", "patient.body_mass_kg"} <= fields  # both problems at once


def test_unusual_values_need_the_clinicians_confirmation(world, clinician, monkeypatch) -> None:
    """Warnings come from the core's consistency pass; the flow takes whatever list it gives."""
    def unusual(data):
        v = (data.get("visits") or [{}])[0]
        hr = (v.get("vitals") or {}).get("heart_rate_bpm")
        return [{"path": "visits[0].vitals.heart_rate_bpm", "value": hr, "expected": "a resting heart rate "
                 "usually below the warning threshold"}] if hr is not None and int(hr) > 150 else []

    monkeypatch.setattr(confirm, "_review", unusual)
    pid = add_patient(world, "A", visits=1)
    fields = {"visit.vitals.heart_rate_bpm": "160"}
    r = _post_visit(clinician, pid, **fields)
    assert r.status_code == 422 and 'id="warnings"' in r.text and "I have checked these values" in r.text
    assert 'data-for="visit.vitals.heart_rate_bpm"' in r.text  # the warning sits at its field
    assert len(_rows(world, pid)) == 1  # nothing saved until confirmed
    token = re.search(r'name="confirm_token" value="([^"]+)"', r.text).group(1)
    # A box ticked for other values does not confirm these.
    r = _post_visit(clinician, pid, **fields, confirm_warnings="yes", confirm_token="0" * 32)
    assert r.status_code == 422 and len(_rows(world, pid)) == 1
    r = _post_visit(clinician, pid, **fields, confirm_warnings="yes", confirm_token=token)
    assert r.status_code == 303, _problems(r)
    assert len(_rows(world, pid)) == 2
    with world.session() as s:
        events = repo.audit_events(s, world.clinics["A"]["id"], patient_id=pid)
    confirmed = [e.detail for e in events if e.action == "values.confirmed"]
    assert confirmed and "Resting heart rate (beats/min): 160" in confirmed[0]


def _link(clinician, pid: int, *questionnaires: str) -> str:
    data = {"csrf_token": clinician.token, "questionnaires": list(questionnaires)}
    page = clinician.post(f"/patients/{pid}/links", data=data).text
    return re.search(r'id="patient-link" href="(?:https?://[^/]+)?(/p/[^"]+)"', page).group(1)


def test_the_patient_rates_each_exercise_and_each_rating_lands_on_its_own_row(world, clinician) -> None:
    pid = add_patient(world, "A", visits=1)
    link = _link(clinician, pid)
    patient = world.client()
    home = patient.get(link).text
    ids = re.findall(r'name="ex\.([a-z0-9_]+)\.pain_during"', home)
    assert len(ids) >= 2 and 'name="pain_during"' not in home  # no whole-session rating to copy
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', home).group(1)
    sore, easy = ids[0], ids[1]
    day = (dt.date.today() - dt.timedelta(days=1)).isoformat()
    entries = {f"ex.{x}.done": "yes" for x in ids} | {f"ex.{sore}.pain_during": "7", f"ex.{easy}.pain_during": "1"}
    r = patient.post(f"{link}/log", data={"csrf_token": csrf, "date": day} | entries, follow_redirects=False)
    assert r.status_code == 303
    bad = patient.post(f"{link}/log", data={"csrf_token": csrf, "date": day, f"ex.{easy}.pain_during": "11"})
    assert bad.status_code == 422 and "0 (no pain) to 10" in bad.text
    page = patient.get(link).text  # the next morning, per exercise
    log_id = re.search(rf"{re.escape(link)}/log/(\d+)/morning", page).group(1)
    r = patient.post(f"{link}/log/{log_id}/morning", data={"csrf_token": csrf, f"ex.{sore}.pain_next_morning": "6"},
                     follow_redirects=False)
    assert r.status_code == 303
    again = patient.post(f"{link}/log/{log_id}/morning", data={"csrf_token": csrf,
                                                               f"ex.{sore}.pain_next_morning": "0"})
    assert again.status_code == 409  # what was recorded stays
    form, rows = _visit_form(clinician, pid)
    k_sore, k_easy = rows.index(sore), rows.index(easy)
    assert re.search(rf'name="er.{k_sore}.pain_during" id="[^"]+" aria-label="[^"]*" value="7"', form)
    assert re.search(rf'name="er.{k_sore}.pain_next_morning" id="[^"]+" aria-label="[^"]*" value="6"', form)
    assert re.search(rf'name="er.{k_easy}.pain_during" id="[^"]+" aria-label="[^"]*" value="1"', form)
    assert re.search(rf'name="er.{k_easy}.pain_next_morning" id="[^"]+" aria-label="[^"]*" value=""', form)
    values = dict(re.findall(r'name="(er\.\d+\.[a-z_]+)" id="[^"]+" aria-label="[^"]*" value="([^"]+)"', form))
    r = _post_visit(clinician, pid, **values, **{f"er.{k}.completed": "on" for k in range(len(rows))})
    assert r.status_code == 303, _problems(r)
    doc = clinician.get(f"/api/patients/{pid}/evaluation").json()
    assert _decision(doc, sore)["outcome"] in ("regress", "stop", "hold")
    assert _decision(doc, easy)["outcome"] not in ("regress", "stop")


def test_a_link_offers_the_questionnaires_used_at_the_visits_by_default(world, clinician) -> None:
    pid = add_patient(world, "A", visits=1)
    with world.session() as s:  # a LEFS at the first visit
        row = repo.get_patient(s, world.clinics["A"]["id"], pid)
        visit = row.active_visits[0]
        lefs = {"test": "lefs", "items": {str(i): 3 for i in range(1, 21)}}
        visit.data_json = dict(visit.data_json, measurements=visit.data_json["measurements"] + [lefs])
        s.commit()
    page = clinician.get(f"/patients/{pid}").text
    assert re.search(r'name="questionnaires" value="lefs" checked', page)
    assert not re.search(r'name="questionnaires" value="ihot12" checked', page)
    ticked = re.findall(r'name="questionnaires" value="([a-z0-9_]+)" checked', page)
    home = world.client().get(_link(clinician, pid, *ticked)).text
    offered = re.findall(r'/q/([a-z0-9_]+)"', home)
    assert offered == ["lefs"]


def test_the_fhir_export_is_the_clis_for_the_date_the_page_is_as_of(world, clinician) -> None:
    from hipext.caseio import parse_case
    from hipext.cli import evaluate_as_of
    from hipext.fhir import bundle_json, to_bundle

    pid = add_patient(world, "A", visits=2)
    first = _rows(world, pid)[0].date
    page = clinician.get(f"/patients/{pid}/evaluation", params={"as_of": first.isoformat()}).text
    href = re.search(r'href="(/api/patients/\d+/fhir\?as_of=[0-9-]+)"', page).group(1)
    assert href.endswith(f"as_of={first}")  # the export is of the date the page shows, not of today
    r = clinician.get(href)
    assert r.status_code == 200 and r.headers["x-hipext-as-of"] == first.isoformat()
    case = parse_case(clinician.get(f"/api/patients/{pid}/case").json())
    assert r.text == bundle_json(to_bundle(case, evaluate_as_of(case, first)))  # `hipext export --as-of`
    latest = clinician.get(f"/api/patients/{pid}/fhir")
    assert latest.headers["x-hipext-as-of"] == _rows(world, pid)[-1].date.isoformat()
