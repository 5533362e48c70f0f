"""Loading the care data files once. Pure reads of shipped YAML; everything else in the module is computation."""

from __future__ import annotations

from functools import cache, lru_cache
from typing import Any

from hipext.care.models import Demands, Exercise
from hipext.evidence import read_yaml

# Evidence levels from weakest to strongest; a dose built from several rows reports the weakest.
LEVEL_ORDER = ("clinical_default", "secondary", "verified")


def weakest(levels: list[str]) -> str:
    return min(levels, key=LEVEL_ORDER.index) if levels else "clinical_default"


@cache
def _yaml(name: str) -> Any:
    return read_yaml(f"care/{name}.yaml")


@lru_cache(maxsize=1)
def exercises() -> dict[str, Exercise]:
    """The exercise library by id, in file order. Raises on a broken neighbour link."""
    lib = {r["id"]: Exercise(**r) for r in _yaml("exercises")}
    for ex in lib.values():
        for link in (ex.regression, ex.progression):
            if link is not None and link not in lib:
                raise ValueError(f"exercise {ex.id!r} links to unknown exercise {link!r}")
    return lib


@lru_cache(maxsize=1)
def test_demands() -> dict[str, Demands]:
    return {t["id"]: Demands(**t["demands"]) for t in _yaml("test_demands")["tests"]}


@lru_cache(maxsize=1)
def nonphysical_tests() -> frozenset[str]:
    return frozenset(_yaml("test_demands")["nonphysical"]["tests"])


def rules() -> list[dict[str, Any]]:
    return list(_yaml("screening_rules"))


@lru_cache(maxsize=1)
def postop_rules() -> frozenset[str]:
    """Ids of the post-operative rules (a procedure's precautions, or the fallback for any other surgery)."""
    return frozenset(r["id"] for r in rules() if r.get("precautions") or r.get("fallback"))


@lru_cache(maxsize=1)
def red_flag_questions() -> frozenset[str]:
    """Every screening question (history.red_flags key) some rule reads; any other key would be ignored."""
    keys: set[str] = set()
    for rule in rules():
        for item in rule.get("triggers", []) + rule.get("unless", []):
            keys.update(item.get("red_flags", []))
            keys.update(item.get("not_red_flags", []))
    return frozenset(keys)


@lru_cache(maxsize=1)
def red_flag_text() -> dict[str, str]:
    """Each screening question (history.red_flags key) in plain words."""
    return dict(_yaml("red_flag_questions"))


@lru_cache(maxsize=1)
def activity_checks() -> dict[str, str]:
    """Activity checks a visit may record (id -> what was checked), read by the stage gates."""
    return dict(rta()["activity_checks"])


def lsi() -> dict[str, Any]:
    """The LSI target (evidence threshold `lsi_target`) in the shape the care rules read."""
    from hipext import evidence  # the evidence package is loaded once; imported here to keep this module light

    t = evidence.load().thresholds["lsi_target"]
    return {"min_percent": t.value, "note": t.note, "sources": list(t.sources), "source": t.source,
            "level": t.level}


def precautions() -> dict[str, dict[str, Any]]:
    return {p["id"]: p for p in _yaml("precautions")}


def dosage() -> dict[str, Any]:
    return dict(_yaml("dosage"))


def pain_model() -> dict[str, Any]:
    return dict(_yaml("pain_monitoring"))


def rta() -> dict[str, Any]:
    return dict(_yaml("return_to_activity"))


def follow_up() -> dict[str, Any]:
    return dict(_yaml("follow_up"))


def aftercare() -> dict[str, Any]:
    return dict(_yaml("aftercare"))


def education() -> dict[str, Any]:
    return dict(_yaml("education"))


def supervision() -> dict[str, Any]:
    return dict(_yaml("supervision"))
