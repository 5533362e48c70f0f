"""What the client and the server share: where their files live, the key of the installed code, the framing.

Standard library only, and cheap: the client imports this before anything else. Hence `_socket`, the C module under
`socket` (the same calls without `socket`'s enum and selectors), and a request of NUL-separated fields like
/proc/PID/cmdline rather than JSON (whose `re` import alone costs a quarter of the client's CPU).
"""

from __future__ import annotations

import _socket
import os
import stat
import struct
import sys

TYPE_CHECKING = False  # `typing` imports `re`: for the type checker only, as in the standard library's own modules
if TYPE_CHECKING:
    from typing import Any

IDLE_EXIT_S = 900.0  # the server exits after this long without a request; HIPEXT_SERVER_IDLE_S overrides
# The longest a request may run (HIPEXT_SERVER_ANSWER_S overrides): the client then runs the command itself, and
# the server, stuck (say on a named pipe no one writes to), exits.
ANSWER_LIMIT_S = 300.0
MAX_REQUEST_BYTES = 1 << 20  # a request is argv, cwd and a few variables: anything larger is refused unread
MAX_RESPONSE_BYTES = 1 << 30
HEADER = struct.Struct(">I")
UCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid
RESULT, CHUNK = struct.Struct(">iI"), struct.Struct(">BI")  # exit code, chunk count; stream (1, 2), length
ACCEPTED, STALE, DECLINED, DONE = b"A", b"S", b"D", b"O"
SOCKET_NAME, PID_NAME, LOCK_NAME = "server.sock", "server.pid", "server.lock"
KEY_ENV = ("TZ", "LANG", "LC_ALL", "LC_CTYPE", "LC_TIME")  # what the process reads once (time zone, locale)


def idle_exit_s() -> float:
    return _seconds("HIPEXT_SERVER_IDLE_S", IDLE_EXIT_S)


def answer_limit_s() -> float:
    return _seconds("HIPEXT_SERVER_ANSWER_S", ANSWER_LIMIT_S)


def _seconds(name: str, default: float) -> float:
    try:
        value = float(os.environ.get(name, default))
    except ValueError:
        return default
    return value if value >= 1 else 1.0  # also NaN: a blocking wait needs a positive time


def interpreter_options() -> list[str]:
    """The client's options that change how code runs (asserts, warnings, dev and UTF-8 modes), for the server
    (part of the key: a server started otherwise is stale). -P: no current directory on the server's path."""
    f = sys.flags
    return ["-P", *["-O"] * f.optimize, *(["-X", "dev"] if f.dev_mode else []), "-X", f"utf8={f.utf8_mode}",
            *(f"-W{w}" for w in sys.warnoptions)]


def disabled() -> bool:
    return os.environ.get("HIPEXT_NO_SERVER", "") not in ("", "0")


def supported() -> bool:
    return hasattr(_socket, "AF_UNIX") and hasattr(_socket, "SO_PEERCRED")


def runtime_dir() -> str:
    """$HIPEXT_RUNTIME_DIR, else $XDG_RUNTIME_DIR/hipext, else the user's cache dir's hipext/run."""
    if os.environ.get("HIPEXT_RUNTIME_DIR"):
        return os.path.abspath(os.environ["HIPEXT_RUNTIME_DIR"])
    if os.environ.get("XDG_RUNTIME_DIR"):
        return os.path.join(os.environ["XDG_RUNTIME_DIR"], "hipext")
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "hipext", "run")


def private_dir(path: str, create: bool = True) -> bool:
    """Whether ``path`` is a real directory owned by this user that no one else can enter (made 0700 if absent)."""
    if create:
        try:
            os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
            os.mkdir(path, 0o700)
        except FileExistsError:
            pass
        except OSError:
            return False
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and not st.st_mode & 0o077


def peer_allowed(cred: bytes) -> bool:
    """Whether the other end of a Unix socket (its SO_PEERCRED) runs as this user."""
    if len(cred) != UCRED.size:
        return False
    _pid, uid, _gid = UCRED.unpack(cred)
    return uid == os.getuid()


def peer_cred(sock: _socket.socket) -> bytes:
    return sock.getsockopt(_socket.SOL_SOCKET, _socket.SO_PEERCRED, UCRED.size)


