"""The clinic web application: FastAPI, server-rendered Jinja templates, inline SVG charts."""

from hipext.web.app import create_app

__all__ = ["create_app"]
