import os
import subprocess
import sys
from pathlib import Path

import pytest

# Cheap Argon2 parameters for the hundreds of test sign-ins (the production defaults are tested separately).
os.environ.setdefault("HIPEXT_ARGON2_FAST_FOR_TESTS", "1")
# No resident evaluator behind the `hipext` commands that tests run: none may outlive the suite (the tests of the
# server itself, tests/test_resident.py, turn it on with their own runtime directory and stop what they start).
os.environ["HIPEXT_NO_SERVER"] = "1"

ROOT = Path(__file__).resolve().parents[1]
CASES = ROOT / "tests" / "cases"


def run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run the real command as a user would, in a fresh interpreter."""
    return subprocess.run([sys.executable, "-m", "hipext", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


@pytest.fixture
def cli():
    return run_cli
