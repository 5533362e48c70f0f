"""Parsed data files, cached by the hash of their bytes.

The YAML files stay the source of truth; parsing them costs more than the rest of a CLI evaluation's data work, so
the parsed value is kept in a per-user cache file named by the SHA-256 of the file's bytes and of the parser (any
edit gives a new name; nothing can be stale). marshal holds only plain values (no code), and files that hold
anything else (dates) are simply not cached. A test checks that the cached value equals the YAML for every shipped
file.
"""

from __future__ import annotations

import hashlib
import marshal
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

try:  # the C loader is several times faster
    _Loader: Any = yaml.CSafeLoader
except AttributeError:  # pragma: no cover
    _Loader = yaml.SafeLoader


def cache_dir() -> Path | None:
    """$HIPEXT_CACHE_DIR, else $XDG_CACHE_HOME/hipext or ~/.cache/hipext; None when set to '' (no cache)."""
    env = os.environ.get("HIPEXT_CACHE_DIR")
    if env is not None:
        return Path(env) if env else None
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hipext"


def parse_yaml(raw: bytes) -> Any:
    """The parsed YAML document ``raw``, from the cache when it holds it."""
    return parsed(raw, _yaml_load)


def _yaml_load(raw: bytes) -> Any:
    return yaml.load(raw, Loader=_Loader)  # noqa: S506 - a safe loader


def parsed(raw: bytes, parse: Callable[[bytes], Any], *, parser: str = "") -> Any:
    """``parse(raw)``, from the cache when it holds it.

    ``parser`` names any other parser than YAML, with its version (its output is part of the key): the YAML cache
    files keep their names so caches filled by earlier releases stay valid.
    """
    folder = cache_dir()
    key = hashlib.sha256(raw)
    if parser:
        key.update(b"\0" + parser.encode())
    path = None if folder is None else folder / f"data-{key.hexdigest()}.marshal"
    if path is not None:
        try:
            return marshal.loads(path.read_bytes())
        except (OSError, ValueError, EOFError, TypeError):
            pass
    value = parse(raw)
    if path is not None:
        _store(path, value)
    return value


def _store(path: Path, value: Any) -> None:
    try:
        blob = marshal.dumps(value)
    except ValueError:  # a type marshal cannot hold (e.g. a date): parse this file every time
        return
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        with os.fdopen(fd, "wb") as fh:
            fh.write(blob)
        os.replace(tmp, path)  # atomic: concurrent processes never read half a file
    except OSError:
        pass  # a read-only home: parse every time
