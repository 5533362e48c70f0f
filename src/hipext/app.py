"""Application layer: the one way in for the CLI, the web app and tests."""

from __future__ import annotations

import datetime as dt

from hipext.core.case import Case
from hipext.core.evaluation import Evaluation


def evaluate_case(case: Case, *, today: dt.date | None = None) -> Evaluation:
    """Screen, interpret, prescribe and explain one case. Pure: no I/O."""
    raise NotImplementedError("being built")
