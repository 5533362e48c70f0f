"""Web settings. Every time-dependent check reads `clock`, so tests can move time."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _mail_from_env() -> Any:
    from hipext.web.mail import MailSettings

    return MailSettings.from_env()


def _minutes(env: str, default: float) -> dt.timedelta:
    return dt.timedelta(minutes=float(os.environ.get(env, default)))


@dataclass
class Settings:
    idle_timeout: dt.timedelta = field(default_factory=lambda: _minutes("HIPEXT_IDLE_MINUTES", 30))
    absolute_lifetime: dt.timedelta = field(default_factory=lambda: _minutes("HIPEXT_SESSION_MAX_MINUTES", 12 * 60))
    link_lifetime: dt.timedelta = field(default_factory=lambda: dt.timedelta(days=42))
    secure_cookies: bool = field(default_factory=lambda: os.environ.get("HIPEXT_SECURE_COOKIES", "0") == "1")
    login_max_failures: int = 5
    login_window: dt.timedelta = field(default_factory=lambda: dt.timedelta(minutes=15))
    clock: Callable[[], dt.datetime] = utc_now
    # The one clinical entry point; replaceable only so a test can count calls.
    evaluator: Callable[..., Any] | None = None
    base_url: str | None = None
    # The clinic's phone, e-mail or address, printed with its name on documents and shown on the patient's page.
    clinic_contact: str | None = field(default_factory=lambda: os.environ.get("HIPEXT_CLINIC_CONTACT") or None)
    # Alerts through the clinic's SMTP server (hipext.web.mail); None: no e-mail is sent.
    mail: Any = field(default_factory=lambda: _mail_from_env())

    def now(self) -> dt.datetime:
        return self.clock()
