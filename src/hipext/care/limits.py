"""The one generic filter: a task's demands against the active limits. No per-exercise rules live here."""

from __future__ import annotations

from typing import Any

from hipext.care.models import ORDINALS, Demands, Limits

_CONTROL = {"block_all", "supervised", "why"}


_EXCLUDED = "_excluded"  # a limit `<axis>_excluded` lists values the demand `<axis>` (a list) must not contain


def _kind(name: str) -> str:
    if name.endswith(_EXCLUDED):
        return "excluded"
    if name in ORDINALS:
        return "ordinal"
    if name.endswith("_max_deg"):
        return "max"
    if name.endswith("_min_deg"):
        return "min"
    return "allowed"  # booleans: a limit of False forbids a demand of True


def violations(demands: Demands, limits: Limits) -> list[str]:
    """Names of the limits this task would break; empty when it is allowed."""
    if limits.block_all:
        return ["block_all"]
    out = []
    for name in Limits.model_fields:
        if name in _CONTROL:
            continue
        limit = getattr(limits, name)
        if limit is None:
            continue
        kind = _kind(name)
        need = getattr(demands, name.removesuffix(_EXCLUDED))
        if kind == "excluded":
            broken = bool(set(need) & set(limit))
        elif kind == "ordinal":
            scale = ORDINALS[name]
            broken = scale.index(need) > scale.index(limit)
        elif kind == "max":
            broken = need > limit
        elif kind == "min":
            broken = need < limit
        else:
            broken = bool(need) and limit is False
        if broken:
            out.append(name)
    return out


def allowed(demands: Demands, limits: Limits) -> bool:
    return not violations(demands, limits)


def _stricter(name: str, a: Any, b: Any) -> Any:
    if a is None:
        return b
    if b is None:
        return a
    kind = _kind(name)
    if kind == "ordinal":
        scale = ORDINALS[name]
        return a if scale.index(a) <= scale.index(b) else b
    if kind == "max":
        return min(a, b)
    if kind == "min":
        return max(a, b)
    if kind == "excluded":
        return sorted(set(a) | set(b))
    return a and b


def merge(parts: list[tuple[str, dict[str, Any]]]) -> Limits:
    """Merge (rule id, limit mapping) pairs into one Limits, keeping the strictest value of each."""
    values: dict[str, Any] = {}
    why: dict[str, list[str]] = {}
    for rule_id, mapping in parts:
        for name, value in mapping.items():
            if name not in Limits.model_fields or name in ("why",):
                raise ValueError(f"unknown limit {name!r} in rule {rule_id!r}")
            if name in ("block_all", "supervised"):
                values[name] = values.get(name, False) or bool(value)
            else:
                values[name] = _stricter(name, values.get(name), value)
            why.setdefault(name, [])
            if rule_id not in why[name]:
                why[name].append(rule_id)
    return Limits(**values, why=why)
