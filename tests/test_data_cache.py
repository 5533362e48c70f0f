"""Parsed data files are cached by content hash: the cache always equals the YAML, the source of truth."""

import json
import os
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path

import yaml

from hipext.evidence import cache


def _shipped_yaml():
    root = resources.files("hipext") / "data"
    return sorted((p for folder in root.iterdir() if folder.is_dir() for p in folder.iterdir()
                   if p.name.endswith(".yaml")), key=lambda p: str(p))


def test_cached_value_equals_the_yaml_for_every_shipped_file(tmp_path, monkeypatch):
    monkeypatch.setenv("HIPEXT_CACHE_DIR", str(tmp_path))
    files = _shipped_yaml()
    assert len(files) > 15
    for p in files:
        raw = p.read_bytes()
        fresh = yaml.safe_load(raw)
        assert cache.parse_yaml(raw) == fresh, p.name  # parses and stores
        assert cache.parse_yaml(raw) == fresh, p.name  # from the cache file
    assert len(list(tmp_path.glob("data-*.marshal"))) == len(files)


def test_an_edit_is_never_served_stale_and_a_bad_cache_file_is_ignored(tmp_path, monkeypatch):
    monkeypatch.setenv("HIPEXT_CACHE_DIR", str(tmp_path))
    assert cache.parse_yaml(b"a: 1\n") == {"a": 1}
    assert cache.parse_yaml(b"a: 2\n") == {"a": 2}
    for f in tmp_path.glob("data-*.marshal"):
        f.write_bytes(b"\x00garbage")
    assert cache.parse_yaml(b"a: 2\n") == {"a": 2}


def test_no_cache_when_unwritable_or_disabled(tmp_path, monkeypatch):
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    monkeypatch.setenv("HIPEXT_CACHE_DIR", str(blocked / "sub"))
    assert cache.parse_yaml(b"b: [1, 2]\n") == {"b": [1, 2]}
    monkeypatch.setenv("HIPEXT_CACHE_DIR", "")
    assert cache.parse_yaml(b"when: 2026-01-01\n")["when"].year == 2026  # dates are parsed, not cached


ROOT = Path(__file__).resolve().parents[1]


def _evaluate_copy(pkg: Path, cache: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(pkg), HIPEXT_CACHE_DIR=str(cache))
    case = ROOT / "examples" / "athlete-hamstring.yaml"
    out = subprocess.run([sys.executable, "-m", "hipext", "evaluate", str(case)],
                         env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout)


def test_a_fresh_copy_fills_the_cache_and_an_edited_data_file_shows_in_the_next_evaluation(tmp_path):
    pkg, cache_dir = tmp_path / "src", tmp_path / "cache"
    shutil.copytree(ROOT / "src" / "hipext", pkg / "hipext", ignore=shutil.ignore_patterns("__pycache__"))
    before = _evaluate_copy(pkg, cache_dir)  # a fresh clone: an empty cache, filled by this run
    assert len(list(cache_dir.glob("data-*.marshal"))) > 15
    assert _evaluate_copy(pkg, cache_dir) == before  # served from the cache: the same document

    bib, tasks = pkg / "hipext/data/evidence/bibliography.yaml", pkg / "hipext/data/biomech/task_demands.yaml"
    bib_text, tasks_text = bib.read_text(), tasks.read_text()
    assert "title: The predictive validity of a single leg bridge test" in bib_text
    assert "label: Stair ascent\n" in tasks_text
    bib.write_text(bib_text.replace("title: The predictive validity of a single leg bridge test",
                                    "title: EDITED The predictive validity of a single leg bridge test"))
    tasks.write_text(tasks_text.replace("label: Stair ascent\n", "label: Stair climbing (edited)\n"))
    after = _evaluate_copy(pkg, cache_dir)
    assert any("EDITED The predictive validity" in s["citation"] for s in after["sources"])
    assert "Stair climbing (edited)" in [t["label"] for t in after["capacity"]["tasks"]]
    assert "Stair ascent" not in [t["label"] for t in after["capacity"]["tasks"]]

    bib.write_text(bib_text)  # edited back: the original document again
    tasks.write_text(tasks_text)
    assert _evaluate_copy(pkg, cache_dir) == before


def test_hyphenation_patterns_from_the_cache_are_pyphens_own(tmp_path, monkeypatch):
    import pyphen

    from hipext.care import education

    monkeypatch.setenv("HIPEXT_CACHE_DIR", str(tmp_path))
    path = pyphen.LANGUAGES[pyphen.language_fallback(education.HYPHENATION_LANGUAGE)]
    monkeypatch.setattr(pyphen, "hdcache", {})
    own = pyphen.HyphDict(path)
    text = ("Your buttock muscles straighten your hip. Strengthening exercises, repeated regularly, "
            "rebuild their capacity; hyphenation dictionaries undercount syllables occasionally.")
    grades = []
    for _ in range(2):  # the first call parses and stores, the second reads the cache file
        pyphen.hdcache.clear()
        grades.append(education.reading_grade(text))
        assert pyphen.hdcache[path].patterns == own.patterns
        assert pyphen.hdcache[path].maxlen == own.maxlen
    assert list(tmp_path.glob("data-*.marshal"))
    words = text.lower().replace(",", " ").replace(".", " ").replace(";", " ").split()
    assert [pyphen.hdcache[path].positions(w) for w in words] == [own.positions(w) for w in words]
    pyphen.hdcache.clear()
    pyphen.hdcache[path] = own
    assert education.reading_grade(text) == grades[0] == grades[1]


def test_data_version_changes_with_any_evaluation_data_file(tmp_path, monkeypatch):
    from hipext import evidence

    root = tmp_path / "data"
    for folder in evidence.EVALUATION_DATA:
        shutil.copytree(ROOT / "src/hipext/data" / folder, root / folder)
    monkeypatch.setattr(evidence, "data_dir", lambda: root)
    versions = []
    for edit in (None, "evidence/norms.yaml", "care/exercises.yaml", "biomech/task_demands.yaml"):
        if edit:
            (root / edit).write_bytes((root / edit).read_bytes() + b"\n# edited\n")
        evidence.data_version.cache_clear()
        versions.append(evidence.data_version())
    (root / "care" / "new.yaml").write_text("a: 1\n")
    evidence.data_version.cache_clear()
    versions.append(evidence.data_version())
    evidence.data_version.cache_clear()
    assert len(set(versions)) == len(versions)
    assert all(len(v) == 64 for v in versions)


def test_a_pyphen_with_another_layout_parses_its_own_dictionary(tmp_path, monkeypatch):
    import pyphen

    from hipext.care import education

    class Other(pyphen.HyphDict):  # a release whose dictionaries keep their patterns elsewhere
        def positions(self, word):
            return self.rules.positions(word)

    monkeypatch.setenv("HIPEXT_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(pyphen, "hdcache", {})
    monkeypatch.setattr(pyphen, "HyphDict", Other)
    education._load_hyphenation()
    assert not pyphen.hdcache  # nothing half-built installed: pyphen parses the file itself, as without the cache
