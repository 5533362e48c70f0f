"""The resident evaluator behind `hipext evaluate`: the same answer as in process, from a server that only its user
can reach, that never answers with other code than the client's, and whose faults the user never sees.

Each test runs the real client in fresh interpreters with its own runtime directory, and stops the server it
started (by the pid in that directory).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from hipext.resident import wire

from .conftest import CASES, ROOT

EXAMPLE = str(ROOT / "examples" / "athlete-hamstring.yaml")
GOOD = sorted(str(p) for p in CASES.glob("*.yaml") if not p.name.endswith(".expected.yaml"))
BAD = sorted(str(p) for p in (CASES / "bad").glob("*.yaml") if not p.name.endswith(".expected.yaml"))
WAIT_S = 60


class Resident:
    """Runs `hipext` as the console script does, with a private runtime directory; stops its server at the end."""

    def __init__(self, run_dir: Path, src: Path = ROOT / "src") -> None:
        self.dir = run_dir
        self.env = {k: v for k, v in os.environ.items() if k != "HIPEXT_NO_SERVER"}
        self.env.update(HIPEXT_RUNTIME_DIR=str(run_dir), HIPEXT_SERVER_IDLE_S="60", PYTHONPATH=str(src))

    def run(self, *args: str, cwd: Path | str = ROOT, python: tuple[str, ...] = (),
            **env: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([sys.executable, *python, "-m", "hipext.resident.client", *args], capture_output=True,
                              cwd=cwd, env={**self.env, **env}, timeout=WAIT_S)

    def in_process(self, *args: str, cwd: Path | str = ROOT) -> subprocess.CompletedProcess[bytes]:
        return self.run(*args, cwd=cwd, HIPEXT_NO_SERVER="1")

    def pid(self) -> int | None:
        try:
            return int((self.dir / wire.PID_NAME).read_text())
        except (OSError, ValueError):
            return None

    def wait_for_server(self, other_than: int | None = None) -> int:
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            if (pid := self.pid()) and pid != other_than and (self.dir / wire.SOCKET_NAME).exists():
                return pid
            time.sleep(0.05)
        raise AssertionError("no server started")

    def served(self, python: tuple[str, ...] = (), **env: str) -> int:
        out = self.run("server", "status", python=python, **env).stdout.decode()
        return int(out.split(" request(s) served")[0].rsplit(" ", 1)[1]) if "running" in out else -1

    def lock_free(self) -> bool:
        if not self.dir.exists():
            return True
        fd = os.open(self.dir / wire.LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except OSError:
            return False
        finally:
            os.close(fd)

    def stop(self) -> None:
        """Stop the server this test started (one still loading is waited for, then stopped)."""
        deadline = time.monotonic() + WAIT_S
        while not self.lock_free() and time.monotonic() < deadline:
            if pid := self.pid():
                try:
                    os.kill(pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
            time.sleep(0.05)


@pytest.fixture
def resident():
    run_dir = Path(tempfile.mkdtemp(prefix="hx"))  # short: a socket path has at most 107 bytes
    r = Resident(run_dir / "run")
    yield r
    r.stop()
    shutil.rmtree(run_dir)


def same(a: subprocess.CompletedProcess[bytes], b: subprocess.CompletedProcess[bytes]) -> None:
    assert (a.returncode, a.stdout, a.stderr) == (b.returncode, b.stdout, b.stderr)


def test_warm_answers_are_byte_identical_to_in_process(resident, tmp_path):
    calls = [("evaluate", p) for p in [EXAMPLE, *GOOD, *BAD]] + [
        ("evaluate", EXAMPLE, "--format", "markdown"), ("evaluate", EXAMPLE, "-f", "html"),
        ("evaluate", EXAMPLE, "--as-of", "2026-11-10"), ("evaluate", EXAMPLE, "--as-of", "10/11/2026"),
        ("evaluate", str(tmp_path / "missing.yaml"))]
    expected = [resident.in_process(*c) for c in calls]
    assert {e.returncode for e in expected} == {0, 2}, "the calls include errors (exit 2) and answers"
    assert not (resident.dir / wire.SOCKET_NAME).exists(), "HIPEXT_NO_SERVER=1 starts no server"
    same(resident.run(*calls[0]), expected[0])  # cold: in process, then a server starts
    resident.wait_for_server()
    for c, e in zip(calls, expected, strict=True):
        same(resident.run(*c), e)
    assert resident.served() == len(calls)


def test_out_files_and_relative_paths_are_the_clients(resident, tmp_path):
    (tmp_path / "in").mkdir()
    shutil.copy(EXAMPLE, tmp_path / "in" / "case.yaml")
    args = ("evaluate", "case.yaml", "--out", "../e.json")
    expected = resident.in_process(*args, cwd=tmp_path / "in")
    reference = (tmp_path / "e.json").read_bytes()
    (tmp_path / "e.json").unlink()
    resident.run(*args, cwd=tmp_path / "in")
    resident.wait_for_server()
    (tmp_path / "e.json").unlink()
    old = os.umask(0o027)  # inherited by the client, which sends it
    try:
        warm = resident.run(*args, cwd=tmp_path / "in")
    finally:
        os.umask(old)
    same(warm, expected)
    assert (tmp_path / "e.json").read_bytes() == reference
    assert (tmp_path / "e.json").stat().st_mode & 0o777 == 0o640, "the client's umask"
    assert resident.served() == 1


def test_no_server_when_disabled(resident):
    for _ in range(2):
        assert resident.run("evaluate", EXAMPLE, HIPEXT_NO_SERVER="1").returncode == 0
    time.sleep(1)
    assert not (resident.dir / wire.SOCKET_NAME).exists() and resident.lock_free()


def test_other_commands_never_start_a_server(resident):
    assert resident.run("evaluate", "--help").returncode == 0
    assert resident.run("schema", "case").returncode == 0
    time.sleep(1)
    assert not (resident.dir / wire.SOCKET_NAME).exists() and resident.lock_free()


def test_a_peer_of_another_uid_is_refused():
    me = os.getuid()
    assert wire.peer_allowed(wire.UCRED.pack(os.getpid(), me, os.getgid()))
    assert not wire.peer_allowed(wire.UCRED.pack(os.getpid(), me + 1, os.getgid()))
    assert not wire.peer_allowed(wire.UCRED.pack(os.getpid(), me, os.getgid())[:-1])


def test_a_runtime_directory_others_can_enter_is_not_used(resident):
    resident.dir.mkdir(mode=0o700)
    os.chmod(resident.dir, 0o755)
    expected = resident.in_process("evaluate", EXAMPLE)
    same(resident.run("evaluate", EXAMPLE), expected)
    time.sleep(1)
    assert list(resident.dir.iterdir()) == [], "no server, no lock, no socket in a directory others can enter"
    assert not wire.private_dir(str(resident.dir))


def test_a_stale_server_is_refused_and_the_fresh_answer_is_the_new_codes(resident, tmp_path):
    src = tmp_path / "src"
    shutil.copytree(ROOT / "src" / "hipext", src / "hipext", ignore=shutil.ignore_patterns("__pycache__"))
    resident.env["PYTHONPATH"] = str(src)
    resident.run("evaluate", EXAMPLE)
    old_pid = resident.wait_for_server()
    init = src / "hipext" / "__init__.py"
    init.write_text(init.read_text().replace('__version__ = "', '__version__ = "9.9.9+'))
    expected = resident.in_process("evaluate", EXAMPLE)
    assert b'"hipext_version": "9.9.9+' in expected.stdout
    same(resident.run("evaluate", EXAMPLE), expected)  # refused by the old server, answered in process
    resident.wait_for_server(other_than=old_pid)
    assert _zombie(old_pid), "the stale server exited"
    same(resident.run("evaluate", EXAMPLE), expected)
    assert resident.served() == 1


def _zombie(pid: int) -> bool:
    """Whether the process is gone (or a zombie, waiting for its parent to reap it)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def test_a_server_killed_mid_request_or_a_stale_socket_costs_the_user_nothing(resident):
    expected = resident.in_process("evaluate", EXAMPLE)
    resident.run("evaluate", EXAMPLE)
    pid = resident.wait_for_server()
    os.kill(pid, signal.SIGSTOP)  # frozen: the client's request waits in its socket
    client = subprocess.Popen([sys.executable, "-m", "hipext.resident.client", "evaluate", EXAMPLE],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, env=resident.env)
    time.sleep(1)
    os.kill(pid, signal.SIGKILL)
    out, err = client.communicate(timeout=WAIT_S)
    assert (client.returncode, out, err) == (expected.returncode, expected.stdout, expected.stderr)
    assert (resident.dir / wire.SOCKET_NAME).exists(), "a killed server leaves its socket file"
    same(resident.run("evaluate", EXAMPLE), expected)  # the stale socket: in process, and a new server
    resident.wait_for_server(other_than=pid)
    same(resident.run("evaluate", EXAMPLE), expected)
    assert resident.served() == 1


