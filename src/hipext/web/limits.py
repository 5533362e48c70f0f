"""Request-body limits per route, enforced before the body is read: a declared Content-Length over the limit is
refused at once, and a body streamed without one (chunked) is cut off as soon as it passes the limit. Either way the
answer is a 413 that says the limit, and nothing of the body is buffered beyond it."""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.exceptions import HTTPException

from hipext.importers.table import MAX_BYTES as DEVICE_FILE_BYTES

KIB, MIB = 1024, 1024 * 1024
# (path pattern, limit in bytes), first match wins. A case document with years of visits is well under 2 MiB;
# forms are a few kB; sign-in and the patient's page much less. Uploads add their own, larger, entries here.
DEFAULT_LIMITS: list[tuple[str, int]] = [
    (r"^/api/evaluate$", 2 * MIB),
    (r"^/api/patients(/\d+/visits)?$", 2 * MIB),
    (r"^/login$|^/login/", 16 * KIB),
    (r"^/p/", 16 * KIB),
    (r"^/patients/\d+/import$", DEVICE_FILE_BYTES + MIB),  # a dynamometer file (force-time traces are large)
    (r"^/patients/", 256 * KIB),  # the visit form: every measurement of a visit
    (r"^/(logout$|account/|admin/|reset/)", 64 * KIB),  # account and administration forms
    (r"", 64 * KIB),  # a route not listed above (a test requires every route to be listed)
]


def human(n: int) -> str:
    return f"{n // MIB} MiB" if n >= MIB and n % MIB == 0 else f"{n // KIB} KiB"


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body too large: this route accepts at most {human(limit)}")


class BodyLimit:
    """Pure ASGI middleware (no buffering, no thread hop)."""

    def __init__(self, app: Any, limits: list[tuple[str, int]] | None = None) -> None:
        self.app = app
        self.limits = [(re.compile(p), n) for p, n in (limits or DEFAULT_LIMITS)]

    def limit_for(self, path: str) -> int:
        return next(n for p, n in self.limits if p.search(path))

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None:
            try:
                too_big = int(declared) > limit
            except ValueError:
                too_big = True
            if too_big:
                await self._refuse(scope, send, limit)
                return
        seen = 0

        async def counted() -> dict:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:  # raised inside the route: the app's handler answers 413
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, counted, send)

    async def _refuse(self, scope: dict, send: Any, limit: int) -> None:
        detail = BodyTooLarge(limit).detail
        if scope["path"].startswith("/api"):
            body, ctype = json.dumps({"detail": detail}).encode(), b"application/json"
        else:
            body = (
                "<!doctype html><html lang=en><meta charset=utf-8><title>Too large</title>"
                f"<h1>Too large</h1><p>The form sent more than this page accepts ({human(limit)}).</p></html>"
            ).encode()
            ctype = b"text/html; charset=utf-8"
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", ctype),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
