"""What the client and the server share: where their files live, the key of the installed code, the framing.

Standard library only, and cheap: the client imports this before anything else.
"""

from __future__ import annotations

import os
import socket
import stat
import struct
import sys

IDLE_EXIT_S = 900.0  # the server exits after this long without a request; HIPEXT_SERVER_IDLE_S overrides
MAX_REQUEST_BYTES = 1 << 20  # a request is argv, cwd and a few variables: anything larger is refused unread
MAX_RESPONSE_BYTES = 1 << 30
HEADER = struct.Struct(">I")
UCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid
SOCKET_NAME, PID_NAME, LOCK_NAME = "server.sock", "server.pid", "server.lock"
KEY_ENV = ("TZ", "LANG", "LC_ALL", "LC_CTYPE", "LC_TIME")  # what the process reads once (time zone, locale)


def idle_exit_s() -> float:
    try:
        return max(float(os.environ.get("HIPEXT_SERVER_IDLE_S", IDLE_EXIT_S)), 0.0)
    except ValueError:
        return IDLE_EXIT_S


def disabled() -> bool:
    return os.environ.get("HIPEXT_NO_SERVER", "") not in ("", "0")


def supported() -> bool:
    return hasattr(socket, "AF_UNIX") and hasattr(socket, "SO_PEERCRED")


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


def peer_cred(sock: socket.socket) -> bytes:
    return sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, UCRED.size)


def code_key() -> str:
    """What decides the code and data a process loads: the interpreter, its import path, the size and mtime of
    every file of the hipext package and of each import-path directory (an install or upgrade changes them), and
    the variables read once per process. Computed by the server before it imports anything, by the client per call.
    """
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    path = sys.path if sys.flags.safe_path else sys.path[1:]  # the script's own folder is not part of the install
    parts = [sys.executable, sys.version, package, *(f"{k}={os.environ.get(k)}" for k in KEY_ENV)]
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


def send_msg(sock: socket.socket, data: bytes) -> None:
    sock.sendall(HEADER.pack(len(data)) + data)


def recv_msg(sock: socket.socket, limit: int) -> bytes:
    """One framed message; ConnectionError when the peer closes early or announces more than ``limit`` bytes."""
    (n,) = HEADER.unpack(_recv_exact(sock, HEADER.size))
    if n > limit:
        raise ConnectionError(f"message of {n} bytes over the limit of {limit}")
    return _recv_exact(sock, n)


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(min(n - len(buf), 1 << 20))
        if not chunk:
            raise ConnectionError("closed before the end of the message")
        buf += chunk
    return bytes(buf)
