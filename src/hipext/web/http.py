"""HTTP details that must hold for any input: safe download headers, JSON-safe problem lists, strict JSON bodies,
absolute links from the configured base URL (never from the request's Host header)."""

from __future__ import annotations

import json
import math
import unicodedata
from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import quote

from fastapi import Request, Response
from fastapi.routing import APIRoute

ECHO_LIMIT = 200  # characters of a rejected value echoed back in a problem list


def content_disposition(filename: str, disposition: str = "attachment") -> str:
    """A Content-Disposition header for any file name (RFC 6266 with RFC 5987 `filename*`).

    The plain `filename` is an ASCII fallback with quotes, backslashes and control characters replaced, so nothing
    can end the header or add a parameter; `filename*` carries the exact name percent-encoded as UTF-8 (CJK, emoji,
    right-to-left text), and CR, LF and NUL never reach the header.
    """
    cleaned = "".join(ch if unicodedata.category(ch)[0] != "C" else "_" for ch in filename)
    ascii_name = (
        "".join(ch if 32 <= ord(ch) < 127 and ch not in '"\\;' else "_" for ch in cleaned).strip() or "download"
    )
    utf8_name = quote(cleaned.encode("utf-8", "replace"), safe="")
    return f"{disposition}; filename=\"{ascii_name}\"; filename*=UTF-8''{utf8_name}"


def json_safe(value: Any, limit: int = ECHO_LIMIT) -> Any:
    """A value that JSON can carry: NaN and infinities as strings, unpaired surrogates replaced, long strings cut.
    Used on everything a problem list echoes back."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # 'nan', 'inf', '-inf'
    if isinstance(value, str):
        text = value.encode("utf-8", "replace").decode("utf-8")
        return text if len(text) <= limit else text[:limit] + "…"
    if isinstance(value, dict):
        return {str(json_safe(k, limit)): json_safe(v, limit) for k, v in list(value.items())[:50]}
    if isinstance(value, (list, tuple)):
        return [json_safe(v, limit) for v in list(value)[:50]]
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return json_safe(str(value), limit)


def safe_problems(problems: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [json_safe(p, 10_000) | {"value": json_safe(p.get("value"))} for p in problems]


class NotJSON(json.JSONDecodeError):
    """Valid for Python's json module but not JSON (RFC 8259): NaN, Infinity, unpaired surrogates; or JSON that no
    database can store (NUL in a string)."""


def _no_constants(name: str) -> Any:
    raise NotJSON(f"{name} is not a JSON number", name, 0)


def _check_text(obj: Any) -> Any:
    stack = [obj]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise NotJSON(
                    "unpaired surrogate in a string (\\ud800-\\udfff escapes must come in pairs)", "", 0
                ) from None
            if "\x00" in item:  # legal JSON, but no database text column can store it
                raise NotJSON("NUL character (\\u0000) in a string", "", 0)
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return obj


def strict_json_loads(body: bytes) -> Any:
    return _check_text(json.loads(body, parse_constant=_no_constants))


class StrictJSONRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = strict_json_loads(await self.body())
        return self._json


class StrictJSONRoute(APIRoute):
    """Bodies are parsed as JSON proper: NaN, Infinity and unpaired surrogates are a 422 naming the problem (FastAPI
    turns the JSONDecodeError into a validation error) instead of values no database or response can carry."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict(request: Request) -> Response:
            return await handler(StrictJSONRequest(request.scope, request.receive))

        return strict


def absolute_url(request: Request, path: str) -> str:
    """An absolute link for something sent outside the app (a patient link, a reset link): HIPEXT_BASE_URL plus
    the path. Without a configured base URL the path alone is given: the Host header is the client's to choose."""
    base = request.app.state.settings.base_url
    return f"{base.rstrip('/')}{path}" if base else path
