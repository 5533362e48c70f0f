"""Failure throttles with exponential back-off, kept in the database so they hold across workers and restarts.

Each key (an account, an address, an account from one address, everything) is a leaky bucket: a failure adds one,
and `free` failures leak away per `window`. Once the level reaches `free`, the key is blocked for `base`, doubling
with each further failure up to `cap`. An attempt is counted *before* the slow check it guards (the password hash),
in a committed transaction that locks the key's row: concurrent attempts queue on the lock and see each other's
counts, so N workers cannot squeeze in more than `free` guesses between a check and its count.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from hipext.store.models import Throttle


@dataclass(frozen=True)
class Policy:
    free: int  # failures before back-off starts (and how many leak away per window)
    window: dt.timedelta
    base: dt.timedelta  # first block
    cap: dt.timedelta  # longest block

    def level(self, row: Throttle, now: dt.datetime) -> float:
        # Whole failures leak, one per window/free: five quick failures are five, not 4.98.
        leaked = math.floor(max(dt.timedelta(0), now - row.updated_at) / (self.window / self.free))
        return max(0.0, row.failures - leaked)

    def block(self, level: float) -> dt.timedelta | None:
        if level < self.free:
            return None
        return min(self.cap, self.base * 2 ** math.floor(level - self.free))


@dataclass
class Verdict:
    allowed: bool
    retry_after: dt.timedelta = dt.timedelta(0)
    blocked_key: str | None = None

    @property
    def retry_seconds(self) -> int:
        return max(1, math.ceil(self.retry_after.total_seconds()))


def _locked_rows(s: Session, keys: list[str], now: dt.datetime) -> dict[str, Throttle]:
    dialect = s.get_bind().dialect.name
    make = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = select(Throttle).where(Throttle.key.in_(keys)).order_by(Throttle.key).with_for_update()
    rows: dict[str, Throttle] = {}
    while True:
        for key in sorted(set(keys) - set(rows)):  # one order everywhere: no deadlock between two multi-key attempts
            # A write first: on SQLite it takes the database's write lock before anything is read.
            s.execute(make(Throttle).values(key=key, failures=0.0, updated_at=now).on_conflict_do_nothing())
        rows = {r.key: r for r in s.scalars(stmt.execution_options(populate_existing=True))}
        if len(rows) == len(set(keys)):
            return rows
        # PostgreSQL: a concurrent success deleted a row after our insert found it there; make it again. (Each
        # round waits for the deleting transaction, so this ends.)


def attempt(s: Session, keys: dict[str, Policy], now: dt.datetime) -> Verdict:
    """Count one attempt against every key, unless one of them is blocked (then nothing is counted). Commits."""
    rows = _locked_rows(s, list(keys), now)
    blocked = [(r.blocked_until, k) for k, r in rows.items() if r.blocked_until is not None and r.blocked_until > now]
    if blocked:
        until, key = max(blocked)
        s.commit()
        return Verdict(False, until - now, key)
    for key, policy in keys.items():
        row = rows[key]
        row.failures = policy.level(row, now) + 1
        row.updated_at = now
        wait = policy.block(row.failures)
        row.blocked_until = now + wait if wait else None
    s.commit()
    return Verdict(True)


def succeeded(s: Session, keys: dict[str, Policy], *, reset: set[str], now: dt.datetime) -> None:
    """The attempt counted by `attempt` succeeded: keys in `reset` start over (the account's owner got in); the
    others get the attempt back (a clinic behind one address is not blocked by its own sign-ins). Commits."""
    rows = _locked_rows(s, list(keys), now)
    for key, policy in keys.items():
        row = rows[key]
        if key in reset:
            s.execute(delete(Throttle).where(Throttle.key == key))
            continue
        row.failures = max(0.0, policy.level(row, now) - 1)
        row.updated_at = now
        if policy.block(row.failures) is None:
            row.blocked_until = None
    s.commit()


def blocked(s: Session, key: str, now: dt.datetime) -> Verdict:
    """Is this key blocked now? (A read: for a check made before any attempt is counted.)"""
    row = s.get(Throttle, key)
    if row is not None and row.blocked_until is not None and row.blocked_until > now:
        return Verdict(False, row.blocked_until - now, key)
    return Verdict(True)


def failed(s: Session, keys: dict[str, Policy], now: dt.datetime) -> None:
    """Count a failure found after the fact (a patient-link token that matched nothing). Commits."""
    rows = _locked_rows(s, list(keys), now)
    for key, policy in keys.items():
        row = rows[key]
        row.failures = policy.level(row, now) + 1
        row.updated_at = now
        wait = policy.block(row.failures)
        if wait:
            row.blocked_until = max(row.blocked_until or now, now + wait)
    s.commit()
