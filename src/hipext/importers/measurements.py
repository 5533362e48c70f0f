"""From a file's values to validated case `Measurement`s, with every problem pointing at the rows it came from.

The checks are the case file's own (field ranges, and what each test's protocol requires), so an imported
measurement is held to exactly the rules of a typed one.
"""

from __future__ import annotations

import hashlib
from typing import Any

from pydantic import ValidationError

from hipext.core.case import NEWTONS_PER_KGF, NEWTONS_PER_LBF, Measurement
from hipext.core.errors import Problem
from hipext.importers.models import ImportOptions
from hipext.importers.table import Table

# Force columns by the unit in their name, with the factor to newtons (exact definitions, as in the case file).
FORCE_UNITS = {"n": 1.0, "lbf": NEWTONS_PER_LBF, "kgf": NEWTONS_PER_KGF}
SIDES = {"left": "left", "right": "right", "l": "left", "r": "right", "links": "left", "rechts": "right"}
FIXATIONS = {"belt": "belt", "manual": "manual", "rig": "rig", "fixed": "rig", "hand": "manual"}
MODES = {"concentric": "concentric", "eccentric": "eccentric", "isometric": "isometric"}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def rows_label(rows: list[int]) -> str:
    rows = sorted(rows)
    return f"row {rows[0]}" if len(rows) == 1 else f"rows {rows[0]}-{rows[-1]}"


def one_of(table: Table, columns: list[str], what: str) -> str | None:
    """The one column of `columns` the file has; a problem when it has none or several."""
    present = [c for c in columns if table.has(c)]
    if len(present) > 1:
        table.problems.append(Problem("row 1", ", ".join(table.shown[c] for c in present), f"one {what} column"))
    elif not present:
        table.problems.append(Problem("row 1", ", ".join(table.header),
                                      f"a {what} column: one of {', '.join(columns)} (or map yours with --column)"))
    return present[0] if len(present) == 1 else None


def setting(table: Table, rows: list[tuple[int, dict[str, str]]], column: str, option: Any, kind: str = "text",
            allowed: dict[str, str] | None = None) -> Any:
    """A value that is the same for a group of rows: from the file's column, else from the command's option.

    Rows that disagree with each other, or with the option, are problems: a group is one set-up.
    """
    if not table.has(column):
        return option
    seen: dict[Any, list[int]] = {}
    for n, cells in rows:
        value: Any
        if kind == "number":
            value = table.number(n, cells, column, required=False, positive=True)
        elif allowed is not None:
            value = table.choice(n, cells, column, allowed, required=False)
        else:
            value = table.text(n, cells, column, required=False)
        if value is not None:
            seen.setdefault(value, []).append(n)
    if len(seen) > 1:
        listed = "; ".join(f"{v} in {rows_label(r)}" for v, r in seen.items())
        table.problems.append(Problem(f"{rows_label([n for n, _ in rows])}, column {table.shown[column]}", listed,
                                      "one value for the same test and side (one set-up per measurement)"))
        return option
    value = next(iter(seen), None)
    if value is not None and option is not None and value != option:
        table.problems.append(Problem(f"{rows_label(seen[value])}, column {table.shown[column]}", value,
                                      f"{option} as given on the command line, or leave one of them out"))
    return value if value is not None else option


def build(table: Table, rows: list[int], fields: dict[str, Any], columns: dict[str, str],
          item_rows: list[int] | None = None) -> Measurement | None:
    """Validate one measurement like a typed one; problems name the rows and the column each field came from.

    `item_rows` gives the row of each trial, so a trial out of range is pinned to its own row.
    """
    from hipext.caseio import check_measurement, problems_from

    where = rows_label(rows)
    fields = {k: v for k, v in fields.items() if v is not None}
    try:
        m = Measurement.model_validate(fields)
    except ValidationError as exc:
        for p in problems_from(exc):
            field, _, rest = p.path.partition("[")
            field = field.split(".")[0]
            index = rest.split("]")[0]
            row = where
            if item_rows and field.startswith("trials_") and index.isdigit() and int(index) < len(item_rows):
                row = f"row {item_rows[int(index)]}"
            column = table.shown.get(columns.get(field, field), columns.get(field, field))
            table.problems.append(Problem(f"{row}, column {column}", p.value, p.expected))
        return None
    for p in check_measurement(m, "m"):
        field = p.path.removeprefix("m.").split(".")[0]
        column = columns.get(field, field)
        label = table.shown.get(column, f"{column} (no such column; give it in the file or on the command line)")
        table.problems.append(Problem(f"{where}, column {label}", p.value, p.expected))
    return m


def test_for(table: Table, rows: list[tuple[int, dict[str, str]]], options: ImportOptions) -> str | None:
    test = setting(table, rows, "test", options.test)
    if test is None:
        table.problems.append(Problem(f"{rows_label([n for n, _ in rows])}, column test", None,
                                      "a test id in a test column or --test (`hipext evidence list`)"))
    return str(test) if test is not None else None


def check_position(table: Table, rows: list[tuple[int, dict[str, str]]], test: str) -> None:
    """A position column must agree with the protocol: the protocol fixes how the test is done."""
    from hipext import evidence

    proto = evidence.load().protocols.get(test)
    if proto is None or not table.has("position"):
        return
    for n, cells in rows:
        given = table.text(n, cells, "position", required=False)
        if given and proto.position and given.lower().replace(" ", "_") != proto.position:
            table.problems.append(Problem(table.where(n, "position"), given,
                                          f"{proto.position} (the position of {test}), or another test id"))
