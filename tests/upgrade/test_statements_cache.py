"""Pre-flight's statements of unchanged scripts come from the user's cache
(``live/statements_cache.py``): the same statements as a fresh read, a script edited by one
byte or read on another dialect is read again, and a broken cache file is not used."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flask_safemigrate import history
from flask_safemigrate.live import pending_statements
from flask_safemigrate.live.statements_cache import FILE_NAME
from tests.support.revisions import revision_script, write_revision

FIRST, SECOND, THIRD = "a1000000cach", "a2000000cach", "a3000000cach"


@pytest.fixture
def plan(tmp_path: Path) -> list[history.Script]:
    migrations = tmp_path / "migrations"
    write_revision(
        migrations,
        revision_script(
            FIRST,
            None,
            'op.create_table("orders", sa.Column("id", sa.Integer()))\n'
            'op.create_index("ix_users_name", "users", ["name"])',
        ),
    )
    write_revision(
        migrations,
        revision_script(
            SECOND,
            FIRST,
            'op.rename_table("users", "people")\n'
            'op.add_column("people", sa.Column("bio", sa.Text()))\n'
            'if op.get_context().dialect.name == "postgresql":\n'
            '    op.execute("CREATE INDEX CONCURRENTLY ix_orders_id ON orders (id)")',
        ),
    )
    write_revision(
        migrations,
        revision_script(
            THIRD,
            SECOND,
            'op.alter_column("people", "bio", nullable=False)\n'
            'with op.batch_alter_table("people") as batch_op:\n'
            '    batch_op.alter_column("bio", type_=sa.String(20))',
        ),
    )
    graph = history.load_graph([migrations / "versions"])
    return [graph.scripts[rev] for rev in (FIRST, SECOND, THIRD)]


def _described(plan: list[history.Script], dialect: str, cache: Path | None) -> list[str]:
    return [
        f"{s.revision} {s.line} {s.kind} {s.table} from={s.renamed_from}"
        f" created={s.created_in_plan} concurrently={s.concurrently} change={s.change}"
        + (f" copies={s.batch_copy.copies} ({s.batch_copy.why})" if s.batch_copy else "")
        for s in pending_statements(plan, dialect, cache_dir=cache)
    ]


def test_a_cached_read_gives_what_a_fresh_read_does(
    plan: list[history.Script], tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    fresh = _described(plan, "postgresql", None)
    assert not cache.exists()
    assert _described(plan, "postgresql", cache) == fresh  # written
    assert (cache / FILE_NAME).is_file()
    assert _described(plan, "postgresql", cache) == fresh  # read back
    assert fresh == [
        f"{FIRST} 16 create_index users from=None created=None concurrently=False change=",
        f"{SECOND} 15 rename_table users from=None created=None concurrently=False change=",
        f"{SECOND} 16 add_column people from=users created=None concurrently=False change=",
        f"{SECOND} 18 create_index orders from=None created={FIRST} concurrently=True change=",
        f"{THIRD} 15 alter_column people from=users created=None concurrently=False"
        " change=not_null",
        f"{THIRD} 17 alter_column people from=users created=None concurrently=False"
        " change=type copies=True (alter_column needs it)",
    ]
    # The PostgreSQL branch is not read on SQLite, cached or not.
    assert _described(plan, "sqlite", cache) == _described(plan, "sqlite", None)
    assert len(_described(plan, "sqlite", cache)) == 5


def _tamper(cache: Path, table: str) -> None:
    """Rename every cached statement's table, so a result that shows it came from the file."""
    path = cache / FILE_NAME
    data = json.loads(path.read_text(encoding="utf-8"))
    for rows in data["entries"].values():
        for row in rows:
            row[2] = table
    path.write_text(json.dumps(data), encoding="utf-8")


def test_the_cache_is_read_and_an_edited_script_is_read_again(
    plan: list[history.Script], tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    _described(plan, "postgresql", cache)
    _tamper(cache, "from_the_cache")
    assert {line.split()[3] for line in _described(plan, "postgresql", cache)} == {"from_the_cache"}
    third = plan[2].path
    third.write_text(third.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    tables = [line.split()[3] for line in _described(plan, "postgresql", cache)]
    assert tables[-2:] == ["people", "people"] and set(tables[:-2]) == {"from_the_cache"}
    # Another dialect is another entry: read from the script, not the tampered rows.
    assert "from_the_cache" not in {line.split()[3] for line in _described(plan, "mysql", cache)}


@pytest.mark.parametrize(
    "content", ["not json", '{"format": 1, "code": "another", "entries": {}}', "[1, 2]"]
)
def test_a_broken_or_foreign_cache_file_is_not_used(
    plan: list[history.Script], tmp_path: Path, content: str
) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / FILE_NAME).write_text(content, encoding="utf-8")
    assert _described(plan, "postgresql", cache) == _described(plan, "postgresql", None)
    data = json.loads((cache / FILE_NAME).read_text(encoding="utf-8"))
    assert data["format"] == 1 and len(data["entries"]) == 3  # rewritten for this code


def test_a_cached_entry_of_another_shape_is_read_again(
    plan: list[history.Script], tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    _described(plan, "postgresql", cache)
    path = cache / FILE_NAME
    data = json.loads(path.read_text(encoding="utf-8"))
    data["entries"] = {key: [["x"]] for key in data["entries"]}
    path.write_text(json.dumps(data), encoding="utf-8")
    assert _described(plan, "postgresql", cache) == _described(plan, "postgresql", None)


def test_an_unwritable_cache_folder_only_costs_time(
    plan: list[history.Script], tmp_path: Path
) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("", encoding="utf-8")  # a file where the folder would be
    assert _described(plan, "postgresql", blocked / "cache") == _described(plan, "postgresql", None)
