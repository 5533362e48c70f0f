"""A worker's start-up and shut-down, as a server runs them (the app's lifespan)."""

from __future__ import annotations

import gc

from starlette.testclient import TestClient

from hipext.web import create_app


def test_what_a_worker_loaded_at_start_up_is_kept_out_of_the_collectors_passes_while_it_serves(tmp_path):
    """The warm-up loads the evidence, the care data and the validators once; the collector's full passes would
    walk all of it again on every request burst. Frozen while serving, released at shut-down (tests and reloads
    build many apps in one process)."""
    app = create_app(f"sqlite:///{tmp_path / 'clinic.db'}")
    before = gc.get_freeze_count()
    with TestClient(app) as c:
        assert c.get("/health").json()["status"] == "ok"
        assert gc.get_freeze_count() > before + 10_000  # the modules, evidence and models the warm-up loaded
    assert gc.get_freeze_count() == before
