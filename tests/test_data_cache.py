"""Parsed data files are cached by content hash: the cache always equals the YAML, the source of truth."""

from importlib import resources

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
