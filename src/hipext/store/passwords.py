"""Password hashing (Argon2id) and the policy for new passwords (ASVS 5.0 6.2: length, no composition rules, no
common or breached password, nothing derived from the username or the product)."""

from __future__ import annotations

import lzma
import os
import re
from functools import lru_cache
from importlib import resources

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

# argon2-cffi's defaults are the RFC 9106 low-memory profile (Argon2id, t=3, m=64 MiB, p=4). The test suite sets
# HIPEXT_ARGON2_FAST_FOR_TESTS=1 (never do this in production) so its hundreds of sign-ins take milliseconds.
_hasher = (
    PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    if os.environ.get("HIPEXT_ARGON2_FAST_FOR_TESTS") == "1"
    else PasswordHasher()
)
MIN_LENGTH = 8
MAX_LENGTH = 128
PRODUCT_WORDS = ("hipext", "hip extensor", "clinic")
_LEET = str.maketrans({"@": "a", "4": "a", "0": "o", "1": "l", "!": "i", "3": "e", "$": "s", "5": "s", "7": "t"})
_TRAILING = re.compile(r"[\d\W_]+$")


class _WordList:
    """The shipped list as one newline-separated string (3.5 MB in memory, loaded in a fraction of a second); a
    lookup is one substring search in C, about a millisecond, and only runs when a password is chosen."""

    def __init__(self, text: str) -> None:
        self._text = "\n" + text.strip("\n") + "\n"
        self._count = self._text.count("\n") - 1

    def __contains__(self, word: object) -> bool:
        w = str(word)
        return "\n" not in w and f"\n{w}\n" in self._text

    def __len__(self) -> int:
        return self._count


@lru_cache(maxsize=1)
def common_passwords() -> _WordList:
    """The shipped list (data/security/common_passwords.txt.xz, see its README): loaded once, on first use."""
    raw = resources.files("hipext").joinpath("data/security/common_passwords.txt.xz").read_bytes()
    return _WordList(lzma.decompress(raw).decode("utf-8"))


def _variants(password: str) -> set[str]:
    """The password as a guesser would try it: case-folded, de-leeted, without the digits or symbols tacked on."""
    low = password.casefold()
    out = {low, low.translate(_LEET)}
    out |= {_TRAILING.sub("", v) for v in list(out)}
    return {v for v in out if v}


def _repetitive(password: str) -> bool:
    """A short unit repeated ('aaaaaaaa', 'abcabcabc', '12121212')."""
    return any(len(password) % n == 0 and password == password[:n] * (len(password) // n) for n in range(1, 5))


def password_problem(password: str, *, username: str | None = None, context: tuple[str, ...] = ()) -> str | None:
    """What a new password must be instead, or None when it is acceptable. `context` adds words specific to this
    deployment (the clinic's name, the user's display name)."""
    if len(password) < MIN_LENGTH:
        return f"at least {MIN_LENGTH} characters"
    if len(password) > MAX_LENGTH:
        return f"at most {MAX_LENGTH} characters"
    variants = _variants(password)
    words = [w.casefold() for w in (username or "", *context, *PRODUCT_WORDS) if w and len(w) >= 4]
    if any(w in v for w in words for v in variants) or (username and password.casefold() == username.casefold()):
        return "a password that does not contain your username, your name, the clinic's name or the product's name"
    if _repetitive(password):
        return "a password that is not one short pattern repeated"
    listed = common_passwords()
    if any(v in listed for v in variants):
        return f"a password that is not on the list of {len(listed):,} common and breached passwords"
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
