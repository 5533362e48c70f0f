"""The guard: nothing screening blocked may appear anywhere in an output, except in the blocked lists themselves."""

from __future__ import annotations

import re
from typing import Any

from hipext.care.models import Screening

_ALLOWED_PATHS = {("screening", "blocked_tests"), ("screening", "blocked_exercises"), ("blocked_tests",),
                  ("blocked_exercises",)}


class BlockedItemError(AssertionError):
    """A blocked test or exercise id appears in an output."""

    def __init__(self, hits: list[tuple[str, str]]) -> None:
        self.hits = hits
        super().__init__("blocked items in output: " + "; ".join(f"{i} at {p}" for i, p in hits))


def _ids(screening: Screening | dict[str, Any]) -> set[str]:
    if isinstance(screening, Screening):
        return set(screening.blocked_tests) | set(screening.blocked_exercises)
    return set(screening.get("blocked_tests", [])) | set(screening.get("blocked_exercises", []))


def find_blocked(document: Any, screening: Screening | dict[str, Any]) -> list[tuple[str, str]]:
    """Every (id, path) where a blocked id occurs as a whole token in a key or string value."""
    ids = _ids(screening)
    if not ids:
        return []
    rx = re.compile(r"(?<![A-Za-z0-9_])(" + "|".join(re.escape(i) for i in sorted(ids, key=len, reverse=True))
                    + r")(?![A-Za-z0-9_])")
    hits: list[tuple[str, str]] = []

    def walk(x: Any, path: tuple[str, ...]) -> None:
        if path in _ALLOWED_PATHS:
            return
        if isinstance(x, dict):
            for k, v in x.items():
                for m in rx.finditer(str(k)):
                    hits.append((m.group(1), ".".join(path + (str(k),))))
                walk(v, path + (str(k),))
        elif isinstance(x, (list, tuple)):
            for i, v in enumerate(x):
                walk(v, path + (f"[{i}]",))
        elif isinstance(x, str):
            for m in rx.finditer(x):
                hits.append((m.group(1), ".".join(path)))

    walk(document, ())
    return hits


def assert_nothing_blocked(document: dict[str, Any], screening: Screening | dict[str, Any]) -> None:
    """Raise BlockedItemError if a blocked test or exercise id appears outside the screening's blocked lists."""
    hits = find_blocked(document, screening)
    if hits:
        raise BlockedItemError(hits)
