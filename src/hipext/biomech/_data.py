"""Loading of the biomechanics data files (lazy, cached)."""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path
from typing import Any

DATA_PACKAGE = "hipext.data.biomech"


def data_path(name: str) -> Path:
    """Path of a file in ``hipext/data/biomech``."""
    return Path(str(resources.files("hipext").joinpath("data", "biomech", name)))


@functools.cache
def load_yaml(name: str) -> Any:
    """Parse one YAML file of ``hipext/data/biomech`` (once per process, and per content across processes)."""
    from hipext.evidence.cache import parse_yaml

    return parse_yaml(data_path(name).read_bytes())
