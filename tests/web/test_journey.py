"""The whole care loop in real Chromium (Debian's, driven by Playwright): log in, create a patient, record a
visit, see the evaluation and its charts, prescribe, open the patient link and log a session, record a follow-up,
see the progression. A failing step leaves a screenshot and the page's HTML in test-artifacts/."""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import socket
import threading
import time
from pathlib import Path

import pytest
import uvicorn

from hipext.web import create_app
from hipext.web.demo import DEMO_USERS, seed_demo

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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    db = tmp_path_factory.mktemp("journey") / "journey.sqlite3"
    app = create_app(f"sqlite:///{db}")
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


@pytest.fixture()
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is required (apt-get install chromium); .ci/run installs it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


class Journey:
    def __init__(self, name: str) -> None:
        self.name = name
        self.n = 0
        self.pages: list = []

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

    with j.step("create a patient, first with a mistake", page):
        page.click("text=New patient")
        page.fill("[name='patient.id']", "JRN-001")
        page.fill("[name='patient.age']", "290")
        page.select_option("[name='patient.sex']", "male")
        page.fill("[name='patient.body_mass_kg']", "75")
        page.fill("[name='patient.height_m']", "1.78")
        page.select_option("[name='patient.activity_level']", "competitive_sport")
        page.fill("[name='patient.goals']", "sprint again")
        page.select_option("[name='history.involved_side']", "right")
        page.fill("[name='history.conditions']", "hamstring_strain")
        page.fill("[name='history.onset.date']", (today - dt.timedelta(days=24)).isoformat())
        page.check("[name='history.red_flags.saddle_anaesthesia'][value=no]")
        page.check("[name='history.red_flags.night_pain'][value=no]")
        page.click("button[type=submit].primary")
        expect(page.locator(".field-error[data-for='patient.age']")).to_be_visible()
        expect(page.locator("[name='patient.id']")).to_have_value("JRN-001")
        page.fill("[name='patient.age']", "29")
        page.click("button[type=submit].primary")
        expect(page.locator("h1")).to_have_text("Patient JRN-001")
    patient_url = page.url

    def record_visit(date: dt.date, right: list[int], left: list[int], bridge: tuple[int, int], pain: int) -> None:
        page.goto(f"{patient_url}/visits/new")
        page.fill("[name='visit.date']", date.isoformat())
        page.click(f"#test-{HHD} > summary")
        for side, trials in (("right", right), ("left", left)):
            for i, v in enumerate(trials, start=1):
                page.fill(f"[name='m.{HHD}.{side}.trial{i}']", str(v))
            page.fill(f"[name='m.{HHD}.{side}.lever_arm_m']", "0.38")
            page.select_option(f"[name='m.{HHD}.{side}.fixation']", "belt")
        page.click("#test-single_leg_bridge > summary")
        page.fill("[name='m.single_leg_bridge.right.reps']", str(bridge[0]))
        page.fill("[name='m.single_leg_bridge.left.reps']", str(bridge[1]))
        page.click("#test-nprs > summary")
        page.fill("[name='m.nprs.x.value']", str(pain))
        page.select_option("[name='m.nprs.x.context']", "worst_24h")
        page.click("#save-visit")

    with j.step("record a visit", page):
        record_visit(today - dt.timedelta(days=14), [180, 186, 183], [215, 220, 212], (15, 25), 4)
        expect(page).to_have_url(f"{patient_url}/evaluation")

    with j.step("see the evaluation and its charts", page):
        expect(page.locator("#screening")).to_be_visible()
        expect(page.locator("svg.strength-chart")).to_be_visible()
        expect(page.locator("svg.lsi-chart")).to_be_visible()
        expect(page.locator("svg.lsi-chart .lsi-target")).to_have_count(1)
        expect(page.locator("table.results tbody tr").first).to_be_visible()
        box_s = page.locator("#screening").bounding_box()
        box_r = page.locator("#results").bounding_box()
        assert box_s["y"] < box_r["y"], "screening decision comes first"

    with j.step("prescribe: change a dose with a reason", page):
        page.click("nav.tabs >> text=Program")
        expect(page.locator("table.program tbody tr").first).to_be_visible()
        first = page.locator("#exercise_id option").nth(1).get_attribute("value")
        page.select_option("#exercise_id", first)
        page.select_option("#field", "sets")
        page.fill("#new_value", "2")
        page.fill("#reason", "sore after the first session")
        page.click("#save-override")
        expect(page.locator("#overrides")).to_contain_text("sore after the first session")
        expect(page.locator(f"#ex-{first} em.override")).to_be_visible()

    with j.step("give the patient their link", page):
        page.goto(patient_url)
        page.click("#create-link")
        link = page.locator("#patient-link").get_attribute("href")
        assert re.search(r"/p/[A-Za-z0-9_-]{43,}$", link)

    patient = ctx.browser.new_context(viewport={"width": 390, "height": 844}).new_page()  # their phone
    with j.step("patient opens the link and logs a session", patient):
        patient.goto(link)
        expect(patient.locator("h1")).to_have_text("My home program")
        expect(patient.locator(".exercise").first).to_be_visible()
        patient.fill("#date", (today - dt.timedelta(days=2)).isoformat())
        patient.fill("#pain_during", "3")
        patient.fill("#pain_next_morning", "2")
        patient.click("#log-session")
        expect(patient.locator("#saved")).to_be_visible()
        patient.fill("#date", (today - dt.timedelta(days=1)).isoformat())
        patient.fill("#pain_during", "2")
        patient.click("#log-session")
        patient.locator("input[name=pain_next_morning].tiny").first.fill("1")
        patient.locator("form.inline button").first.click()
        expect(patient.locator("#saved")).to_be_visible()

    with j.step("clinician sees adherence and pain", page):
        page.goto(patient_url)
        expect(page.locator("#adherence")).to_contain_text("2 sessions completed")
        expect(page.locator("svg.pain-chart")).to_be_visible()

    with j.step("record a follow-up with exercise responses", page):
        page.goto(f"{patient_url}/visits/new")
        expect(page.locator("table.responses tbody tr").first).to_be_visible()
        # The patient's session pain is shown for the whole session, never copied into an exercise's row.
        expect(page.locator("#session-summary")).to_contain_text("highest pain during a session 3/10")
        expect(page.locator("[name='er.0.pain_during']")).to_have_value("")
        page.fill("[name='er.0.pain_during']", "3")  # the clinician asks which exercise it concerned
        page.fill("[name='er.0.pain_baseline']", "2")
        page.fill("[name='er.0.rpe']", "6")
        page.fill("[name='visit.date']", today.isoformat())
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
        expect(page.locator("#rta")).to_be_visible()

    with j.step("print the handout", page):
        page.click("nav.tabs >> text=Handout")
        expect(page.locator(".handout h1")).to_have_text("Your home exercise program")
        page.emulate_media(media="print")
        expect(page.locator("header.top")).to_be_hidden()
    ctx.close()
