"""The whole care loop in real Chromium (Debian's, driven by Playwright), on SQLite and on PostgreSQL: log in, create
a patient, record a first visit (counting the clinician's inputs), correct a typo with a reason, see the evaluation
and its charts, change a dose and add an exercise from the picker, open the patient link and log a session, record a
follow-up, see the progression. Every page visited is checked with axe-core (WCAG 2 A/AA). A failing step leaves a
screenshot and the page's HTML in test-artifacts/."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import socket
import threading
import time
import uuid
from pathlib import Path

import pytest
import uvicorn
from sqlalchemy import create_engine, text

from hipext.web import create_app
from hipext.web.demo import DEMO_USERS, seed_demo

from .conftest import PG_URL

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
HHD = "hhd_hip_extension_prone_knee_flexed"
AXE_JS = os.environ.get(
    "HIPEXT_AXE_JS", str(Path(__file__).resolve().parents[2] / ".venv/axe/node_modules/axe-core/axe.min.js")
)
FIRST_VISIT_INPUT_TARGET = 35  # the target for a first visit (it took 67 inputs before)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    schema = None
    if request.param == "sqlite":
        app = create_app(f"sqlite:///{tmp_path_factory.mktemp('journey') / 'journey.sqlite3'}")
    else:  # a schema of its own: the demo clinic seeded here must not appear in the shared test schema
        schema = f"hipext_journey_{uuid.uuid4().hex[:8]}"
        with create_engine(PG_URL).begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        app = create_app(PG_URL, schema=schema)
    with app.state.sessionmaker() as s:
        seed_demo(s)
    port = free_port()
    app.state.settings.base_url = f"http://127.0.0.1:{port}"  # what HIPEXT_BASE_URL says in a deployment
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        if time.monotonic() > deadline:
            pytest.fail("the web server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(10)
    if schema:
        app.state.engine.dispose()
        with create_engine(PG_URL).begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))


@pytest.fixture()
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is required (apt-get install chromium); .ci/run installs it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def axe_violations(page) -> list[dict]:
    """WCAG 2 A and AA violations axe-core finds on the page as it is now."""
    if not Path(AXE_JS).exists():
        pytest.fail(f"axe-core is required at {AXE_JS}; `make test` installs it from npm")
    # Evaluated through the DevTools protocol: the app's Content-Security-Policy forbids inline scripts, rightly.
    page.evaluate("(src) => { (0, eval)(src); }", Path(AXE_JS).read_text(encoding="utf-8"))
    return page.evaluate(
        """() => axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa']}}).then(r =>
             r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                     targets: v.nodes.slice(0, 3).map(n => n.target.join(' '))})))"""
    )


class Counted:
    """The clinician's hands: every fill, choice, tick and click goes through here and is counted."""

    def __init__(self, page) -> None:
        self.page = page
        self.inputs = 0

    def fill(self, selector: str, value: str) -> None:
        self.inputs += 1
        self.page.fill(selector, value)

    def select(self, selector: str, value: str) -> None:
        self.inputs += 1
        self.page.select_option(selector, value)

    def click(self, selector: str) -> None:
        self.inputs += 1
        self.page.click(selector)


class Journey:
    def __init__(self, name: str) -> None:
        self.name = name
        self.n = 0
        self.pages: list = []
        self.axe: dict[str, list] = {}

    def check_axe(self, page, label: str) -> None:
        found = axe_violations(page)
        if found:
            self.axe[label] = found

    @contextlib.contextmanager
    def step(self, title: str, page):
        self.n += 1
        try:
            yield
        except BaseException:
            ARTIFACTS.mkdir(exist_ok=True)
            slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
            stem = ARTIFACTS / f"{self.name}-{self.n:02d}-{slug}"
            with contextlib.suppress(Exception):
                page.screenshot(path=f"{stem}.png", full_page=True)
                Path(f"{stem}.html").write_text(page.content(), encoding="utf-8")
            raise


