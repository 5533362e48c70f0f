"""Find the numbers written in hipext's Python and templates, so a test can tell clinical ones from the rest.

A clinical number (norm, cut-off, MDC, MCID, dose, threshold, timeline, EMG level, muscle parameter) belongs in the
evidence data with its source. This scanner lists every other number: numeric literals in Python (minus a few
contexts that cannot hold a clinical number, listed in CONTEXTS), numbers inside text that carry a clinical unit or
form a range, and the same in Jinja templates. `tests/nonclinical_literals.yaml` names each one left, file by file,
with the reason it is not clinical.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "hipext"

# Values with no clinical meaning anywhere: zero, one and their negatives (identity, emptiness, sign).
TRIVIAL = {0, 1, -1}
# Calls and keywords whose numeric arguments cannot be clinical: rounding digits, JSON indentation, exit statuses,
# cache sizes, and the input-validation bounds of a schema field (plausibility of typing, not clinical thresholds).
CONTEXT_CALLS = {"round", "Exit", "lru_cache", "range", "enumerate", "zip", "rounded"}
CONTEXT_KEYWORDS = {"indent", "maxsize", "ndigits", "ge", "gt", "le", "lt", "min_length", "max_length", "status_code",
                    "fontsize", "figsize", "lw", "alpha", "ms", "ncol", "delay", "axis", "start", "digits"}
# Text: a number followed by a clinical unit, or a range of numbers.
UNIT = (r"%|°|deg\b|RM\b|N ?m\b|N/kg|kg\b|reps?\b|repetitions?\b|sets?\b|seconds?\b|s\b|min\b|minutes?\b|hours?\b|"
        r"-hour|weeks?\b|months?\b|days?\b|times\b|stands\b|points\b|mmHg|bpm|/10\b|out of 10")
TEXT_NUMBER = re.compile(rf"(?<![\w.#])(\d+(?:\.\d+)?(?:\s*(?:-|–|to)\s*\d+(?:\.\d+)?)?)\s*({UNIT})|"
                         r"(?<![\w.#])\d+(?:\.\d+)?\s*(?:-|–)\s*\d+(?:\.\d+)?(?![\w.])")
JINJA = re.compile(r"{{.*?}}|{%.*?%}", re.S)
NUMBER = re.compile(r"(?<![\w.#-])-?\d+(?:\.\d+)?(?![\w.])")


def _docstrings(tree: ast.AST) -> set[int]:
    out = set()
    for n in ast.walk(tree):
        body = getattr(n, "body", None)
        if isinstance(n, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and body:
            first = body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                out.add(id(first.value))
    return out


def _parents(tree: ast.AST) -> dict[int, ast.AST]:
    return {id(c): p for p in ast.walk(tree) for c in ast.iter_child_nodes(p)}


def _in_context(node: ast.AST, parents: dict[int, ast.AST]) -> bool:
    """True when a numeric literal sits where no clinical number can: see CONTEXT_CALLS and CONTEXT_KEYWORDS."""
    child, parent = node, parents.get(id(node))
    while parent is not None and isinstance(parent, (ast.UnaryOp, ast.Tuple, ast.List)):
        child, parent = parent, parents.get(id(parent))
    if isinstance(parent, ast.keyword) and parent.arg in CONTEXT_KEYWORDS:
        return True
    if isinstance(parent, ast.Call):
        fn = parent.func
        name = fn.id if isinstance(fn, ast.Name) else fn.attr if isinstance(fn, ast.Attribute) else ""
        if name in CONTEXT_CALLS:
            return True
    if isinstance(parent, (ast.Subscript, ast.Slice)):
        return True  # an index or slice position
    if isinstance(parent, ast.BinOp) and isinstance(parent.op, ast.Pow) and parent.right is child:
        return True  # an exponent
    if isinstance(parent, ast.Compare):  # compared with a length or a count of items
        sides = [parent.left, *parent.comparators]
        return any(isinstance(s, ast.Call) and isinstance(s.func, ast.Name) and s.func.id == "len" for s in sides)
    return False


def python_numbers(path: Path) -> Iterator[tuple[int, str]]:
    """(line, text) for each number in a Python file that may be clinical."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docs, parents = _docstrings(tree), _parents(tree)
    for n in ast.walk(tree):
        if not isinstance(n, ast.Constant):
            continue
        if type(n.value) in (int, float) and n.value not in TRIVIAL and not _in_context(n, parents):
            yield n.lineno, repr(n.value)
        elif isinstance(n.value, str) and id(n) not in docs:
            for m in TEXT_NUMBER.finditer(n.value):
                yield n.lineno, m.group(0).strip()


def template_numbers(path: Path) -> Iterator[tuple[int, str]]:
    """(line, text) for each number in a template's expressions, and each number with a clinical unit in its text."""
    text = path.read_text(encoding="utf-8")
    for block in JINJA.finditer(text):
        line = text.count("\n", 0, block.start()) + 1
        inner = re.sub(r"'[^']*'|\"[^\"]*\"", "", block.group(0))  # quoted strings: their text is checked below
        for m in NUMBER.finditer(inner):
            if float(m.group(0)) not in TRIVIAL:
                yield line, m.group(0)
    plain = JINJA.sub(lambda b: re.sub(r"[^\n'\"]", " ", b.group(0)), text)
    plain = re.sub(r"<style.*?</style>|<svg.*?</svg>|\w[\w-]*=\"[^\"]*\"", lambda m: re.sub(r"[^\n]", " ", m.group(0)),
                   plain, flags=re.S)  # CSS, inline SVG and attribute values are layout
    for m in TEXT_NUMBER.finditer(plain):
        yield text.count("\n", 0, m.start()) + 1, m.group(0).strip()


def scan() -> dict[str, list[tuple[int, str]]]:
    out: dict[str, list[tuple[int, str]]] = {}
    for p in sorted(SRC.rglob("*.py")):
        if "migrations" in p.parts:
            continue  # database schema history: column sizes, not clinical numbers
        found = list(python_numbers(p))
        if found:
            out[str(p.relative_to(SRC.parent.parent))] = found
    for p in sorted([*SRC.rglob("*.html"), *SRC.rglob("*.j2")]):
        found = list(template_numbers(p))
        if found:
            out[str(p.relative_to(SRC.parent.parent))] = found
    return out


if __name__ == "__main__":
    for f, items in scan().items():
        print(f, sorted({t for _, t in items}, key=lambda t: (len(t), t)))
