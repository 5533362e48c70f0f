"""Evaluations stored with the record: computed when the record is saved, read back while their keys still match.

Two keys decide whether a stored evaluation may be served: `version` (the packaged clinical data, the engine that
made the document and the evaluator the app runs) and `record_key` (a hash of the case, the clinician's program
edits and, for a case with no visits, the day it was reckoned for). Every write to a record also deletes its stored
evaluation in the same transaction (`hipext.store.repo.forget_evaluation`); the key check is the second guard, so a
write path that forgot to delete still cannot serve an evaluation of a record that changed.

Only the default evaluation (as of the latest visit) is stored; an evaluation as of another date is computed and
kept in memory only. Stored evaluations are patient data: read only for the clinic-scoped patient row a route has
already loaded, and served through the same routes and audit events as before.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from importlib import resources
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from hipext import __version__
from hipext.care.overrides import Override
from hipext.evidence import data_version
from hipext.store import repo
from hipext.store.models import Patient
from hipext.web import services

log = logging.getLogger("hipext.web")

# The code an evaluation document comes from: a change to any of it (an upgrade) makes stored documents stale.
ENGINE_PACKAGES = ("core", "care", "evidence", "biomech")
ENGINE_MODULES = ("app.py", "document.py", "caseio.py")
MAX_PENDING = 256  # evaluations waiting to be stored; beyond this the next reader recomputes instead


@lru_cache(maxsize=1)
def engine_version() -> str:
    """SHA-256 over hipext's version and the source of the evaluation engine."""
    root = resources.files("hipext")
    files = [(m, root / m) for m in ENGINE_MODULES]
    for pkg in ENGINE_PACKAGES:
        stack = [(pkg, root / pkg)]
        while stack:
            name, folder = stack.pop()
            for entry in folder.iterdir():
                if entry.is_dir() and entry.name != "__pycache__":
                    stack.append((f"{name}/{entry.name}", entry))
                elif entry.name.endswith(".py"):
                    files.append((f"{name}/{entry.name}", entry))
    h = hashlib.sha256(__version__.encode() + b"\0")
    for name, f in sorted(files, key=lambda item: item[0]):
        data = f.read_bytes()
        h.update(f"{name}\0{len(data)}\0".encode())
        h.update(data)
    return h.hexdigest()


def evaluation_version(evaluator: Callable[..., Any] | None = None) -> str:
    """The version a stored evaluation must carry to be served: data, engine and (in tests) a substitute evaluator."""
    parts = [data_version(), engine_version()]
    if evaluator is not None:
        parts.append(f"{getattr(evaluator, '__module__', '')}.{getattr(evaluator, '__qualname__', repr(evaluator))}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def record_key(data: dict[str, Any], overrides: Sequence[Override], day: dt.date | None) -> str:
    """A hash of what the evaluation is a function of: the case, the edits and (no visits) the day."""
    edits = [o.model_dump(mode="json") for o in overrides]
    return services.content_key("stored-evaluation", data, edits, day)


class Keeper:
    """Stores evaluations on a thread of its own, one at a time, after the request that computed them. A request's
    transaction may hold the locks a store needs (SQLite's write lock, a PostgreSQL row lock of a record it is
    changing): storing from the request's own thread could wait on itself. A store that fails, or one dropped
    because too many are waiting, costs only a recomputation by the next reader."""

    def __init__(self, sessions: Callable[[], sessionmaker[Session]], max_pending: int = MAX_PENDING) -> None:
        self.sessions = sessions  # asked at each store: the app may replace its sessionmaker
        self.max_pending = max_pending
        self._pool: ThreadPoolExecutor | None = None
        self._pending = 0
        self._lock = threading.Lock()

    def keep(self, row: Patient, *, version: str, key: str, view: services.EvaluationView, now: dt.datetime) -> None:
        assert view.model is not None
        values = {
            "version": version,
            "record_key": key,
            "as_of": view.model.as_of,
            "document": view.json_bytes.decode(),
            "now": now,
        }
        with self._lock:
            if self._pending >= self.max_pending:
                return
            self._pending += 1
            if self._pool is None:  # first use, or served again after a shutdown
                self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hipext-evaluations")
            self._pool.submit(self._store, row.id, row.clinic_id, values)

    def _store(self, patient_id: int, clinic_id: int, values: dict[str, Any]) -> None:
        try:
            with self.sessions()() as s:
                repo.save_evaluation(s, patient_id, clinic_id, **values)
                s.commit()
        except SQLAlchemyError:  # busy, or the patient's record went away: the next reader computes it again
            log.warning("could not store the evaluation of patient %s", patient_id, exc_info=True)
        finally:
            with self._lock:
                self._pending -= 1

    def flush(self) -> None:
        """Wait until every evaluation handed over so far is stored (tests)."""
        with self._lock:
            pool = self._pool
        if pool is not None:
            pool.submit(lambda: None).result()

    def shutdown(self) -> None:
        """Store what is waiting, then stop the thread (the app's shutdown)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)


def default_evaluation(
    db: Session,
    keeper: Keeper,
    row: Patient,
    *,
    today: dt.date,
    overrides: Sequence[Override],
    cache: services.EvaluationCache | None,
    evaluator: Callable[..., Any] | None,
    now: dt.datetime,
) -> services.EvaluationView:
    """The patient's evaluation as of the latest visit: from memory, else the stored one when its keys match, else
    computed (and handed to the keeper to store)."""
    data = repo.case_data(row)
    undated_day = None if data["visits"] else today
    version = evaluation_version(evaluator)
    key = record_key(data, overrides, undated_day)

    def load() -> bytes | services.EvaluationView:
        stored = repo.stored_evaluation(db, row.clinic_id, row.id)
        if stored is not None and stored.version == version and stored.record_key == key:
            return stored.document.encode()
        view = services.evaluate_data(data, today=today, cache=None, evaluator=evaluator, overrides=overrides)
        if view.model is not None:
            keeper.keep(row, version=version, key=key, view=view, now=now)
            return view.json_bytes
        return view  # input problems or an engine failure: kept as they are (nothing is stored)

    # Memory keeps the document's bytes, not its parsed model: a request that needs the model parses it into a view
    # of its own (0.5 ms), so the cache's size is what it counts and a cyclic read of many patients still fits.
    found = load() if cache is None else cache.get_or_compute(f"stored:{version}:{key}", load)
    return services.EvaluationView.stored(found) if isinstance(found, bytes) else found
