"""Reading a device's CSV export into named columns, collecting every problem with its row and column.

Rows are numbered as a spreadsheet shows them (the header is row 1). Vendors' column names reach hipext's through a
mapping (`columns: {hipext name: vendor name}`) and their words through `values: {column: {vendor: hipext}}`.
Delimiter (comma, semicolon or tab) is detected; with semicolons a decimal comma is accepted, as European
spreadsheets write it.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from hipext.core.errors import Problem

MAX_BYTES = 20 * 1024 * 1024  # a 1 kHz trace of ten minutes is about 10 MB; anything larger is not a test file
MAX_ROWS = 1_000_000


def _norm(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", name.strip().lower())


@dataclass
class Table:
    """A CSV file's rows by column name, after the mapping; `problems` collects what is wrong, never raises."""

    header: list[str]
    rows: list[tuple[int, dict[str, str]]]  # (spreadsheet row number, canonical column -> cell text)
    problems: list[Problem] = field(default_factory=list)
    shown: dict[str, str] = field(default_factory=dict)  # canonical column -> the name the user sees in the file
    decimal_comma: bool = False

    def has(self, column: str) -> bool:
        return column in self.shown

    def where(self, row: int, column: str) -> str:
        return f"row {row}, column {self.shown.get(column, column)}"

    def text(self, row: int, cells: dict[str, str], column: str, *, required: bool = True) -> str | None:
        value = (cells.get(column) or "").strip()
        if not value:
            if required:
                self.problems.append(Problem(self.where(row, column), None, "a value"))
            return None
        return value

    def number(self, row: int, cells: dict[str, str], column: str, *, required: bool = True,
               positive: bool = False) -> float | None:
        raw = self.text(row, cells, column, required=required)
        if raw is None:
            return None
        try:
            value = float(raw.replace(",", ".") if self.decimal_comma else raw)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            self.problems.append(Problem(self.where(row, column), raw, "a number"))
            return None
        if positive and value <= 0:
            self.problems.append(Problem(self.where(row, column), raw, "a number greater than 0"))
            return None
        return value

    def choice(self, row: int, cells: dict[str, str], column: str, allowed: dict[str, str], *,
               required: bool = True) -> str | None:
        raw = self.text(row, cells, column, required=required)
        if raw is None:
            return None
        value = allowed.get(raw.lower())
        if value is None:
            shown = sorted(set(allowed.values()))
            self.problems.append(Problem(self.where(row, column), raw, "one of " + ", ".join(shown)))
        return value


def _decode(data: bytes, name: str) -> tuple[str | None, list[Problem]]:
    if len(data) > MAX_BYTES:
        return None, [Problem("(file)", f"{name}: {len(data)} bytes", f"a file of at most {MAX_BYTES} bytes")]
    if b"\x00" in data[:4096]:
        return None, [Problem("(file)", name, "a text (CSV) file; this looks binary")]
    try:
        return data.decode("utf-8-sig"), []
    except UnicodeDecodeError:
        return data.decode("latin-1"), []  # older Windows exports; every byte decodes, digits are unaffected


def read(data: bytes, name: str, *, columns: dict[str, str] | None = None,
         values: dict[str, dict[str, str]] | None = None, must_exist: frozenset[str] = frozenset()) -> Table:
    """Parse CSV bytes. `columns` maps hipext column names to the file's; `values` maps the file's words to ours.

    A mapped column the file lacks is a problem only when it is in `must_exist` (the user named it); a preset may
    map columns that some exports leave out.
    """
    text, problems = _decode(data, name)
    if text is None:
        return Table([], [], problems)
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        return Table([], [], [Problem("(file)", name, "a header row and at least one data row")])
    try:
        dialect = csv.Sniffer().sniff(lines[0], delimiters=",;\t")
        delimiter = dialect.delimiter
    except csv.Error:
        delimiter = ","
    reader = csv.reader(io.StringIO("\n".join(lines)), delimiter=delimiter)
    header = [h.strip() for h in next(reader)]
    by_norm = {_norm(h): h for h in header}
    mapped = {_norm(v): k for k, v in (columns or {}).items()}
    table = Table(header, [], problems, decimal_comma=delimiter == ";")
    index: dict[str, int] = {}
    for i, h in enumerate(header):
        canonical = mapped.get(_norm(h), _norm(h))
        if canonical in index:
            table.problems.append(Problem(f"row 1, column {h}", h, f"one column for {canonical}; it appears twice"))
            continue
        index[canonical] = i
        table.shown[canonical] = h
    for wanted, theirs in (columns or {}).items():
        if wanted in must_exist and _norm(theirs) not in by_norm:
            table.problems.append(Problem("row 1", theirs, f"a column named {theirs!r} (mapped to {wanted}); "
                                          f"the file has {', '.join(header)}"))
    value_maps = {c: {k.lower(): v for k, v in m.items()} for c, m in (values or {}).items()}
    for n, cells in enumerate(reader, start=2):
        if n - 1 > MAX_ROWS:
            table.problems.append(Problem(f"row {n}", None, f"at most {MAX_ROWS} data rows"))
            break
        if len(cells) != len(header):
            table.problems.append(Problem(f"row {n}", delimiter.join(cells)[:80],
                                          f"{len(header)} cells like the header, got {len(cells)}"))
            continue
        row = {c: cells[i].strip() for c, i in index.items()}
        for c, m in value_maps.items():
            if row.get(c, "").lower() in m:
                row[c] = m[row[c].lower()]
        table.rows.append((n, row))
    if not table.rows and not table.problems:
        table.problems.append(Problem("(file)", name, "at least one data row under the header"))
    return table


def grouped(rows: list[tuple[int, dict[str, str]]], *keys: str) -> Iterator[tuple[tuple[str, ...],
                                                                             list[tuple[int, dict[str, str]]]]]:
    """Rows grouped by the values of `keys`, groups in order of first appearance."""
    groups: dict[tuple[str, ...], list[tuple[int, dict[str, str]]]] = {}
    for n, row in rows:
        groups.setdefault(tuple(row.get(k, "") for k in keys), []).append((n, row))
    yield from groups.items()
