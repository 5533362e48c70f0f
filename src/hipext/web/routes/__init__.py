"""Routes, one module per resource. Pages are server-rendered; `api` is the JSON API under /api; `home` is the
patient's own page opened from their link."""

from __future__ import annotations

from fastapi import APIRouter


def routers() -> list[APIRouter]:
    from hipext.web.routes import (  # noqa: PLC0415 - imported when the app is built
        account,
        admin,
        api,
        attention,
        auth,
        credentials,
        documents,
        evaluation,
        home,
        imports,
        links,
        patients,
        program,
        questionnaires,
        visits,
    )

    modules = (auth, credentials, patients, attention, visits, imports, evaluation, documents, program, links,
               admin, account, home, questionnaires, api)
    return [m.router for m in modules]
