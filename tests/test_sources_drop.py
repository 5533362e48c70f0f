"""Incomplete sources are dropped where the dumped document shows them, the same as walking the whole model."""

import copy
from pathlib import Path

from hipext.app import _drop_sources_at, _source_lists, drop_sources, evaluate_case
from hipext.caseio import read_case_file

ROOT = Path(__file__).resolve().parents[1]


def _evaluation():
    return evaluate_case(read_case_file(ROOT / "examples" / "athlete-hamstring.yaml"))


def test_dropping_at_the_dumped_paths_equals_the_whole_walk():
    ev = _evaluation()
    doc = ev.model_dump(mode="json")
    found, lists = _source_lists(doc)
    ids = set(list(found)[::2])  # every other cited source, wherever it is cited
    assert len(ids) >= 3 and len(lists) > 10
    walked, at = copy.deepcopy(ev), copy.deepcopy(ev)
    drop_sources(walked, ids)
    assert _drop_sources_at(at, [p for p, v in lists if any(isinstance(i, str) and i in ids for i in v)], ids)
    assert at.model_dump(mode="json") == walked.model_dump(mode="json")
    assert not ids & set(_source_lists(at.model_dump(mode="json"))[0])


def test_a_path_the_model_does_not_have_falls_back_to_the_whole_walk():
    ev = _evaluation()
    assert not _drop_sources_at(ev, [("no_such_field", 0)], {"x"})
    assert not _drop_sources_at(ev, [("findings", 10_000)], {"x"})
