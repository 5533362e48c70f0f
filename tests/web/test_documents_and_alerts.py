"""The web side of documents and the patient loop: PDF downloads (clinic-scoped, audited, the clinician's changes
applied), the patient link as a QR code and on the printed home program, the clinic on the patient's page, the
attention list, and alert e-mail through an SMTP server the test starts (aiosmtpd) on this machine."""

from __future__ import annotations

import io
import re
import socket
import time

import pypdf
import pypdfium2
import pytest
import zxingcpp
from aiosmtpd.controller import Controller

from hipext.store import repo
from hipext.web.mail import MailSettings

from .conftest import add_patient, csrf_of


def _pdf_text(data: bytes) -> tuple[int, str]:
    reader = pypdf.PdfReader(io.BytesIO(data))
    return len(reader.pages), " ".join(" ".join(p.extract_text() for p in reader.pages).split())


def _new_link(c, pid: int) -> str:
    page = c.post(f"/patients/{pid}/links", data={"csrf_token": csrf_of(c)})
    assert page.status_code == 200
    return re.search(r'id="patient-link" href="([^"]+)"', page.text).group(1)


def test_the_evaluation_page_offers_the_three_pdfs_and_each_downloads(world):
    pid = add_patient(world, "A", visits=2)
    c = world.login(world.clinics["A"]["users"]["clinician"])
    page = c.get(f"/patients/{pid}/evaluation")
    for doc in ("summary", "full", "home-program"):
        assert f'href="/patients/{pid}/documents/{doc}.pdf"' in page.text
    got = c.get(f"/patients/{pid}/documents/summary.pdf")
    assert got.status_code == 200 and got.headers["content-type"] == "application/pdf"
    assert got.headers["content-disposition"].startswith('attachment; filename="hipext-')
    assert got.headers["cache-control"] == "no-store"
    pages, text = _pdf_text(got.content)
    assert pages == 1 and "clinician summary" in text
    full = c.get(f"/patients/{pid}/documents/full.pdf")
    assert _pdf_text(full.content)[0] > 1
    home = c.get(f"/patients/{pid}/documents/home-program.pdf")
    assert "home exercise program" in _pdf_text(home.content)[1].lower()
    with world.session() as s:
        events = [e for e in repo.audit_events(s, world.clinics["A"]["id"], patient_id=pid)
                  if e.action == "document.pdf"]
    assert len(events) == 3


def test_pdfs_follow_the_as_of_date(world):
    pid = add_patient(world, "A", visits=2)
    c = world.login(world.clinics["A"]["users"]["clinician"])
    with world.session() as s:
        first = min(v.date for v in repo.get_patient(s, world.clinics["A"]["id"], pid).visits)
    text = _pdf_text(c.get(f"/patients/{pid}/documents/summary.pdf?as_of={first}").content)[1]
    assert f"Evaluated for {first}" in text


def test_another_clinics_patient_gets_no_pdf(world):
    pid = add_patient(world, "A")
    other = world.login(world.clinics["B"]["users"]["clinician"])
    assert other.get(f"/patients/{pid}/documents/summary.pdf").status_code == 404
    assert world.client().get(f"/patients/{pid}/documents/summary.pdf", follow_redirects=False).status_code in (
        303, 401)
    assert world.login(world.clinics["A"]["users"]["clinician"]).get(
        f"/patients/{pid}/documents/other.pdf").status_code == 404


def test_a_removed_exercise_is_not_on_the_printed_home_program(world):
    pid = add_patient(world, "A", visits=2)
    c = world.login(world.clinics["A"]["users"]["clinician"])
    before = _pdf_text(c.get(f"/patients/{pid}/documents/home-program.pdf").content)[1]
    program = c.get(f"/patients/{pid}/program").text
    first = re.search(r'<tr id="ex-([a-z0-9_]+)"', program).group(1)
    name = re.search(rf'<tr id="ex-{first}"[^>]*>\s*<td><strong>([^<]+)</strong>', program).group(1)
    assert name in before
    saved = c.post(f"/patients/{pid}/program/overrides", data={
        "csrf_token": csrf_of(c), "exercise_id": first, "field": "include", "new_value": "no",
        "reason": "hurts"}, follow_redirects=False)
    assert saved.status_code in (200, 303)
    after = _pdf_text(c.get(f"/patients/{pid}/documents/home-program.pdf").content)[1]
    assert name not in after


def test_without_a_public_address_the_link_gets_no_qr_code(world):
    pid = add_patient(world, "A", visits=2)
    c = world.login(world.clinics["A"]["users"]["clinician"])
    page = c.post(f"/patients/{pid}/links", data={"csrf_token": csrf_of(c)})
    assert 'id="no-base-url"' in page.text and 'id="patient-link-qr"' not in page.text


