"""Rendering a page for a signed-in user."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import Response

from hipext.web.security import Principal


def render(request: Request, name: str, ctx: dict[str, Any], p: Principal | None = None, status: int = 200) -> Response:
    base: dict[str, Any] = {
        "user": p.user if p else None,
        "csrf_token": p.csrf_token if p else "",
        "can_write": bool(p and p.can_write),
        "is_admin": bool(p and p.is_admin),
        "errors": {},
        "values": {},
    }
    base.update(ctx)
    return request.app.state.templates.TemplateResponse(request, name, base, status_code=status)