def test_concurrent_first_calls_start_one_server(resident):
    clients = [subprocess.Popen([sys.executable, "-m", "hipext.resident.client", "evaluate", EXAMPLE],
                                stdout=subprocess.DEVNULL, cwd=ROOT, env=resident.env) for _ in range(3)]
    assert [c.wait(timeout=WAIT_S) for c in clients] == [0, 0, 0]
    pid = resident.wait_for_server()
    time.sleep(2)  # any second server would have found the lock taken and exited by now
    assert _servers(resident.dir) == [pid]


def _servers(run_dir: Path) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if b"hipext.resident.server" in (proc / "cmdline").read_bytes() and \
                    f"HIPEXT_RUNTIME_DIR={run_dir}".encode() in (proc / "environ").read_bytes().split(b"\0") and \
                    not _zombie(int(proc.name)):
                found.append(int(proc.name))
        except (OSError, ValueError):
            pass
    return found


def test_an_idle_server_exits_and_removes_its_socket(resident):
    resident.run("evaluate", EXAMPLE, HIPEXT_SERVER_IDLE_S="1")
    pid = resident.wait_for_server()
    deadline = time.monotonic() + WAIT_S
    while _servers(resident.dir) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _servers(resident.dir) == [] and not (resident.dir / wire.SOCKET_NAME).exists(), pid


