"""The resident server: the app loaded once, `hipext evaluate` run for this user's clients one at a time.

Started detached by the client (`python -P -m hipext.resident.server`). It serves on a Unix socket in a private
directory (0700, this user's), answers only peers of the same uid (SO_PEERCRED), refuses a request from a client
whose installed code differs from what it loaded (then exits so a fresh one starts), keeps nothing of a request once
answered, and exits after `wire.IDLE_EXIT_S` (HIPEXT_SERVER_IDLE_S) without a request.
"""

from __future__ import annotations

import fcntl
import gc
import io
import json
import os
import signal
import socket
import sys
import time
import warnings
from importlib import resources
from typing import Any, BinaryIO, cast

from hipext.resident import wire

READ_S = 5.0  # a client sends its whole request at once; a silent one is dropped, not waited for


class _Terminated(BaseException):
    """SIGTERM, or SIGALRM at the answer time limit: not an Exception, so no handler of a request's faults
    swallows it."""


def _terminate(*_: object) -> None:
    raise _Terminated


class _Recorder(io.BufferedIOBase):
    """The bytes written to one of the command's streams, in order with the other stream's."""

    def __init__(self, stream: int, chunks: list[tuple[int, bytes]], tty: bool) -> None:
        self.stream, self.chunks, self.tty = stream, chunks, tty

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        self.chunks.append((self.stream, bytes(b)))
        return len(b)

    def isatty(self) -> bool:
        return self.tty


