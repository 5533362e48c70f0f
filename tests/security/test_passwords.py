"""New passwords: ASVS 5.0 6.2 (length, breached and common passwords, nothing derived from the username)."""

from __future__ import annotations

import pytest

from hipext.store.passwords import common_passwords, password_problem


def test_the_shipped_list_is_a_real_breached_password_list() -> None:
    listed = common_passwords()
    assert len(listed) >= 100_000
    # From the least frequent end of SecLists' 10-million top-100,000 list: the whole top 100,000 is covered.
    for word in ("thunderbolt", "skateordie", "showmethemoney", "zaqzaqzaq", "z1z2z3z4z5", "tojiik85521133"):
        assert word in listed


@pytest.mark.parametrize(
    "password",
    [
        "P@ssw0rd",
        "aaaaaaaa",
        "password1",
        "Password2026!",
        "iloveyou2",
        "qwertyuiop",
        "abcabcabc",
        "12121212",
        "dragon2026!",
        "Summer2026!",
        "zzzz1111",
    ],
)
def test_common_breached_and_repetitive_passwords_are_refused(password: str) -> None:
    assert password_problem(password) is not None


def test_the_username_and_the_clinic_are_not_passwords() -> None:
    assert password_problem("mrossi-physio", username="mrossi-physio") is not None
    assert password_problem("mrossi-physio-2026", username="mrossi-physio") is not None
    assert password_problem("quayside physio 26") is None
    assert password_problem("quayside physio 26", context=("Quayside Physio",)) is not None  # the clinic's name
    assert password_problem("my hipext password") is not None


def test_length_limits_and_no_composition_rules() -> None:
    assert "at least 8" in password_problem("Xk3#pq9")
    assert password_problem("eight ch") is None  # lower case and a space: fine (ASVS 6.2.5, no composition rules)
    assert password_problem("correct-horse-battery") is None
    assert (
        password_problem("a long passphrase about the gluteal muscles at dawn, with a rowing boat and a dog!") is None
    )
    assert password_problem("wobbly tuesday marmalade lighthouse " * 3) is None  # 108 characters
    assert "at most 128" in password_problem("x9" * 70)
    assert "list of 371,028" in password_problem("P@ssw0rd")  # the message says what is expected


def test_production_hashes_use_the_rfc_9106_profile() -> None:
    """ASVS 11.4.2: Argon2id with current parameters (the test suite itself runs with cheap ones)."""
    import subprocess
    import sys

    code = "from hipext.store.passwords import hash_password; print(hash_password('x'))"
    env = {k: v for k, v in __import__("os").environ.items() if k != "HIPEXT_ARGON2_FAST_FOR_TESTS"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    assert out.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
