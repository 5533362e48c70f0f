"""`hipext server status` and `hipext server stop`: the resident evaluator that `hipext evaluate` starts."""

from __future__ import annotations

import json
from typing import Any

import typer

from hipext.resident import client, wire

app = typer.Typer(help="The background evaluator that makes repeated `hipext evaluate` calls fast.",
                  no_args_is_help=True)


def _ask(op: str) -> dict[str, Any] | None:
    folder = wire.runtime_dir()
    if not wire.supported() or not wire.private_dir(folder, create=False):
        return None
    try:
        sock = client.connect(folder)
    except OSError:
        return None
    try:
        sock.settimeout(client.ACCEPT_S)
        wire.send_msg(sock, wire.encode_request(op, wire.code_key()))
        answer = json.loads(wire.recv_msg(sock, wire.MAX_REQUEST_BYTES))
        return answer if isinstance(answer, dict) else None
    except (OSError, ValueError):
        return None
    finally:
        sock.close()


@app.command()
def status() -> None:
    """Say whether the server runs, with its process id, memory, requests served and idle exit time."""
    s = _ask("status")
    if s is None:
        typer.echo(f"not running (socket {wire.runtime_dir()}/{wire.SOCKET_NAME})")
        raise typer.Exit(1)
    pss = f"{s['pss_kib'] / 1024:.0f} MiB" if s.get("pss_kib") else "unknown"
    typer.echo(f"running: pid {s['pid']}, up {s['uptime_s']:.0f} s, {s['served']} request(s) served, "
               f"memory (PSS) {pss}, start-up CPU {s['start_cpu_s'] * 1e3:.0f} ms, exits after "
               f"{s['idle_exit_s']:.0f} s idle{'' if s['current'] else ', stale (replaced at the next evaluate)'}")


@app.command()
def stop() -> None:
    """Stop the server (the next `hipext evaluate` runs in process and starts a new one)."""
    s = _ask("stop")
    typer.echo(f"stopped (pid {s['pid']})" if s else "not running")