class Server:
    def __init__(self, folder: str, key: str, lock_fd: int) -> None:
        self.folder, self.key, self.lock_fd = folder, key, lock_fd
        self.path = os.path.join(folder, wire.SOCKET_NAME)
        self.sock: socket.socket | None = None
        self.inode = 0
        self.started, self.served, self.start_cpu_s = time.time(), 0, 0.0

    def load(self) -> None:
        """Import the command line and evaluate the shipped warm-up case through it: evidence, validators and
        templates are built before the first client waits. Then freeze it all out of the collector's passes."""
        import typer.main

        from hipext import cli

        cli._register_commands(["evaluate"])  # what `hipext evaluate` registers in process: no lazy commands
        self.command = typer.main.get_command(cli.app)
        umask = os.umask(0o077)
        os.umask(umask)
        with resources.as_file(resources.files("hipext.resident") / "warm_up_case.yaml") as case:
            self.run({"argv": ["evaluate", str(case)], "cwd": "/", "umask": umask, "env": {},
                      "streams": [("utf-8", "strict", False)] * 2})
        gc.collect()
        gc.freeze()
        t = os.times()
        self.start_cpu_s = t.user + t.system

    def run(self, req: dict[str, Any]) -> tuple[int, list[tuple[int, bytes]]] | None:
        """The command's exit code and output, exactly as `hipext.cli.main` would give them in the client's process;
        None when the command ends any other way (usage error, crash): the client then runs it itself."""
        argv, cwd, umask, env, streams = req["argv"], req["cwd"], req["umask"], req["env"], req["streams"]
        if argv[:1] != ["evaluate"] or not 0 <= umask <= 0o777 or not all(k.startswith("HIPEXT_") for k in env):
            return None
        chunks: list[tuple[int, bytes]] = []
        try:
            outs = [io.TextIOWrapper(cast(BinaryIO, _Recorder(i + 1, chunks, bool(tty))), encoding=enc, errors=err,
                                     newline="\n", write_through=True) for i, (enc, err, tty) in enumerate(streams)]
        except LookupError:
            return None
        saved_env = {k: v for k, v in os.environ.items() if k.startswith("HIPEXT_")}
        saved = sys.argv, sys.stdout, sys.stderr
        old_umask = os.umask(umask)
        try:
            os.chdir(cwd)
            _set_hipext_env(env)
            sys.argv, sys.stdout, sys.stderr = ["hipext", *argv], outs[0], outs[1]
            with warnings.catch_warnings():  # a warning shows once per process: each request is a process here
                rv = self.command.main(args=argv[:], prog_name="hipext", standalone_mode=False)
            for out in outs:
                out.flush()
        except (Exception, SystemExit):  # noqa: BLE001 - any other ending is the client's to show, in process
            return None
        finally:
            sys.argv, sys.stdout, sys.stderr = saved
            _set_hipext_env(saved_env)
            os.umask(old_umask)
            os.chdir("/")
        if rv is None:
            return 0, chunks
        return (rv, chunks) if type(rv) is int else None

    def bind(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            os.unlink(self.path)  # a dead server's file: we hold the lock, so no live server owns it
        except FileNotFoundError:
            pass
        old = os.umask(0o177)
        try:
            sock.bind(self.path)
        finally:
            os.umask(old)
        sock.listen(16)
        self.sock, self.inode = sock, os.stat(self.path).st_ino
        tmp = os.path.join(self.folder, f".{wire.PID_NAME}.{os.getpid()}")
        with open(tmp, "w") as fh:
            fh.write(f"{os.getpid()}\n")
        os.replace(tmp, os.path.join(self.folder, wire.PID_NAME))

    def serve(self) -> None:
        assert self.sock is not None
        self.sock.settimeout(wire.idle_exit_s())
        while True:
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                return
            with conn:
                stop = self.handle(conn)
            gc.collect()  # whatever of the request sat in reference cycles goes now, not at some later pass
            if stop:
                return

    def handle(self, conn: socket.socket) -> bool:
        """Answer one connection; True when the server must stop."""
        try:
            conn.settimeout(READ_S)
            if not wire.peer_allowed(wire.peer_cred(conn)):
                return False
            req = wire.decode_request(wire.recv_msg(conn, wire.MAX_REQUEST_BYTES))
            op = req["op"]
            if op == "evaluate":
                if req["key"] != self.key:
                    self.close()  # first: the client starts a fresh server once it has its answer
                    wire.send_msg(conn, wire.STALE)
                    return True
                wire.send_msg(conn, wire.ACCEPTED)
                conn.settimeout(None)
                signal.setitimer(signal.ITIMER_REAL, wire.answer_limit_s())  # stuck past it: SIGALRM, exit
                result = self.run(req)
                signal.setitimer(signal.ITIMER_REAL, 0)
                del req
                wire.send_msg(conn, wire.DECLINED if result is None else wire.encode_result(*result))
                self.served += result is not None
                del result
            elif op == "status":
                _reply(conn, {"status": "running", "pid": os.getpid(), "uptime_s": time.time() - self.started,
                              "served": self.served, "idle_exit_s": wire.idle_exit_s(), "pss_kib": _pss_kib(),
                              "start_cpu_s": self.start_cpu_s, "current": req["key"] == self.key})
            elif op == "stop":
                self.close()
                _reply(conn, {"status": "stopped", "pid": os.getpid()})
                return True
        except (OSError, ValueError, IndexError):
            pass  # the client went away or sent nonsense: it runs the command itself
        return False

    def close(self) -> None:
        """Remove the socket and pid files (if still ours) and release the lock: a new server may start."""
        if self.sock is not None:
            self.sock.close()
            self.sock = None
            try:
                if os.stat(self.path).st_ino == self.inode:
                    os.unlink(self.path)
                    os.unlink(os.path.join(self.folder, wire.PID_NAME))
            except OSError:
                pass
        if self.lock_fd >= 0:
            os.close(self.lock_fd)
            self.lock_fd = -1


def _reply(conn: socket.socket, obj: dict[str, Any]) -> None:
    wire.send_msg(conn, json.dumps(obj).encode())


def _set_hipext_env(env: dict[str, str]) -> None:
    for k in [k for k in os.environ if k.startswith("HIPEXT_")]:
        del os.environ[k]
    os.environ.update(env)


def _pss_kib() -> int | None:
    """Proportional set size: this process's share of the memory it uses (shared pages split among users)."""
    try:
        with open("/proc/self/smaps_rollup") as fh:
            return next(int(line.split()[1]) for line in fh if line.startswith("Pss:"))
    except (OSError, StopIteration, ValueError):
        return None


def main() -> None:
    folder = wire.runtime_dir()
    if not wire.supported() or not wire.private_dir(folder):
        return
    sys.path[:] = [os.path.abspath(p) for p in sys.path]  # before leaving the directory relative entries meant
    os.chdir("/")
    lock_fd = os.open(os.path.join(folder, wire.LOCK_NAME), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return  # another server is starting or running
    server = Server(folder, wire.code_key(), lock_fd)  # the key before any import: a later edit is seen as stale
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGALRM, _terminate)
    try:
        server.load()
        server.bind()
        server.serve()
    except _Terminated:
        pass
    finally:
        server.close()


if __name__ == "__main__":
    main()
