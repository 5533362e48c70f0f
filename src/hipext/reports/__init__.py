"""Reports a clinician reads: Markdown and HTML renderings of the evaluation document."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from hipext.document import Evaluation
from hipext.reports.capacity_charts import task_bars_svg, torque_angle_svg


def _num(x: Any, digits: int = 1) -> str:
    if x is None:
        return "–"
    if isinstance(x, float):
        text = f"{x:.{digits}f}"
        return text.rstrip("0").rstrip(".") if "." in text else text  # 1000 stays 1000 at zero digits
    return str(x)


# Long device names shortened where space is tight (summary tables, chart labels).
ABBREVIATIONS = {"Hand-held dynamometry": "HHD", "Isokinetic dynamometry": "Isokinetic", "Manual muscle test": "MMT"}


def short_name(name: str) -> str:
    for long, short in ABBREVIATIONS.items():
        name = name.replace(long, short)
    return name


def protocol_name(test_id: str) -> str:
    """A protocol's name, shortened, for a test id (the id itself when it is not a known protocol)."""
    from hipext import evidence

    proto = evidence.load().protocols.get(test_id)
    return short_name(proto.name) if proto else _words(test_id)


def _words(x: Any) -> str:
    return str(x).replace("_", " ") if x is not None else "–"


@lru_cache(maxsize=2)
def _env(autoescape: bool) -> Environment:
    env = Environment(
        loader=PackageLoader("hipext", "reports/templates"),
        # The templates are named *.html.j2: the extension list must say so, or nothing is escaped.
        autoescape=select_autoescape(["html", "html.j2"], default_for_string=True) if autoescape else False,
        undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
    )
    env.filters["num"] = _num
    env.filters["words"] = _words
    env.filters["short"] = short_name
    env.filters["protocol_name"] = protocol_name
    env.globals.update(torque_angle_svg=torque_angle_svg, task_bars_svg=task_bars_svg)
    return env


def render(evaluation: Evaluation, fmt: str) -> str:
    """Render as 'markdown' or 'html'. Both show the screening decision first, then results and findings."""
    doc = evaluation.model_dump(mode="json")
    latest = [r for r in doc["results"] if r["date"] == doc["evaluated_visit"]]
    earlier = [r for r in doc["results"] if r["date"] != doc["evaluated_visit"]]
    template = {"markdown": "report.md.j2", "html": "report.html.j2"}[fmt]
    from hipext import evidence
    from hipext.importers.force_time import settings as force_time_settings

    rfd_error = force_time_settings()["measurement_error"]
    return _env(fmt == "html").get_template(template).render(
        e=doc, latest=latest, earlier=earlier, source_ids=[s["id"] for s in doc["sources"]],
        rfd_error=rfd_error, rfd_source=evidence.load().references[rfd_error["source"]],
    ).strip() + "\n"