def test_status_and_stop(resident):
    assert resident.run("server", "status").returncode == 1
    resident.run("evaluate", EXAMPLE)
    pid = resident.wait_for_server()
    status = resident.run("server", "status")
    assert status.returncode == 0 and f"pid {pid}" in status.stdout.decode() and "MiB" in status.stdout.decode()
    assert resident.run("server", "stop").stdout.decode().strip() == f"stopped (pid {pid})"
    assert not (resident.dir / wire.SOCKET_NAME).exists()
    assert resident.run("server", "status").returncode == 1


def test_a_warm_call_loads_no_framework(resident):
    """The client of a warm call imports the standard library's socket and struct cores, nothing of the app."""
    resident.run("evaluate", EXAMPLE)
    resident.wait_for_server()
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", "from hipext.resident.client import main; main()",
                           "evaluate", EXAMPLE], capture_output=True, text=True, cwd=ROOT, env=resident.env,
                          timeout=WAIT_S)
    assert proc.returncode == 0 and resident.served() == 1
    loaded = {line.rsplit("|", 1)[1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}
    assert {"hipext.resident.client", "_socket"} <= loaded
    assert not loaded & {"pydantic", "typer", "yaml", "json", "socket", "re", "typing", "hipext.cli"}, loaded


def test_sigterm_stops_the_server_and_removes_its_socket(resident):
    resident.run("evaluate", EXAMPLE)
    pid = resident.wait_for_server()
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + WAIT_S
    while _servers(resident.dir) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _servers(resident.dir) == [] and not (resident.dir / wire.SOCKET_NAME).exists()


def test_a_client_with_other_interpreter_options_gets_a_server_started_with_them(resident):
    """-O drops asserts and -W changes which warnings show: the server runs with the client's, and a client with
    other options is refused (stale) rather than answered by code run otherwise."""
    opts = {"python": ("-O", "-W", "error::ResourceWarning"), "PYTHONWARNINGS": "default::UserWarning"}
    expected = resident.in_process("evaluate", EXAMPLE)
    resident.run("evaluate", EXAMPLE, **opts)
    pid = resident.wait_for_server()
    same(resident.run("evaluate", EXAMPLE, **opts), expected)
    assert resident.served(**opts) == 1
    same(resident.run("evaluate", EXAMPLE), expected)  # without them: refused, in process, and a new server
    resident.wait_for_server(other_than=pid)


def test_a_request_stuck_past_the_answer_limit_is_run_by_the_client_and_the_server_exits(resident, tmp_path):
    """A named pipe no one writes to yet: the server waits on it; at the limit it exits, and the client opens the
    pipe itself, as `hipext evaluate` always did."""
    resident.env["HIPEXT_SERVER_ANSWER_S"] = "2"
    expected = resident.in_process("evaluate", EXAMPLE)
    resident.run("evaluate", EXAMPLE)
    pid = resident.wait_for_server()
    fifo = tmp_path / "case.yaml"
    os.mkfifo(fifo)
    client = subprocess.Popen([sys.executable, "-m", "hipext.resident.client", "evaluate", str(fifo)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, env=resident.env)
    try:
        deadline = time.monotonic() + WAIT_S
        while not _zombie(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _zombie(pid), "the stuck server exited"
        Path(fifo).write_bytes(Path(EXAMPLE).read_bytes())  # now the client's own open() gets the case
        out, err = client.communicate(timeout=WAIT_S)
    finally:
        client.kill()
    assert (client.returncode, out, err) == (expected.returncode, expected.stdout, expected.stderr)
