import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
try:
    import hipext  # noqa: F401
except ImportError:  # not installed in this environment: use the source tree
    sys.path.insert(0, str(SRC))

SHARED = Path(__file__).resolve().parents[3] / "shared"
if not SHARED.exists():
    SHARED = Path("/work/shared")
