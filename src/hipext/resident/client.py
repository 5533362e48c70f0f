"""The `hipext` console script: `hipext evaluate` goes to the resident server when one answers, else runs here.

Standard library only until it falls back (tests/test_resident.py checks with `python -X importtime`): a warm call
costs this interpreter's start, a socket round trip and the server's evaluation. Anything but a plain `evaluate`
(help, standard input, /dev or /proc paths, HIPEXT_DEBUG), and any fault (no server, a stale one, a refused peer, a
timeout, a broken answer), runs the command in this process exactly as before, before any output is written.
"""

from __future__ import annotations

import _socket
import os
import struct
import sys

from hipext.resident import wire

CONNECT_S = 1.0  # a live server accepts at once; a stale socket file refuses at once
ACCEPT_S = 30.0  # waiting in line behind another client's request


def eligible(argv: list[str]) -> bool:
    """A plain `evaluate` whose files are ordinary paths: the only command the server runs."""
    if not argv or argv[0] != "evaluate" or wire.disabled() or os.environ.get("HIPEXT_DEBUG"):
        return False
    if sys.stdout is None or sys.stderr is None or not hasattr(sys.stdout, "buffer") or \
            not hasattr(sys.stderr, "buffer"):
        return False
    try:
        cwd = os.getcwd()
    except OSError:
        return False
    for a in argv[1:]:
        values = [a, a.partition("=")[2]] + ([a[2:]] if a[:1] == "-" and a[1:2] != "-" else [])
        for v in filter(None, values):  # the argument, an --option=value's value, a -oVALUE's value
            if v in ("-", "--help") or os.path.realpath(os.path.join(cwd, v)).startswith(("/dev/", "/proc/")):
                return False  # help, or the client's own stdin/stdout and process files: not the server's
    return True


def ask(argv: list[str]) -> tuple[int, list[tuple[int, bytes]]] | str:
    """(exit code, [(1 or 2, bytes)...]) from the server, or why not: 'absent' (start one), 'stale' (it exited;
    start a fresh one), 'failed' (it died or timed out; start one if none runs), 'declined', 'unsupported' or
    'unsafe' (run here)."""
    if not wire.supported():
        return "unsupported"
    folder = wire.runtime_dir()
    if not wire.private_dir(folder):
        return "unsafe"
    umask = os.umask(0o022)
    os.umask(umask)
    request = wire.encode_request(
        "evaluate", wire.code_key(), os.getcwd(), umask, argv,
        [(s.encoding, s.errors or "strict", s.isatty()) for s in (sys.stdout, sys.stderr)],
        {k: v for k, v in os.environ.items() if k.startswith("HIPEXT_")})
    try:
        sock = connect(folder)
    except OSError:
        return "absent"
    try:
        wire.send_msg(sock, request)
        sock.settimeout(ACCEPT_S)
        status = wire.recv_msg(sock, wire.MAX_REQUEST_BYTES)
        if status != wire.ACCEPTED:
            return "stale" if status == wire.STALE else "declined"
        sock.settimeout(wire.answer_limit_s() + CONNECT_S)  # the server gives up first, and exits
        answer = wire.recv_msg(sock, wire.MAX_RESPONSE_BYTES)
        return "declined" if answer == wire.DECLINED else wire.decode_result(answer)
    except (OSError, ValueError, struct.error):  # timeouts and resets are OSErrors
        return "failed"
    finally:
        sock.close()


def connect(folder: str) -> _socket.socket:
    """A connection to this user's server: OSError when there is none, or when its end is not this user."""
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        sock.settimeout(CONNECT_S)
        sock.connect(os.path.join(folder, wire.SOCKET_NAME))
        if not wire.peer_allowed(wire.peer_cred(sock)):
            raise PermissionError("the server runs as another user")
    except BaseException:
        sock.close()
        raise
    return sock


def start_server() -> None:
    """Start the server detached (its own session, no terminal), unless one holds the lock already."""
    import fcntl

    folder = wire.runtime_dir()
    if not wire.private_dir(folder):
        return
    try:
        fd = os.open(os.path.join(folder, wire.LOCK_NAME), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return  # a server is starting or running; it took the lock first
    finally:
        os.close(fd)  # released: the server takes it (two clients racing here start two, and one exits at once)
    null = [(os.POSIX_SPAWN_OPEN, std, os.devnull, os.O_RDWR, 0) for std in (0, 1, 2)]
    try:
        os.posix_spawn(sys.executable, [sys.executable, *wire.interpreter_options(), "-m", "hipext.resident.server"],
                       {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"},  # in the -W options
                       file_actions=null, setsid=True)
    except OSError:
        pass


def main() -> None:
    argv = sys.argv[1:]
    start = False
    if eligible(argv):
        answer = ask(argv)
        if isinstance(answer, tuple):
            code, chunks = answer
            try:
                for stream, data in chunks:
                    out = sys.stdout if stream == 1 else sys.stderr
                    out.flush()
                    out.buffer.write(data)
                    out.buffer.flush()
            except BrokenPipeError:  # as click does: quiet, exit 1
                os._exit(1)
            sys.exit(code)
        start = answer in ("absent", "stale", "failed")  # none runs, or a stuck one holds the lock: no second
    from hipext.cli import main as cli_main

    try:
        cli_main()
    finally:
        if start:
            start_server()


if __name__ == "__main__":
    main()
