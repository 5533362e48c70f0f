"""`hipext evaluate` loads only what evaluating needs: other commands register when invoked or for help."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROBE = """
import sys
sys.argv = ["hipext", *sys.argv[1:]]
import hipext.cli as cli
try:
    cli.main()
except SystemExit:
    pass
heavy = ("hipext.fhir", "hipext.biomech.cli", "hipext.biomech.model", "hipext.care.cli", "hipext.batch",
         "hipext.importers.cli", "numba", "numpy")
print("LOADED", sorted(m for m in sys.modules if m.startswith(heavy)))
"""


def _run(*args: str) -> str:
    return _proc(*args).stdout


def _proc(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=120)


def test_evaluate_does_not_load_other_commands_the_model_or_numpy(tmp_path):
    out = _run("evaluate", str(ROOT / "examples" / "athlete-hamstring.yaml"), "--out", str(tmp_path / "e.json"))
    assert (tmp_path / "e.json").stat().st_size > 1000
    assert out.strip().endswith("LOADED []"), out[-500:]


def test_help_and_each_lazy_command_still_work():
    out = _run("--help")
    for name in ("evaluate", "exercises", "export", "model", "schema", "evidence"):
        assert f" {name} " in out, name
    assert "hipext.fhir" in _run("export", "--help")
    assert "Musculoskeletal model" in _run("model", "--help")


def test_help_lists_every_command_and_each_lazy_command_runs():
    from hipext.cli import LAZY_COMMANDS

    out = _run("--help")
    for name in (*LAZY_COMMANDS, "evaluate", "schema", "evidence"):
        assert f" {name} " in out, (name, out)
    for name in LAZY_COMMANDS:  # registered on its own when named first: its help, with its own sub-commands
        proc = _proc(name, "--help")
        assert f"Usage: hipext {name}" in proc.stdout, (name, proc.stdout[-800:], proc.stderr[-800:])
        assert proc.returncode == 0 or "LOADED" in proc.stdout
    proc = _proc("exercises")  # and a lazy command does its work, not only its help
    assert "LOADED" in proc.stdout and len(proc.stdout) > 500, proc.stderr[-800:]
