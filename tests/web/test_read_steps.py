"""A read step (hipext.web.security.read_step: autocommit on PostgreSQL, so one round trip per statement) refuses
to change data: a write there would be committed statement by statement instead of as one transaction."""

from __future__ import annotations

import pytest
from sqlalchemy import event, select, update

from hipext.store.models import Clinic
from hipext.web.security import ReadStepWrite, end_transaction, read_step


def test_a_read_step_reads(world) -> None:
    with world.session() as s:
        read_step(s)
        assert s.scalar(select(Clinic.name).where(Clinic.id == world.clinics["A"]["id"])).startswith("Clinic A")
        end_transaction(s)


def test_a_read_step_refuses_to_write_and_the_next_step_may(world) -> None:
    cid = world.clinics["A"]["id"]
    with world.session() as s:
        read_step(s)
        clinic = s.get(Clinic, cid)
        name = clinic.name
        with pytest.raises(ReadStepWrite):
            s.execute(update(Clinic).where(Clinic.id == cid).values(name="renamed"))
        clinic.name = "renamed"
        with pytest.raises(ReadStepWrite):
            s.flush()
        s.rollback()
        assert s.get(Clinic, cid).name == name  # nothing was written
        clinic = s.get(Clinic, cid)
        clinic.name = name + " "  # the same session's next step, an ordinary one, writes as before
        s.commit()
    with world.session() as s:
        clinic = s.get(Clinic, cid)
        assert clinic.name == name + " "
        clinic.name = name
        s.commit()


def test_a_read_step_inside_a_begun_transaction_leaves_it_as_it_was(world) -> None:
    cid = world.clinics["A"]["id"]
    with world.session() as s:
        clinic = s.get(Clinic, cid)  # the transaction has begun
        name = clinic.name
        read_step(s)
        clinic.name = name + " "
        s.flush()  # still the one transaction it was: a write is allowed and rolled back with it
        s.rollback()
        assert s.get(Clinic, cid).name == name



def test_a_read_step_that_finds_everything_in_memory_takes_no_connection(world) -> None:
    checkouts: list[object] = []

    def checkout(*_: object) -> None:
        checkouts.append(1)

    engine = world.app.state.engine
    event.listen(engine, "checkout", checkout)
    try:
        with world.session() as s:
            read_step(s)
            end_transaction(s)
            assert checkouts == []
            clinic = s.get(Clinic, world.clinics["A"]["id"])  # the step has ended: the next may write
            name = clinic.name
            clinic.name = name + " "
            s.commit()
            clinic.name = name
            s.commit()
    finally:
        event.remove(engine, "checkout", checkout)
