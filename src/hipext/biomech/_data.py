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
    """Parse one YAML file of ``hipext/data/biomech`` (cached; PyYAML imported lazily)."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with data_path(name).open(encoding="utf-8") as fh:
        return yaml.load(fh, Loader=loader)  # noqa: S506 - SafeLoader
