"""E-mail through the clinic's own SMTP server: alerts to the clinic when a patient logs pain the pain model says
to act on. Optional: nothing is sent unless HIPEXT_SMTP_HOST and HIPEXT_ALERT_TO are set.

Messages carry no patient data (no name, id or values): they say that someone needs attention and link to the
signed-in attention list, where access is clinic-scoped and audited. Sending runs after the response, in the
thread pool, with a timeout; a failure is logged and never reaches the patient's page.
"""

from __future__ import annotations

import logging
import os
import smtplib
from dataclasses import dataclass
from email.message import EmailMessage

log = logging.getLogger("hipext.mail")


@dataclass(frozen=True)
class MailSettings:
    host: str
    port: int
    sender: str
    alert_to: str
    user: str | None = None
    password: str | None = None
    starttls: bool = True
    timeout_s: float = 10.0

    @classmethod
    def from_env(cls) -> MailSettings | None:
        host, to = os.environ.get("HIPEXT_SMTP_HOST"), os.environ.get("HIPEXT_ALERT_TO")
        if not host or not to:
            return None
        return cls(host=host, port=int(os.environ.get("HIPEXT_SMTP_PORT", "587")),
                   sender=os.environ.get("HIPEXT_MAIL_FROM", f"hipext@{host}"), alert_to=to,
                   user=os.environ.get("HIPEXT_SMTP_USER") or None,
                   password=os.environ.get("HIPEXT_SMTP_PASSWORD") or None,
                   starttls=os.environ.get("HIPEXT_SMTP_STARTTLS", "1") == "1")


def send(settings: MailSettings, subject: str, body: str) -> bool:
    """Send one plain-text message to the clinic's alert address. True when the server accepted it."""
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = settings.sender, settings.alert_to, subject
    msg.set_content(body)
    try:
        with smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout_s) as smtp:
            if settings.starttls:
                smtp.starttls()
            if settings.user and settings.password:
                smtp.login(settings.user, settings.password)
            smtp.send_message(msg)
        return True
    except (OSError, smtplib.SMTPException) as exc:
        log.warning("alert e-mail not sent: %s", exc.__class__.__name__)
        return False


def attention_alert(settings: MailSettings, clinic: str, base_url: str, reason: str) -> bool:
    body = (f"A patient of {clinic} logged a home session that needs attention ({reason}).\n\n"
            "Open the list of patients needing attention in hipext (sign-in required):\n"
            f"{base_url.rstrip('/')}/attention\n\n"
            "This message holds no patient data by design.")
    return send(settings, "hipext: a patient needs attention", body)