def test_care_loop_in_chromium(server: str, browser) -> None:
    from playwright.sync_api import expect

    today = dt.date.today()
    j = Journey("journey")
    ctx = browser.new_context(viewport={"width": 1024, "height": 1366})  # a tablet in portrait
    page = ctx.new_page()
    page.set_default_timeout(15000)

    with j.step("log in", page):
        page.goto(f"{server}/patients")
        expect(page).to_have_url(f"{server}/login")
        user, password, _role, name = DEMO_USERS[0]
        page.fill("#username", user)
        page.fill("#password", password)
        page.click("button[type=submit]")
        expect(page).to_have_url(f"{server}/patients")
        expect(page.get_by_text(name)).to_be_visible()

    hands = Counted(page)
    with j.step("create a patient, first with a mistake", page):
        hands.click("text=New patient")
        j.check_axe(page, "new patient form")
        hands.fill("[name='patient.name']", "Jo Runner")
        hands.fill("[name='patient.date_of_birth']", "2097-05-04")  # a typo: born in the future
        hands.select("[name='patient.sex']", "male")
        hands.fill("[name='patient.body_mass_kg']", "165")
        hands.select("[name='patient.mass_unit']", "lb")
        hands.fill("[name='patient.height_m']", "178")
        hands.select("[name='patient.activity_level']", "competitive_sport")
        hands.fill("[name='patient.goals']", "sprint again")
        hands.select("[name='history.involved_side']", "right")
        hands.fill("[name='history.conditions']", "hamstring strain")
        hands.fill("[name='history.onset.date']", (today - dt.timedelta(days=24)).isoformat())
        hands.click("[data-all-no]")
        hands.click("button[type=submit].primary")
        expect(page.locator(".field-error[data-for='patient.date_of_birth']")).to_be_visible()
        expect(page.locator("[name='patient.name']")).to_have_value("Jo Runner")
        hands.fill("[name='patient.date_of_birth']", "1997-05-04")
        hands.click("button[type=submit].primary")
        expect(page.locator("h1")).to_contain_text("Jo Runner")
        j.check_axe(page, "patient page")
    patient_url = page.url

    def record_visit(date: dt.date, right: list[int], left: list[int], bridge: tuple[int, int], pain: int) -> None:
        page.goto(f"{patient_url}/visits/new")
        hands.fill("[name='visit.date']", date.isoformat())
        hands.click(f"#test-{HHD} > summary")
        for side, trials in (("right", right), ("left", left)):
            for i, v in enumerate(trials, start=1):
                hands.fill(f"[name='m.{HHD}.{side}.trial{i}']", str(v))
            if not page.input_value(f"[name='m.{HHD}.{side}.lever_arm_m']"):  # remembered after the first visit
                hands.fill(f"[name='m.{HHD}.{side}.lever_arm_m']", "0.38")
            if page.input_value(f"[name='m.{HHD}.{side}.fixation']") != "belt":
                hands.select(f"[name='m.{HHD}.{side}.fixation']", "belt")
        hands.click("#test-single_leg_bridge > summary")
        hands.fill("[name='m.single_leg_bridge.right.reps']", str(bridge[0]))
        hands.fill("[name='m.single_leg_bridge.left.reps']", str(bridge[1]))
        hands.click("#test-nprs > summary")
        hands.fill("[name='m.nprs.x.value']", str(pain))
        hands.select("[name='m.nprs.x.context']", "worst_24h")
        j.check_axe(page, "visit form")
        hands.click("#save-visit")

    with j.step("record a visit", page):
        record_visit(today - dt.timedelta(days=14), [180, 186, 1830], [215, 220, 212], (15, 25), 4)  # 1830: a typo
        first_visit_inputs = hands.inputs  # the visit as typed; confirming the planted typo is not part of it
        # Possible but unusual (a trial ten times the others): the form asks for confirmation before saving. Here the
        # clinician overlooks the typo and confirms, so the correction below has something to correct.
        expect(page.locator("#confirm_warnings")).to_be_visible()
        hands.click("#confirm_warnings")
        hands.click("#save-visit")
        expect(page).to_have_url(f"{patient_url}/evaluation")
    print(f"clinician inputs for the first visit (new patient + visit): {first_visit_inputs}")
    assert first_visit_inputs <= FIRST_VISIT_INPUT_TARGET, first_visit_inputs

    with j.step("correct the tenfold typo with a reason", page):
        expect(page.locator("table.results")).to_contain_text("832 %")  # the typo's absurd symmetry index
        page.goto(patient_url)
        page.click("ol.timeline li.tl-visit a")
        page.click("#amend-visit")
        page.fill(f"[name='m.{HHD}.right.trial3']", "183")
        page.click("#save-visit")
        expect(page.locator(".field-error[data-for='reason']")).to_be_visible()  # a correction needs its reason
        page.fill("#reason", "trial 3 typed as 1830")
        page.click("#save-visit")
        expect(page.locator("ol.versions")).to_contain_text("trial 3 typed as 1830")
        page.goto(f"{patient_url}/evaluation")
        expect(page.locator("table.results")).not_to_contain_text("832 %")
        page.goto(patient_url)
        expect(page.locator("ol.timeline")).to_contain_text("trial 3 typed as 1830")

    with j.step("see the evaluation and its charts", page):
        page.goto(f"{patient_url}/evaluation")
        expect(page.locator("#screening")).to_be_visible()
        expect(page.locator("svg.strength-chart")).to_be_visible()
        expect(page.locator("svg.lsi-chart")).to_be_visible()
        expect(page.locator("svg.lsi-chart .lsi-target")).not_to_have_count(0)  # targets from the evaluation
        expect(page.locator("table.results tbody tr").first).to_be_visible()
        j.check_axe(page, "evaluation")
        box_s = page.locator("#screening").bounding_box()
        box_r = page.locator("#results").bounding_box()
        assert box_s["y"] < box_r["y"], "screening decision comes first"

    with j.step("prescribe: change a dose and add an exercise from the picker", page):
        page.click("nav.tabs >> text=Program")
        expect(page.locator("table.program tbody tr").first).to_be_visible()
        j.check_axe(page, "program")
        first = page.locator("#exercise_id optgroup[label='In the program'] option").first.get_attribute("value")
        page.select_option("#exercise_id", first)
        page.select_option("#field", "sets")
        page.fill("#new_value", "ten")
        page.fill("#reason", "sore after the first session")
        page.click("#save-override")
        expect(page.locator(".field-error[data-for='new_value']")).to_contain_text("whole number")
        page.fill("#new_value", "2")
        page.click("#save-override")
        expect(page.locator("#overrides")).to_contain_text("sore after the first session")
        expect(page.locator(f"#ex-{first} em.override")).to_be_visible()
        choice = page.locator("#exercise_id optgroup[label='Add from the library'] option:not([disabled])")
        added = choice.first.get_attribute("value")
        page.select_option("#exercise_id", added)
        page.select_option("#field", "include")
        page.fill("#new_value", "yes")
        page.fill("#reason", "patient enjoys it")
        page.click("#save-override")
        expect(page.locator(f"#ex-{added}")).to_contain_text("added by clinician")

    with j.step("give the patient their link", page):
        page.goto(patient_url)
        page.check("#link-form input[value=lefs]")  # the questionnaire the patient is asked to fill in
        page.click("#create-link")
        link = page.locator("#patient-link").get_attribute("href")
        assert re.search(r"/p/[A-Za-z0-9_-]{43,}$", link)

    patient = ctx.browser.new_context(viewport={"width": 390, "height": 844}).new_page()  # their phone
    with j.step("patient opens the link and logs a session", patient):
        patient.goto(link)
        expect(patient.locator("h1")).to_have_text("My home program")
        j.check_axe(patient, "patient home page")
        expect(patient.locator(".exercise").first).to_be_visible()
        patient.fill("#date", (today - dt.timedelta(days=2)).isoformat())
        # Each exercise is rated on its own (a whole-session rating would be copied into none of them).
        first_pain = patient.locator("#exercise-log input[name$='.pain_during']").first
        rated = first_pain.get_attribute("name").split(".")[1]
        first_pain.fill("3")
        patient.locator("#exercise-log input[name$='.pain_next_morning']").first.fill("2")
        patient.click("#log-session")
        expect(patient.locator("#saved")).to_be_visible()
        patient.fill("#date", (today - dt.timedelta(days=1)).isoformat())
        patient.locator("#exercise-log input[name$='.pain_during']").first.fill("2")
        patient.click("#log-session")
        patient.locator("form.inline input.tiny").first.fill("1")
        patient.locator("form.inline button").first.click()
        expect(patient.locator("#saved")).to_be_visible()

    with j.step("patient completes a questionnaire through the link", patient):
        patient.goto(link)
        patient.click("#questionnaires >> text=Lower Extremity Functional Scale")
        j.check_axe(patient, "patient questionnaire")
        for i in range(1, 20):  # one left out: the form names it instead of saving an unscorable LEFS
            patient.fill(f"[name='m.lefs.x.item{i}']", "3")
        patient.click("#send-questionnaire")
        expect(patient.locator("#problems")).to_contain_text("answers")
        patient.fill("[name='m.lefs.x.item20']", "2")
        patient.click("#send-questionnaire")
        expect(patient.locator("#saved")).to_be_visible()


        page.goto(patient_url)
        expect(page.locator("#adherence")).to_contain_text("2 sessions completed")
        expect(page.locator("svg.pain-chart")).to_be_visible()

    with j.step("record a follow-up with exercise responses", page):
        page.goto(f"{patient_url}/visits/new")
        expect(page.locator("table.responses tbody tr").first).to_be_visible()
        expect(page.locator("#from-patient")).to_contain_text("LEFS")
        # The pain the patient gave an exercise lands on that exercise's row, and on no other.
        expect(page.locator("#session-summary")).to_contain_text("highest pain during a session 3/10")
        row = page.locator(f"table.responses tr:has(input[value='{rated}'])")
        expect(row.locator("input[name$='.pain_during']")).to_have_value("3")
        others = page.locator(f"table.responses tbody tr:not(:has(input[value='{rated}'])) input[name$='.pain_during']")
        for i in range(others.count()):
            expect(others.nth(i)).to_have_value("")
        page.fill("[name='er.0.pain_during']", "3")
        page.fill("[name='er.0.pain_baseline']", "2")
        page.fill("[name='er.0.rpe']", "6")
        page.fill("[name='visit.date']", today.isoformat())
        if page.get_attribute(f"#test-{HHD}", "open") is None:  # open already when the lever arms are remembered
            page.click(f"#test-{HHD} > summary")
        for side, trials in (("right", [226, 232, 229]), ("left", [218, 222, 216])):
            for i, v in enumerate(trials, start=1):
                page.fill(f"[name='m.{HHD}.{side}.trial{i}']", str(v))
            page.fill(f"[name='m.{HHD}.{side}.lever_arm_m']", "0.38")
            page.select_option(f"[name='m.{HHD}.{side}.fixation']", "belt")
        page.click("#save-visit")
        expect(page).to_have_url(f"{patient_url}/evaluation")

    with j.step("see the progression and the trends", page):
        expect(page.locator("#progression")).to_be_visible()
        expect(page.locator("#progression")).to_contain_text(re.compile("PROGRESS|HOLD|REGRESS|STOP"))
        expect(page.locator("svg.trend-chart").first).to_be_visible()
        expect(page.locator("svg.lsi-time-chart")).to_be_visible()  # symmetry over time against the target
        expect(page.locator("svg.lsi-time-chart .lsi-target").first).to_be_attached()
        j.check_axe(page, "evaluation with trends")
        expect(page.locator("#rta")).to_be_visible()
        lefs = page.locator("table.results tr", has_text="Lower Extremity Functional Scale")
        expect(lefs).to_contain_text("59")  # the patient's LEFS, scored by its published rule: 19 x 3 + 2

    with j.step("print the handout", page):
        page.click("nav.tabs >> text=Handout")
        expect(page.locator(".handout h1")).to_have_text("Your home exercise program")
        page.emulate_media(media="print")
        expect(page.locator("header.top")).to_be_hidden()
    ctx.close()
    assert not j.axe, "axe-core violations:\n" + json.dumps(j.axe, indent=1)


def test_the_accessibility_check_can_fail(browser) -> None:
    """The journey's axe-core check finds real problems: a picture without text and grey-on-grey text."""
    page = browser.new_context().new_page()
    page.set_content('<html lang="en"><title>t</title><main><img src="x.png"><p style="color:#aaa;'
                     'background:#bbb">faint</p></main></html>')
    found = {v["id"] for v in axe_violations(page)}
    assert {"image-alt", "color-contrast"} <= found, found
