"""Holds a response until the audit events of its request are committed (events written by the group-commit
writer, `hipext.store.audit_writer`). A request whose event could not be written gets a 503 instead of its answer:
patient data is never shown without its audit record. Pure ASGI (BaseHTTPMiddleware costs about 1 ms a request);
the wait is on the event loop, so no worker thread is held while the writer commits."""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import Future
from http import HTTPStatus
from typing import Any

from fastapi import Request

KEY = "hipext_audit_pending"


def hold(request: Request, future: Future[None]) -> None:
    """Make the request's response wait for `future` (an audit event being committed)."""
    request.scope.setdefault(KEY, []).append(future)


class AuditGate:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        failed = False

        async def send_when_audited(message: dict) -> None:
            nonlocal failed
            if failed:
                return  # the original response's body: replaced by the 503 below
            if message["type"] == "http.response.start":
                pending = scope.pop(KEY, None)
                if pending:
                    try:
                        await asyncio.gather(*(asyncio.wrap_future(f) for f in pending))
                    except Exception:  # noqa: BLE001 - the writer logged why
                        failed = True
                        await _unavailable(scope, send)
                        return
            await send(message)

        await self.app(scope, receive, send_when_audited)


async def _unavailable(scope: dict, send: Any) -> None:
    if scope["path"].startswith("/api"):
        body = json.dumps({"detail": "the audit log could not be written; try again"}).encode()
        kind = b"application/json"
    else:
        body, kind = b"The audit log could not be written. Try again in a moment.", b"text/plain; charset=utf-8"
    headers = [(b"content-type", kind), (b"content-length", str(len(body)).encode()), (b"retry-after", b"1")]
    await send({"type": "http.response.start", "status": HTTPStatus.SERVICE_UNAVAILABLE, "headers": headers})
    await send({"type": "http.response.body", "body": body})
