"""The evidence base: YAML files under `hipext/data/evidence`, loaded once into pydantic models."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import Any

from hipext.evidence.cache import _Loader as _Loader  # caseio extends it
from hipext.evidence.cache import parse_yaml
from hipext.evidence.models import (
    Evidence,
    Mcid,
    MeasurementError,
    Norm,
    PromScoring,
    Protocol,
    Reference,
    Threshold,
)

EVIDENCE_FILES = ("bibliography", "protocols", "measurement_error", "norms", "mcid", "prom_scoring", "thresholds")


def data_dir() -> Any:
    return resources.files("hipext") / "data"


def read_yaml(relative: str) -> Any:
    """Read one shipped data file, e.g. 'evidence/norms.yaml' (parsed once per content, see ``cache``)."""
    return parse_yaml((data_dir() / relative).read_bytes())


def bibliography_files() -> list[str]:
    """Every bibliography file: the core one and those that other modules (biomechanics, care) add."""
    folder = data_dir() / "evidence"
    return sorted(f"evidence/{p.name}" for p in folder.iterdir() if p.name.startswith("bibliography"))


@lru_cache(maxsize=1)
def load() -> Evidence:
    refs: dict[str, Reference] = {}
    for name in bibliography_files():
        for r in read_yaml(name) or []:
            ref = Reference(**r)
            if ref.id in refs:
                raise ValueError(f"duplicate bibliography id {ref.id!r} in {name}")
            refs[ref.id] = ref
    protocols = [Protocol(**p) for p in read_yaml("evidence/protocols.yaml")]
    return Evidence(
        references=refs,
        protocols={p.id: p for p in protocols},
        measurement_error=[MeasurementError(**m) for m in read_yaml("evidence/measurement_error.yaml")],
        norms=[Norm(**n) for n in read_yaml("evidence/norms.yaml")],
        mcids=[Mcid(**m) for m in read_yaml("evidence/mcid.yaml")],
        proms={p["id"]: PromScoring(**p) for p in read_yaml("evidence/prom_scoring.yaml")},
        thresholds={t["id"]: Threshold(**t) for t in read_yaml("evidence/thresholds.yaml")},
    )


__all__ = ["Evidence", "MeasurementError", "Mcid", "Norm", "PromScoring", "Protocol", "Reference", "Threshold",
           "load"]
