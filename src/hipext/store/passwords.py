"""Password hashing with Argon2id (argon2-cffi's PasswordHasher defaults to the id variant)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_hasher = PasswordHasher()
MIN_LENGTH = 8
MAX_LENGTH = 128
# A short list of the most common passwords (ASVS 6.2.4 asks for a check against common ones).
COMMON = frozenset(
    """password password1 password123 12345678 123456789 1234567890 qwertyuiop qwerty123 iloveyou
    11111111 00000000 abc12345 abcd1234 letmein1 welcome1 admin123 administrator passw0rd sunshine
    football baseball superman trustno1 princess monkey123 dragon12 changeme""".split()
)


def password_problem(password: str) -> str | None:
    """Why a new password is not acceptable, or None. No composition rules (ASVS 6.2.5)."""
    if len(password) < MIN_LENGTH:
        return f"at least {MIN_LENGTH} characters"
    if len(password) > MAX_LENGTH:
        return f"at most {MAX_LENGTH} characters"
    if password.lower() in COMMON:
        return "a password that is not on the list of common passwords"
    return None


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


# Verified against when the user does not exist, so timing does not reveal which usernames exist.
DUMMY_HASH = _hasher.hash("not-a-real-password-hipext")
