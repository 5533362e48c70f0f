"""Second factor: TOTP (RFC 6238, 30-second codes, pyotp) and one-time recovery codes (ASVS 5.0 6.5, HIPAA
164.312(d)). A code is accepted once: the time step it belongs to is remembered, so a replayed code fails."""

from __future__ import annotations

import datetime as dt
import secrets

import pyotp
from sqlalchemy import select
from sqlalchemy.orm import Session

from hipext.store.models import RecoveryCode, User
from hipext.store.repo import sha256

ISSUER = "hipext"
RECOVERY_CODES = 10


def new_secret() -> str:
    return pyotp.random_base32()  # 160 bits from the OS CSPRNG


def provisioning_uri(secret: str, username: str) -> str:
    """The otpauth:// URI authenticator apps import (as text or as a QR code)."""
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=ISSUER)


def _normalise(code: str) -> str:
    return "".join(ch for ch in code if ch.isalnum()).lower()


def verify_totp(user: User, code: str, now: dt.datetime) -> bool:
    """Check a 6-digit code for the user's secret (enabled, or pending while it is set up) at the current 30-second
    step or the one either side (clock drift) and, when it is good, remember its step on the user so the same code
    cannot be used again. No secret: False."""
    code = _normalise(code)
    if not user.totp_secret or len(code) != 6 or not code.isdigit():
        return False
    totp = pyotp.TOTP(user.totp_secret)
    step = int(now.timestamp()) // totp.interval
    for candidate in (step, step - 1, step + 1):
        if candidate <= (user.totp_last_step or -1):
            continue
        if secrets.compare_digest(totp.at(candidate * totp.interval), code):
            user.totp_last_step = candidate
            return True
    return False


def new_recovery_codes(s: Session, user: User, now: dt.datetime) -> list[str]:
    """Replace the user's recovery codes with fresh ones; returns them (shown once, stored hashed)."""
    for old in s.scalars(select(RecoveryCode).where(RecoveryCode.user_id == user.id)):
        s.delete(old)
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = secrets.token_hex(10)  # 80 bits: stored as a plain SHA-256, like API tokens
        codes.append("-".join(raw[i : i + 5] for i in range(0, 20, 5)))
    for c in codes:
        s.add(RecoveryCode(user_id=user.id, code_hash=sha256("recovery:" + _normalise(c)), created_at=now))
    return codes


def use_recovery_code(s: Session, user: User, code: str, now: dt.datetime) -> bool:
    row = s.scalar(
        select(RecoveryCode).where(
            RecoveryCode.user_id == user.id,
            RecoveryCode.code_hash == sha256("recovery:" + _normalise(code)),
            RecoveryCode.used_at.is_(None),
        )
    )
    if row is None:
        return False
    row.used_at = now
    return True


def remaining_recovery_codes(s: Session, user_id: int) -> int:
    return len(
        list(s.scalars(select(RecoveryCode.id).where(RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None))))
    )
