"""The evidence base: YAML files under `hipext/data/evidence`, loaded once into pydantic models."""

from __future__ import annotations

import hashlib
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


EVALUATION_DATA = ("biomech", "care", "evidence")  # the data folders an evaluation reads


@lru_cache(maxsize=1)
def data_version() -> str:
    """SHA-256 (hex) of every data file an evaluation reads: their paths and bytes under ``hipext/data``.

    Any edit, added or removed file gives a new version, so a stored evaluation keyed by it (with the hipext
    version, for the rules in code) is recomputed when the evidence or the care rules change. Read once per
    process, like the data itself.
    """
    h = hashlib.sha256()
    for folder in EVALUATION_DATA:
        for path in sorted(_files(data_dir() / folder)):
            h.update(f"{path}\0{len(raw := (data_dir() / path).read_bytes())}\0".encode())
            h.update(raw)
    return h.hexdigest()


def _files(folder: Any, prefix: str = "") -> list[str]:
    """Relative paths ('evidence/norms.yaml') of the files under a data folder, at any depth."""
    prefix = prefix or folder.name
    out: list[str] = []
    for p in folder.iterdir():
        if p.is_dir():
            if p.name != "__pycache__":
                out += _files(p, f"{prefix}/{p.name}")
        else:
            out.append(f"{prefix}/{p.name}")
    return out


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
           "data_version", "load"]
