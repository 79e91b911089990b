"""safe-upgrade reads the history through the user's cache (``history/cache.py``): what a
cached read gives is what a fresh read gives, a script edited by one byte is read again, a
script with a defect is never kept (reported the same every time), and a cache file that is
broken or written by other code is not used."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from flask_safemigrate import history
from flask_safemigrate.history.cache import FILE_NAME
from tests.support.apps import MakeApp
from tests.support.cli import invoke_json
from tests.support.revisions import revision_script, write_revision
from tests.upgrade.histories import REVISIONS, models, prepare, versions_of

FIRST, SECOND = "b1000000cach", "b2000000cach"


@pytest.fixture
def versions(tmp_path: Path) -> Path:
    migrations = tmp_path / "migrations"
    write_revision(
        migrations,
        revision_script(FIRST, None, 'op.create_table("orders", sa.Column("id", sa.Integer()))'),
    )
    write_revision(
        migrations,
        revision_script(
            SECOND,
            FIRST,
            'op.add_column("orders", sa.Column("note", sa.Text()))',
            downgrade=None,
            message="add a note",
        ),
    )
    return migrations / "versions"


def read(versions: Path, cache: Path) -> history.RevisionGraph:
    scripts = history.ScriptCache(cache)
    graph = history.load_graph([versions], read=scripts.read)
    scripts.save()
    return graph


def test_a_cached_read_gives_what_a_fresh_read_does(versions: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    fresh = history.load_graph([versions])
    first = read(versions, cache)  # written
    assert (cache / FILE_NAME).is_file()
    again = read(versions, cache)  # read back
    assert first.scripts == fresh.scripts == again.scripts
    assert again.scripts[SECOND].message == "add a note"
    assert not again.scripts[SECOND].has_downgrade
    assert again.scripts[SECOND].imports == fresh.scripts[SECOND].imports


def _entries(cache: Path) -> dict[str, Any]:
    entries: dict[str, Any] = json.loads((cache / FILE_NAME).read_text())["entries"]
    return entries


def test_an_entry_is_served_by_the_bytes_and_an_edit_of_one_byte_reads_again(
    versions: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    read(versions, cache)
    # Prove that the next read comes from the file: change what it holds for SECOND.
    data = json.loads((cache / FILE_NAME).read_text())
    (key,) = [k for k, entry in data["entries"].items() if entry[0] == SECOND]
    data["entries"][key][5] = "from the cache"
    (cache / FILE_NAME).write_text(json.dumps(data))
    assert read(versions, cache).scripts[SECOND].message == "from the cache"

    path = history.load_graph([versions]).scripts[SECOND].path
    path.write_text(path.read_text().replace("add a note", "add a memo"))
    assert read(versions, cache).scripts[SECOND].message == "add a memo"
    assert len(_entries(cache)) == 3  # this run's two first, the old one kept after them


def test_a_script_with_a_defect_is_never_kept(versions: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    broken = versions / "c3000000cach_broken.py"
    broken.write_text('revision = "c3000000cach"\ndown_revision = (\n')
    fresh = history.load_graph([versions])
    for _ in range(2):
        graph = read(versions, cache)
        assert graph.problems == fresh.problems
        assert [p.path for p in graph.problems] == [broken]
    assert len(_entries(cache)) == 2


@pytest.mark.parametrize(
    "content",
    ["not json", '{"format": 1, "code": "other code", "entries": {}}', '{"entries": []}'],
)
def test_a_broken_or_foreign_cache_file_is_not_used(
    versions: Path, tmp_path: Path, content: str
) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / FILE_NAME).write_text(content)
    assert read(versions, cache).scripts == history.load_graph([versions]).scripts
    assert len(_entries(cache)) == 2  # written afresh


def test_safe_upgrade_keeps_the_history_read_in_the_user_cache(
    make_app: MakeApp, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    app = make_app(database_url, models=models(), config={"SAFEMIGRATE_BACKUP": False})
    prepare(app)
    for _ in range(2):  # the second run (a no-op) reads the history from the cache
        code, data, _ = invoke_json(app, "db", "safe-upgrade", "--format", "json")
        assert code == 0, data
        assert versions_of(database_url) == [REVISIONS[-1]]
    assert len(_entries(tmp_path / "xdg" / "flask-safemigrate")) == len(REVISIONS)