def code_key() -> str:
    """What decides the code and data a process loads: the interpreter, its import path, the size and mtime of
    every file of the hipext package and of each import-path directory (an install or upgrade changes them), and
    the variables read once per process. Computed by the server before it imports anything, by the client per call.
    """
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    path = sys.path if sys.flags.safe_path else sys.path[1:]  # the script's own folder is not part of the install
    parts = [sys.executable, sys.version, package, *interpreter_options()]
    parts += [f"{k}={os.environ.get(k)}" for k in KEY_ENV]
    for entry in path:
        entry = os.path.abspath(entry)
        try:
            parts.append(f"{entry}:{os.stat(entry).st_mtime_ns}")
        except OSError:
            parts.append(entry)
    folders = [package]
    while folders:
        with os.scandir(folders.pop()) as it:
            for e in sorted(it, key=lambda e: e.name):
                if e.is_dir(follow_symlinks=False):
                    if e.name != "__pycache__":
                        folders.append(e.path)
                else:
                    st = e.stat()
                    parts.append(f"{e.path}:{st.st_size}:{st.st_mtime_ns}")
    return "\n".join(parts)


def encode_request(op: str, key: str, cwd: str = "/", umask: int = 0, argv: list[str] | None = None,
                   streams: list[tuple[str, str, bool]] | None = None, env: dict[str, str] | None = None) -> bytes:
    """op, key, cwd, umask, the argv count and argv, the stream count and each stream's encoding, errors and
    isatty, then NAME=value of each variable. Strings as the OS encodes them: argv may hold any bytes but NUL."""
    argv, streams, env = argv or [], streams or [], env or {}
    fields = [op, key, cwd, str(umask), str(len(argv)), *argv, str(len(streams))]
    for enc, errors, tty in streams:
        fields += [enc, errors, "1" if tty else ""]
    fields += [f"{k}={v}" for k, v in env.items()]
    return b"\0".join(map(os.fsencode, fields))


def decode_request(data: bytes) -> dict[str, Any]:
    """The fields of ``encode_request``; ValueError (or IndexError) when malformed."""
    f = [os.fsdecode(x) for x in data.split(b"\0")]
    n = int(f[4])
    argv, i = f[5:5 + n], 5 + n
    m = int(f[i])
    streams = [(f[i + 1 + 3 * j], f[i + 2 + 3 * j], bool(f[i + 3 + 3 * j])) for j in range(m)]
    env = dict(x.split("=", 1) for x in f[i + 1 + 3 * m:])
    if len(argv) != n or len(streams) != m:
        raise ValueError("truncated request")
    return {"op": f[0], "key": f[1], "cwd": f[2], "umask": int(f[3]), "argv": argv, "streams": streams, "env": env}


def encode_result(code: int, chunks: list[tuple[int, bytes]]) -> bytes:
    return b"".join([DONE, RESULT.pack(code, len(chunks)), *(CHUNK.pack(s, len(b)) for s, b in chunks),
                     *(b for _, b in chunks)])


def decode_result(data: bytes) -> tuple[int, list[tuple[int, bytes]]]:
    """(exit code, [(stream, bytes)...]); ValueError unless the message is exactly that."""
    if data[:1] != DONE:
        raise ValueError("not a result")
    code, n = RESULT.unpack_from(data, 1)
    at = 1 + RESULT.size + n * CHUNK.size
    chunks = []
    for j in range(n):
        stream, size = CHUNK.unpack_from(data, 1 + RESULT.size + j * CHUNK.size)
        chunks.append((stream, data[at:at + size]))
        at += size
    if at != len(data) or any(s not in (1, 2) for s, _ in chunks):
        raise ValueError("malformed result")
    return code, chunks


def send_msg(sock: _socket.socket, data: bytes) -> None:
    sock.sendall(HEADER.pack(len(data)) + data)


def recv_msg(sock: _socket.socket, limit: int) -> bytes:
    """One framed message; ConnectionError when the peer closes early or announces more than ``limit`` bytes."""
    (n,) = HEADER.unpack(_recv_exact(sock, HEADER.size))
    if n > limit:
        raise ConnectionError(f"message of {n} bytes over the limit of {limit}")
    return _recv_exact(sock, n)


def _recv_exact(sock: _socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(min(n - len(buf), 1 << 20))
        if not chunk:
            raise ConnectionError("closed before the end of the message")
        buf += chunk
    return bytes(buf)