@pytest.fixture()
def public_address(world):
    world.app.state.settings.base_url = "https://clinic.example"
    yield "https://clinic.example"
    world.app.state.settings.base_url = None


def test_the_new_link_shows_as_a_qr_code_and_prints_on_the_home_program(world, public_address):
    pid = add_patient(world, "A", visits=2)
    c = world.login(world.clinics["A"]["users"]["clinician"])
    page = c.post(f"/patients/{pid}/links", data={"csrf_token": csrf_of(c)})
    url = re.search(r'id="patient-link" href="([^"]+)"', page.text).group(1)
    assert url.startswith(public_address + "/p/")
    assert re.search(r'id="patient-link-qr"[^>]*><svg', page.text)
    pdf = c.post(f"/patients/{pid}/documents/home-program-with-link.pdf",
                 data={"csrf_token": csrf_of(c), "link_url": url})
    assert pdf.status_code == 200
    doc = pypdfium2.PdfDocument(pdf.content)
    found = {r.text for i in range(len(doc)) for r in zxingcpp.read_barcodes(doc[i].render(scale=3).to_pil())}
    assert found == {url}
    # Someone else's link, a made-up link, or no CSRF token: no document.
    other = add_patient(world, "A")
    assert c.post(f"/patients/{other}/documents/home-program-with-link.pdf",
                  data={"csrf_token": csrf_of(c), "link_url": url}).status_code == 404
    assert c.post(f"/patients/{pid}/documents/home-program-with-link.pdf",
                  data={"csrf_token": csrf_of(c), "link_url": url + "x"}).status_code == 404
    assert c.post(f"/patients/{pid}/documents/home-program-with-link.pdf",
                  data={"link_url": url}).status_code == 403


def test_the_patient_page_names_the_clinic_and_how_to_reach_it(world):
    world.app.state.settings.clinic_contact = "020 7946 0000 · desk@clinic.example"
    try:
        pid = add_patient(world, "A", visits=2)
        c = world.login(world.clinics["A"]["users"]["clinician"])
        link = _new_link(c, pid)
        home = world.client().get(link[link.index("/p/"):])
        with world.session() as s:
            name = s.get(__import__("hipext.store.models", fromlist=["Clinic"]).Clinic,
                         world.clinics["A"]["id"]).name
        assert name in home.text and "020 7946 0000" in home.text
    finally:
        world.app.state.settings.clinic_contact = None


def _log(world, link: str, **fields):
    anon = world.client()
    path = link[link.index("/p/"):]
    page = anon.get(path)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    return anon.post(f"{path}/log", data={"csrf_token": token, **{k: str(v) for k, v in fields.items()}},
                     follow_redirects=False)


def test_stop_zone_pain_and_missed_sessions_put_a_patient_on_the_attention_list(world, clock):
    c = world.login(world.clinics["A"]["users"]["clinician"])
    hurt = add_patient(world, "A", visits=2)
    fine = add_patient(world, "A", visits=2)
    hurt_link, fine_link = _new_link(c, hurt), _new_link(c, fine)
    today = clock().date().isoformat()
    assert _log(world, hurt_link, date=today, pain_during=6, completed="yes").status_code == 303
    assert _log(world, fine_link, date=today, pain_during=2, completed="yes").status_code == 303
    clock.advance(days=13)  # a fortnight later, one session each: both have missed sessions
    c = world.login(world.clinics["A"]["users"]["clinician"])  # a new sign-in: the old session timed out
    page = c.get("/attention")
    assert page.status_code == 200
    table = page.text[page.text.index('id="attention"'):]
    with world.session() as s:
        ids = {pid: repo.get_patient(s, world.clinics["A"]["id"], pid).external_id for pid in (hurt, fine)}
    assert f'href="/patients/{hurt}"' in table and "6/10" in table and "stop zone" in table
    rows = re.findall(r'<a href="/patients/(\d+)">([^<]+)</a>', table)
    assert (str(hurt), ids[hurt]) in rows and (str(fine), ids[fine]) in rows  # fine missed sessions
    assert [r[0] for r in rows].index(str(hurt)) < [r[0] for r in rows].index(str(fine))  # stop zone first
    assert "planned sessions" in table
    other = world.login(world.clinics["B"]["users"]["clinician"]).get("/attention").text
    assert ids[hurt] not in other  # clinic-scoped


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], str]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.messages.append((envelope.mail_from, envelope.rcpt_tos, envelope.content.decode("utf-8", "replace")))
        return "250 OK"


