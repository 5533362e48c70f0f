"""The clinic web application: FastAPI, server-rendered Jinja templates, inline SVG charts.

`create_app` is imported on first use: `python -m hipext.web --workers N` runs a supervisor that builds no app, and
whatever it imports stays resident for the server's life (importing the app took it to 82 MiB).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hipext.web.app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from hipext.web.app import create_app  # noqa: PLC0415

        return create_app
    raise AttributeError(f"module 'hipext.web' has no attribute {name!r}")
