"""Questionnaire scoring from item responses, with each instrument's missing-item rule (published, or a labelled
default where none was found)."""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from dataclasses import dataclass, field

from hipext.evidence.models import PromScoring


@dataclass
class PromScore:
    total: float | None  # None when the instrument has no total (HOOS) or too few items were answered
    subscales: dict[str, float | None] = field(default_factory=dict)
    answered: int = 0
    notes: list[str] = field(default_factory=list)


def _answered(items: Mapping[int, float | None], numbers: list[int]) -> list[float]:
    return [v for k in numbers if (v := items.get(k)) is not None]


def _hoos_transform(mean_item: float, item_max: float) -> float:
    # 0 = extreme problems, 100 = no problems (koos.nu scoring instructions).
    return 100 - mean_item / item_max * 100


def score(rule: PromScoring, items: Mapping[int, float | None] | None = None,
          activity_scores: list[float] | None = None) -> PromScore:
    """Score one questionnaire. Items are keyed by 1-based item number; None or absent means not answered."""
    if rule.id == "psfs":
        scores = activity_scores or []
        if not scores:
            return PromScore(None, notes=["No activities rated; the PSFS needs at least one."])
        return PromScore(statistics.fmean(scores), answered=len(scores))

    items = items or {}
    all_numbers = list(range(1, rule.items + 1))
    answered = _answered(items, all_numbers)
    if rule.method in ("hoos_transform", "hoos12_transform"):
        subs: dict[str, float | None] = {}
        notes = []
        for sub in rule.subscales:
            got = _answered(items, sub.items)
            if len(got) < sub.min_answered:
                subs[sub.name] = None
                notes.append(
                    f"{sub.name}: {len(got)} of {len(sub.items)} items answered; at least {sub.min_answered} "
                    f"are needed, so it is not scored ({rule.missing_rule})."
                )
            else:
                # Missing items take the mean of the answered ones (person-specific imputation), so the
                # transformed score is the same as from the mean of the answered items.
                subs[sub.name] = _hoos_transform(statistics.fmean(got), rule.item_max)
        return PromScore(None, subs, len(answered), notes)

    needed = rule.min_answered if rule.min_answered is not None else rule.items
    if len(answered) < needed:
        return PromScore(
            None, answered=len(answered),
            notes=[f"{len(answered)} of {rule.items} items answered; {needed} are needed ({rule.missing_rule})."],
        )
    if rule.method == "sum":
        total = sum(answered)
        if len(answered) < rule.items:  # scale the sum up from the answered items when the rule allows gaps
            total = total / len(answered) * rule.items
        return PromScore(total, answered=len(answered))
    return PromScore(statistics.fmean(answered), answered=len(answered))
