"""`python -m hipext.web recompute-evaluations`: recompute every stored evaluation that is stale, in batches.

A stored evaluation is stale when it was made by other rules (its `version`: an upgrade changed the evidence, the
care data or the engine) or from another record (its `record_key`). The web app never serves a stale one (it
recomputes it at its first read); this command does the work beforehand, after an upgrade, so that no clinician
waits for it. Records with no stored evaluation get one too. Each recomputation is audited as a system action
(`evaluation.recompute` by `system:recompute-evaluations`) in the transaction that stores it, one transaction per
batch. A record changed while the command runs is safe: its new stored evaluation would carry the record key of the
version it was made from, which the app's key check refuses.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, sessionmaker

from hipext.store import audit_chain, repo
from hipext.store.models import Patient, StoredEvaluation
from hipext.web import services
from hipext.web.stored_evaluations import evaluation_version, record_key

ACTOR = "system:recompute-evaluations"
BATCH = 100  # records per transaction: a bound on what one transaction holds, not on what is recomputed

_BATCH = (
    select(Patient, StoredEvaluation.version, StoredEvaluation.record_key)
    .outerjoin(StoredEvaluation, StoredEvaluation.patient_id == Patient.id)
    .options(repo.WITH_EDITS_MARK)
    .where(Patient.id > bindparam("after"))
    .order_by(Patient.id)
    .limit(bindparam("n"))
)


@dataclass
class Counts:
    records: int = 0
    current: int = 0
    recomputed: int = 0
    not_evaluable: int = 0  # input problems or an engine failure: nothing is stored (the app shows the problems)
    batches: int = 0


def recompute_stale(
    sessions: sessionmaker[Session],
    *,
    today: dt.date,
    now: dt.datetime,
    evaluator: Callable[..., Any] | None = None,
    batch: int = BATCH,
) -> Counts:
    """Walk every record in id order, `batch` at a time; store a fresh evaluation for each stale or missing one."""
    version = evaluation_version(evaluator)
    counts = Counts()
    after = 0
    while True:
        with sessions() as s:
            rows = s.execute(_BATCH, {"after": after, "n": batch}).all()
            if not rows:
                return counts
            events = []
            for row, stored_version, stored_key in rows:
                counts.records += 1
                data = repo.case_data(row)
                overrides = services.care_overrides(repo.program_edits(s, row))
                key = record_key(data, overrides, None if data["visits"] else today)
                if stored_version == version and stored_key == key:
                    counts.current += 1
                    continue
                view = services.evaluate_data(data, today=today, cache=None, evaluator=evaluator, overrides=overrides)
                if view.model is None:
                    counts.not_evaluable += 1
                    continue
                repo.save_evaluation(s, row.id, row.clinic_id, version=version, record_key=key,
                                     as_of=view.model.as_of, document=view.json_bytes.decode(), now=now)
                why = "none stored" if stored_version is None else (
                    "new rules" if stored_version != version else "record changed")
                events.append(repo.audit_row(action="evaluation.recompute", actor=ACTOR, clinic_id=row.clinic_id,
                                             patient_id=row.id, detail=why, now=now))
                counts.recomputed += 1
            if events:
                audit_chain.append_many(s.connection(), events)
            s.commit()
            counts.batches += 1
            after = rows[-1][0].id


def main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser(prog="python -m hipext.web recompute-evaluations",
                                 description=__doc__.split("\n\n")[0].split(": ", 1)[1])
    ap.add_argument("--database-url", default=None, help="default: $HIPEXT_DATABASE_URL or sqlite:///hipext.sqlite3")
    ap.add_argument("--schema", default=None, help="PostgreSQL schema (optional)")
    ap.add_argument("--batch", type=int, default=BATCH, help=f"records per transaction (default {BATCH})")
    args = ap.parse_args(argv)
    if args.batch < 1:
        ap.error(f"--batch: expected a whole number of 1 or more, got {args.batch}")
    from sqlalchemy.exc import SQLAlchemyError  # noqa: PLC0415 - nothing heavy before the arguments are checked

    from hipext.store import make_engine, session_factory  # noqa: PLC0415
    from hipext.store.db import describe_db_error, shown_url  # noqa: PLC0415
    from hipext.store.urls import database_url  # noqa: PLC0415
    from hipext.web.config import Settings  # noqa: PLC0415

    url = database_url(args.database_url)
    settings = Settings()
    engine = make_engine(url, schema=args.schema)
    try:
        now = settings.now()
        counts = recompute_stale(session_factory(engine), today=now.date(), now=now, evaluator=settings.evaluator,
                                 batch=args.batch)
    except SQLAlchemyError as exc:
        print(f"hipext: {describe_db_error(exc, url)}", file=sys.stderr)
        sys.exit(2)
    finally:
        engine.dispose()
    print(f"{shown_url(url)}: {counts.recomputed} evaluations recomputed, {counts.current} current, "
          f"{counts.not_evaluable} records with input problems (nothing stored), {counts.records} records in "
          f"{counts.batches} batches")
