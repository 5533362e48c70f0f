"""Text views of the evidence base for `hipext evidence list` and `hipext evidence show`."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from pydantic import BaseModel

from hipext import evidence
from hipext.evidence.models import Evidence


def _records(ev: Evidence) -> dict[str, list[Any]]:
    return {
        "sources": list(ev.references.values()),
        "protocols": list(ev.protocols.values()),
        "norms": list(ev.norms),
        "errors": list(ev.measurement_error),
        "mcids": list(ev.mcids),
        "proms": list(ev.proms.values()),
    }


def _line(kind: str, r: Any) -> str:
    describe: dict[str, Callable[[Any], str]] = {
        "sources": lambda r: f"{r.authors.split(',')[0]} {r.year or ''}: {r.title}",
        "protocols": lambda r: f"{r.name} [{r.kind}, {r.unit}]",
        "norms": lambda r: f"{r.test}: {r.population} [{r.kind}, {r.unit}]",
        "errors": lambda r: f"{', '.join(r.protocols)}: "
        + (f"MDC {r.mdc:g} {r.unit}" if r.mdc is not None else
           f"MDC {r.mdc_percent_low:g}-{r.mdc_percent_high:g}%" if r.mdc_percent_high is not None else
           f"SEM {r.sem} {r.unit}"),
        "mcids": lambda r: f"{r.instrument}: {r.kind.upper()} "
        + (f"{r.value:g} {r.unit}" if r.value is not None else f"{r.percent:g}%") + f" ({r.population})",
        "proms": lambda r: f"{r.name}: {r.items} items, {r.score_min:g}-{r.score_max:g}",
    }
    cite = ""
    if kind != "sources" and getattr(r, "source", None):
        cite = f"  <- {r.source} ({r.level})"
    return f"  {r.id:<44} {describe[kind](r)}{cite}"


def list_lines(kind: str | None = None) -> list[str]:
    """Raises KeyError for an unknown kind."""
    records = _records(evidence.load())
    kinds: Iterable[str] = [kind] if kind else records
    lines = []
    for k in kinds:
        items = records[k]
        lines.append(f"{k} ({len(items)})")
        lines += [_line(k, r) for r in items]
    return lines


def show(record_id: str) -> str | None:
    ev = evidence.load()
    for kind, items in _records(ev).items():
        for r in items:
            if r.id != record_id:
                continue
            label = {"sources": "source", "protocols": "protocol", "norms": "norm", "errors": "measurement error",
                     "mcids": "important change", "proms": "questionnaire scoring"}[kind]
            lines = [f"{label} {r.id}"]
            lines += _fields(r)
            if kind == "sources" and r.link:  # the address to open, whether or not the record is complete
                lines.append(f"  link: {r.link}")
            source = getattr(r, "source", None)
            if kind != "sources" and source in ev.references:
                ref = ev.references[source]
                lines.append("")
                lines.append(f"source: {_citation(ref)}")
            return "\n".join(lines)
    return None


def _fields(r: BaseModel) -> list[str]:
    out = []
    for name, value in r.model_dump(exclude_none=True).items():
        if name == "id" or value in ([], {}):
            continue
        if isinstance(value, list) and value and isinstance(value[0], dict):
            out.append(f"  {name}:")
            out += [f"    - {', '.join(f'{k}: {v}' for k, v in item.items() if v is not None)}" for item in value]
        else:
            out.append(f"  {name}: {value}")
    return out


def _citation(ref: Any) -> str:
    if not ref.complete:  # never shown as if it were a citation: say the record is incomplete and why
        return f"[{ref.id}] incomplete record ({ref.incomplete}); not cited as justification"
    parts = [f"{ref.authors} ({ref.year}). {ref.title}."]
    if ref.journal:
        parts.append(f"{ref.journal}.")
    if ref.link:  # a full address, so a terminal can open it
        parts.append(ref.link)
    if ref.doi and ref.url:
        parts.append(f"(also {ref.url})")
    return " ".join(parts)
