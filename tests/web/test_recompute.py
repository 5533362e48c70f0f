"""`python -m hipext.web recompute-evaluations` (issue 12): after an upgrade, every stored evaluation made by other
rules is recomputed beforehand, in batches, each one audited as a system action; a second run finds nothing to do."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from hipext.store import audit_chain, make_engine, repo, session_factory
from hipext.store.models import AuditEvent, StoredEvaluation
from hipext.web import create_app, stored_evaluations
from hipext.web.__main__ import main

from .conftest import EXAMPLE_HISTORY, EXAMPLE_PATIENT, example_visit, own_database


def _recompute(capsys, url: str, schema: str | None, *extra: str) -> str:
    main(["recompute-evaluations", "--database-url", url, *(["--schema", schema] if schema else []), *extra])
    return capsys.readouterr().out


@pytest.mark.parametrize("db", ["sqlite", "postgresql"])
def test_stale_stored_evaluations_are_recomputed_in_batches_and_audited(db, tmp_path, request, capsys,
                                                                         monkeypatch) -> None:
    url, schema = own_database(db, tmp_path, request, "recompute")
    create_app(url, schema=schema).state.engine.dispose()  # migrated
    engine = make_engine(url, schema=schema)
    request.addfinalizer(engine.dispose)
    with session_factory(engine)() as s:
        clinic = repo.get_or_create_clinic(s, "Clinic recompute")
        for i in range(3):
            row = repo.create_patient(s, clinic.id, dict(EXAMPLE_PATIENT, id=f"R-{i}"), dict(EXAMPLE_HISTORY))
            repo.add_visit(s, row, example_visit("2026-01-05"), user_id=None)
        s.commit()

    assert "3 evaluations recomputed, 0 current" in _recompute(capsys, url, schema)  # none stored yet
    monkeypatch.setattr(stored_evaluations, "data_version", lambda: "evidence and care rules of a later release")
    out = _recompute(capsys, url, schema, "--batch", "2")
    assert "3 evaluations recomputed, 0 current, 0 records with input problems (nothing stored), 3 records in 2 " \
           "batches" in out
    with session_factory(engine)() as s:
        versions = set(s.scalars(select(StoredEvaluation.version)))
        recomputed = select(AuditEvent).where(AuditEvent.action == "evaluation.recompute")
        events = s.scalars(recomputed.order_by(AuditEvent.id)).all()
    assert versions == {stored_evaluations.evaluation_version()}  # what the app serves without recomputing
    assert len(events) == 6 and {e.actor for e in events} == {"system:recompute-evaluations"}
    assert [e.detail for e in events][3:] == ["new rules"] * 3 and all(e.patient_id for e in events)
    assert all(r.broken is None for r in audit_chain.verify(engine))

    assert "0 evaluations recomputed, 3 current" in _recompute(capsys, url, schema)  # nothing left to do


def test_a_bad_batch_size_is_named(capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["recompute-evaluations", "--batch", "0"])
    assert exit_.value.code == 2
    assert "--batch: expected a whole number of 1 or more, got 0" in capsys.readouterr().err
