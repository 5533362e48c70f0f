"""Web settings. Every time-dependent check reads `clock`, so tests can move time."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hipext.store.throttle import Policy


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _mail_from_env() -> Any:
    from hipext.web.mail import MailSettings

    return MailSettings.from_env()


_SEC, _MIN = dt.timedelta(seconds=1), dt.timedelta(minutes=1)


def _minutes(env: str, default: float) -> dt.timedelta:
    return dt.timedelta(minutes=float(os.environ.get(env, default)))


@dataclass
class Settings:
    idle_timeout: dt.timedelta = field(default_factory=lambda: _minutes("HIPEXT_IDLE_MINUTES", 30))
    absolute_lifetime: dt.timedelta = field(default_factory=lambda: _minutes("HIPEXT_SESSION_MAX_MINUTES", 12 * 60))
    link_lifetime: dt.timedelta = field(default_factory=lambda: dt.timedelta(days=42))
    secure_cookies: bool = field(default_factory=lambda: os.environ.get("HIPEXT_SECURE_COOKIES", "0") == "1")
    # Sign-in throttles (policy in SECURITY.md). The account-wide one is capped at 30 s so that failures sent from
    # one address never keep the owner out for longer from another address; the stricter ones are per address.
    login_pair: Policy = Policy(free=5, window=_MIN * 15, base=_MIN, cap=_MIN * 15)  # one account from one address
    login_ip: Policy = Policy(free=20, window=_MIN * 15, base=_MIN, cap=_MIN * 60)  # any account from one address
    login_account: Policy = Policy(free=10, window=_MIN * 15, base=_SEC * 5, cap=_SEC * 30)  # from any address
    login_global: Policy = Policy(free=300, window=_MIN * 5, base=_SEC * 5, cap=_SEC * 30)  # all sign-ins
    second_factor_tries: int = 5  # wrong codes before the sign-in starts over
    link_guess: Policy = Policy(free=10, window=_MIN * 15, base=_MIN, cap=_MIN * 60)  # invalid patient-link tokens
    link_sessions_per_day: int = 10  # home sessions one patient link may log in 24 hours
    reset_lifetime: dt.timedelta = field(default_factory=lambda: dt.timedelta(hours=1))
    # Second factor: required for administrators when HIPEXT_REQUIRE_ADMIN_2FA=1 (optional for everyone else).
    require_admin_totp: bool = field(default_factory=lambda: os.environ.get("HIPEXT_REQUIRE_ADMIN_2FA", "0") == "1")
    clock: Callable[[], dt.datetime] = utc_now
    # The one clinical entry point; replaceable only so a test can count calls.
    evaluator: Callable[..., Any] | None = None
    # The clinic's phone, e-mail or address, printed with its name on documents and shown on the patient's page.
    clinic_contact: str | None = field(default_factory=lambda: os.environ.get("HIPEXT_CLINIC_CONTACT") or None)
    # Alerts through the clinic's SMTP server (hipext.web.mail); None: no e-mail is sent.
    mail: Any = field(default_factory=lambda: _mail_from_env())
    # Every absolute link the app gives out (patient links, reset links) starts with this, never with the Host
    # header a client sent. Unset: links are given as paths, to be put after the address the clinic uses.
    base_url: str | None = field(default_factory=lambda: os.environ.get("HIPEXT_BASE_URL") or None)
    # Bytes of evaluations kept in memory per worker (each counted by its JSON size): HIPEXT_CACHE_MB, default 16.
    # The hot patients only: every record's current evaluation is stored with it in the database (issue 12).
    cache_bytes: int = field(default_factory=lambda: int(float(os.environ.get("HIPEXT_CACHE_MB", "16")) * 2**20))

    def now(self) -> dt.datetime:
        return self.clock()
