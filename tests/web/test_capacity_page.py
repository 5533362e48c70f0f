"""The evaluation page shows the biomechanics behind the numbers: the torque-angle curve and the task bars."""

from __future__ import annotations

from html import escape

from .conftest import add_patient, csrf_of


def test_evaluation_page_draws_capacity_curve_and_task_bars(world) -> None:
    clinician = world.login(world.clinics["A"]["users"]["clinician"])
    csrf_of(clinician)
    pid = add_patient(world, "A", visits=2)  # hand-held dynamometry on both sides
    api = clinician.get(f"/api/patients/{pid}/evaluation").json()
    cap = api["capacity"]
    assert cap["available"]
    page = clinician.get(f"/patients/{pid}/evaluation").text
    section = page[page.index('id="capacity"') :]
    assert "<title>Hip extension capacity by hip angle</title>" in section
    assert "<title>Share of capacity each task uses</title>" in section
    walking = next(t for t in cap["tasks"] if t["task"] == "walking")
    assert f"{walking['share_of_capacity_percent']:.0f}%" in section
    assert f"measured {cap['test']['measured_torque_nm']:.0f} N m" in section


def test_no_capacity_charts_without_measured_strength(world) -> None:
    clinician = world.login(world.clinics["A"]["users"]["clinician"])
    pid = add_patient(world, "A", visits=0)
    assert "Hip extension capacity by hip angle" not in clinician.get(f"/patients/{pid}/evaluation").text


def test_evaluation_page_links_each_source_to_the_paper(world) -> None:
    clinician = world.login(world.clinics["A"]["users"]["clinician"])
    pid = add_patient(world, "A", visits=2)
    sources = clinician.get(f"/api/patients/{pid}/evaluation").json()["sources"]
    page = clinician.get(f"/patients/{pid}/evaluation").text
    assert sources
    for s in sources:
        assert s["link"] == (f"https://doi.org/{s['doi']}" if s["doi"] else s["url"])
        entry = page[page.index(f'id="src-{s["id"]}"') :].split("</li>", 1)[0]
        assert f'<a href="{escape(s["link"])}"' in entry, s["id"]
