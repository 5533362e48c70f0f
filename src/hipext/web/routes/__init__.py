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

    # Routes are matched in this order, one by one (several microseconds each): the most frequent reads come first,
    # the evaluation page and the API (issue 12). No route of another module matches their paths.
    modules = (evaluation, api, auth, credentials, patients, attention, visits, imports, documents, program, links,
               admin, account, home, questionnaires)
    return [m.router for m in modules]
