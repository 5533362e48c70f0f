"""The version of the packaged clinical data: a content hash of every file an evaluation reads (the evidence, the
care rules and the biomechanics tables). Anything stored from an evaluation (the web app's stored evaluations) is
keyed by it, so a new release of the data makes every stored evaluation stale without a list of what changed."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from importlib import resources
from importlib.abc import Traversable

# The folders of hipext/data that evaluations read (importers and security are not evaluation inputs).
EVALUATION_DATA = ("evidence", "care", "biomech")


def _files(folder: Traversable, prefix: str) -> list[tuple[str, Traversable]]:
    out: list[tuple[str, Traversable]] = []
    for entry in folder.iterdir():
        name = f"{prefix}/{entry.name}"
        if entry.is_dir():
            out += _files(entry, name)
        elif not entry.name.startswith("."):
            out.append((name, entry))
    return out


@lru_cache(maxsize=1)
def data_version() -> str:
    """SHA-256 over the names and bytes of the evaluation's data files (hex, 64 characters)."""
    root = resources.files("hipext") / "data"
    h = hashlib.sha256()
    for sub in EVALUATION_DATA:
        for name, f in sorted(_files(root / sub, sub), key=lambda item: item[0]):
            data = f.read_bytes()
            h.update(f"{name}\0{len(data)}\0".encode())
            h.update(data)
    return h.hexdigest()
