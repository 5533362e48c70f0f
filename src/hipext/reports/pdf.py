"""PDF documents from the evaluation: a one-page clinician summary, the full report and the patient's home program.

All three are HTML from the same Jinja templates and the same evaluation document as the HTML report, laid out
for A4 paper by WeasyPrint (fonts and shaping from the system's Pango and fontconfig; `make` installs the Debian
packages). The summary must fit one page: when a case has more results than fit, it is rendered again in a denser
layout, and only then are the least important rows folded into "n more in the full report".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from hipext.document import Evaluation

Document = Literal["summary", "full", "home_program"]
DOCUMENTS: tuple[Document, ...] = ("summary", "full", "home_program")
TITLES = {"summary": "Clinician summary", "full": "Full evaluation report", "home_program": "Home program"}


@dataclass(frozen=True)
class Letterhead:
    """Who the document comes from: shown on every page, and on the home program as who to contact."""

    name: str
    contact: str | None = None


# Density steps for the one-page summary: font size (pt), most result rows (None: all), most findings listed.
_SUMMARY_STEPS: tuple[tuple[float, int | None, int], ...] = (
    (8.5, None, 6), (7.5, None, 6), (7.0, 18, 4), (7.0, 12, 3), (6.5, 8, 2), (6.0, 5, 1))


def _short_refs(ids: list[str]) -> list[str]:
    """Author-year references, each once, in order of first citation."""
    from hipext import evidence

    refs = evidence.load().references
    return list(dict.fromkeys(refs[i].short() if i in refs else i for i in ids))


def _exercise_plain(program: dict[str, Any] | None) -> dict[str, str]:
    """The library's plain-language instruction for each prescribed exercise."""
    from hipext.care import data

    lib = data.exercises()
    return {x["exercise"]: lib[x["exercise"]].plain for x in (program or {}).get("exercises", [])
            if x["exercise"] in lib}


def _summary_rows(doc: dict[str, Any], limit: int | None) -> tuple[list[dict[str, Any]], int]:
    """Results of the evaluated visit, the ones that matter most first, cut at `limit`."""
    latest = [r for r in doc["results"] if r["date"] == doc["evaluated_visit"]]
    if limit is None or len(latest) <= limit:
        return latest, 0

    def weight(r: dict[str, Any]) -> tuple[int, int]:
        concern = r["norm"].get("status") == "below" or (r.get("lsi_percent") or 100) < 100 \
            or (r.get("change") or {}).get("verdict") == "real_change"
        strength = r["kind"] in ("hhd", "isokinetic", "mmt")
        return (0 if concern else 1, 0 if strength else 1)

    keep = sorted(latest, key=weight)[:limit]
    return [r for r in latest if r in keep], len(latest) - limit


def _html(evaluation: Evaluation, document: Document, *, letterhead: Letterhead | None, patient_link: str | None,
          font_pt: float = 8.5, limit: int | None = None, limit_findings: int = 6) -> str:
    from hipext.reports import _env, render
    from hipext.reports.qr import qr_svg

    if document == "full":
        return render(evaluation, "html")
    doc = evaluation.model_dump(mode="json")
    context: dict[str, Any] = {
        "e": doc, "letterhead": letterhead, "title": TITLES[document], "font_pt": font_pt,
        "evaluated_on": doc["as_of"],
    }
    if document == "summary":
        rows, folded = _summary_rows(doc, limit)
        context.update(rows=rows, folded=folded, limit_findings=limit_findings,
                       refs=_short_refs([s["id"] for s in doc["sources"]]))
    else:
        context.update(plain=_exercise_plain(doc.get("program")), patient_link=patient_link,
                       qr=qr_svg(patient_link, title="Your patient link") if patient_link else None)
    template = {"summary": "summary.html.j2", "home_program": "home_program.html.j2"}[document]
    return _env(True).get_template(template).render(**context)


def _page_css(evaluation: Evaluation, document: Document, letterhead: Letterhead | None) -> str:
    """Paper, fonts and running header and footer, shared by all three documents."""
    from html import escape

    def css_text(s: str) -> str:
        return '"' + escape(s).replace("\\", "\\\\").replace('"', '\\"') + '"'

    who = letterhead.name if letterhead else "hipext"
    when = evaluation.as_of.isoformat()
    return f"""
    @page {{ size: A4; margin: 14mm 13mm 15mm 13mm;
      @top-left {{ content: {css_text(who)}; font-size: 7pt; color: #567; }}
      @top-right {{ content: {css_text(TITLES[document] + " · " + evaluation.patient.id)}; font-size: 7pt;
                    color: #567; }}
      @bottom-left {{ content: {css_text(f"Evaluated for {when} · hipext {evaluation.hipext_version}")};
                      font-size: 7pt; color: #567; }}
      @bottom-right {{ content: "Page " counter(page) " of " counter(pages); font-size: 7pt; color: #567; }} }}
    html {{ font-family: "DejaVu Sans", "Liberation Sans", sans-serif; }}
    body {{ max-width: none; margin: 0; padding: 0; font-size: 9pt; line-height: 1.35; }}
    h1 {{ font-size: 14pt; margin: 0 0 4pt; }} h2 {{ font-size: 11pt; margin: 10pt 0 4pt; }}
    table {{ width: 100%; border-collapse: collapse; }}
    tr, li, .exercise {{ break-inside: avoid; }}
    thead {{ display: table-header-group; }}
    svg.chart {{ max-width: 100%; height: auto; break-inside: avoid; }}
    a {{ color: inherit; text-decoration: none; }}
    """


def render_pdf(evaluation: Evaluation, document: Document = "summary", *, letterhead: Letterhead | None = None,
               patient_link: str | None = None) -> bytes:
    """The evaluation as a PDF: 'summary' (always one page), 'full' or 'home_program'.

    `patient_link` puts the patient's own link on the home program as text and as a QR code.
    """
    from weasyprint import CSS, HTML

    css = CSS(string=_page_css(evaluation, document, letterhead))
    if document != "summary":
        html = _html(evaluation, document, letterhead=letterhead, patient_link=patient_link)
        return HTML(string=html).write_pdf(stylesheets=[css])
    rendered = None
    for font_pt, limit, limit_findings in _SUMMARY_STEPS:
        html = _html(evaluation, document, letterhead=letterhead, patient_link=None, font_pt=font_pt, limit=limit,
                     limit_findings=limit_findings)
        rendered = HTML(string=html).render(stylesheets=[css])
        if len(rendered.pages) == 1:
            break
    assert rendered is not None
    if len(rendered.pages) > 1:  # never hand out a "one-page" summary that is not one page
        rendered = rendered.copy(rendered.pages[:1])
    return rendered.write_pdf()