@pytest.fixture()
def smtp():
    """A real SMTP server on a free loopback port, for this test only."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    inbox = _Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def test_stop_zone_pain_e_mails_the_clinic_with_no_patient_data(world, smtp, clock):
    inbox, port = smtp
    world.app.state.settings.mail = MailSettings(host="127.0.0.1", port=port, sender="hipext@clinic.example",
                                                 alert_to="team@clinic.example", starttls=False)
    try:
        c = world.login(world.clinics["A"]["users"]["clinician"])
        pid = add_patient(world, "A", visits=2)
        link = _new_link(c, pid)
        today = clock().date().isoformat()
        assert _log(world, link, date=today, pain_during=3).status_code == 303
        assert _log(world, link, date=today, pain_during=7, note="sharp pain").status_code == 303
        deadline = time.time() + 10
        while not inbox.messages and time.time() < deadline:
            time.sleep(0.05)
        assert len(inbox.messages) == 1  # only the stop-zone entry
        sender, to, body = inbox.messages[0]
        assert to == ["team@clinic.example"] and "needs attention" in body and "/attention" in body
        with world.session() as s:
            external = repo.get_patient(s, world.clinics["A"]["id"], pid).external_id
        assert external not in body and "sharp pain" not in body and "7/10" not in body
    finally:
        world.app.state.settings.mail = None


def test_an_unreachable_mail_server_does_not_break_the_patients_page(world, clock):
    world.app.state.settings.mail = MailSettings(host="127.0.0.1", port=1, sender="a@b.c", alert_to="d@e.f",
                                                 starttls=False, timeout_s=1)
    try:
        c = world.login(world.clinics["A"]["users"]["clinician"])
        pid = add_patient(world, "A", visits=2)
        link = _new_link(c, pid)
        assert _log(world, link, date=clock().date().isoformat(), pain_during=8).status_code == 303
    finally:
        world.app.state.settings.mail = None


# ---------------------------------------------------------------------------------------------------------------
# Device files uploaded into a visit


FLEXED = "hhd_hip_extension_prone_knee_flexed"


def _import(c, pid: int, name: str, content: bytes, **fields):
    data = {"csrf_token": csrf_of(c), **{k: str(v) for k, v in fields.items()}}
    return c.post(f"/patients/{pid}/import", data=data, files={"file": (name, content, "text/csv")})


def test_an_uploaded_trace_adds_to_the_visit_shows_the_curve_and_changes_the_evaluation(world):
    from pathlib import Path

    pid = add_patient(world, "A", visits=2)
    c = world.login(world.clinics["A"]["users"]["clinician"])
    with world.session() as s:
        row = repo.get_patient(s, world.clinics["A"]["id"], pid)
        last = max(v.date for v in row.visits)
        before = len(row.visits)
    trace = (Path(__file__).parents[2] / "examples" / "dynamometer" / "force-time-trace.csv").read_bytes()
    got = _import(c, pid, "trace.csv", trace, visit_date=last.isoformat(), test="hhd_hip_extension_prone_knee_extended",
                  side="right", lever_arm_m="0.38", fixation="belt")
    assert got.status_code == 200, got.text[:2000]
    assert 'id="import-added"' in got.text and got.text.count("<circle") == 3  # three repetitions on the curve
    with world.session() as s:
        row = repo.get_patient(s, world.clinics["A"]["id"], pid)
        assert len(row.visits) == before  # added to the visit of that date, not a new one
        visit = next(v for v in row.visits if v.date == last)
        assert any(m.get("device_metrics", {}).get("layout") == "force_time_trace"
                   for m in visit.data_json["measurements"])
        assert any(e.action == "visit.import" and e.outcome == "ok"
                   for e in repo.audit_events(s, world.clinics["A"]["id"], patient_id=pid))
    page = c.get(f"/patients/{pid}/evaluation")
    assert "knee extended" in page.text


def test_a_bad_upload_lists_every_problem_and_adds_nothing(world):
    pid = add_patient(world, "A", visits=1)
    c = world.login(world.clinics["A"]["users"]["clinician"])
    with world.session() as s:
        before = [dict(v.data_json) for v in repo.get_patient(s, world.clinics["A"]["id"], pid).visits]
    bad = f"test,side,trial,force_n,lever_arm_m\n{FLEXED},right,1,abc,0.38\n{FLEXED},middle,1,200,0.38\n".encode()
    got = _import(c, pid, "bad.csv", bad, visit_date="2026-01-05")
    assert got.status_code == 422
    assert "row 2, column force_n" in got.text and "row 3, column side" in got.text
    with world.session() as s:
        assert [dict(v.data_json) for v in repo.get_patient(s, world.clinics["A"]["id"], pid).visits] == before
    too_big = _import(c, pid, "big.csv", b"x" * (20 * 1024 * 1024 + 10), visit_date="2026-01-05")
    assert too_big.status_code == 422 and "at most" in too_big.text  # over the file limit, under the body limit
    huge = _import(c, pid, "huge.csv", b"x" * (22 * 1024 * 1024), visit_date="2026-01-05")
    assert huge.status_code == 413  # refused before the body is read
    read_only = world.login(world.clinics["A"]["users"]["read_only"])
    assert _import(read_only, pid, "t.csv", bad, visit_date="2026-01-05").status_code == 403
