"""safe-upgrade follows the order Alembic applies revisions in (issue #17, item 5).

Around merges several orders respect the graph, and Alembic runs one of its own: the
history here forks twice, and Alembic applies the second branch of each fork first, where
a topological sort by discovery order would take the first. The order plain
``flask db upgrade`` really applies (its ``on_version_apply`` callbacks, on a SQLite file)
is the reference; safe-upgrade's progress, ``--dry-run`` (text and JSON) and ``--sql``
must list the same revisions in the same order, each once.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from flask import Flask

from flask_safemigrate.history import load_graph
from tests.support.apps import MakeApp, init_migrations
from tests.support.cli import invoke, invoke_json, invoke_ok
from tests.support.databases import DbKind, sqlite_url
from tests.support.revisions import revision_script, write_revision

#: 15 revisions, two forks, two merges: ``(revision, down_revision)``.
HISTORY: tuple[tuple[str, str | tuple[str, ...] | None], ...] = (
    ("r01", None),
    ("r02", "r01"),
    ("a03", "r02"),
    ("a04", "a03"),
    ("b05", "r02"),
    ("b06", "b05"),
    ("m07", ("a04", "b06")),
    ("c08", "m07"),
    ("d09", "m07"),
    ("c10", "c08"),
    ("d11", "d09"),
    ("m12", ("c10", "d11")),
    ("r13", "m12"),
    ("r14", "r13"),
    ("r15", "r14"),
)


def rev(short: str) -> str:
    """A 12-character id, so that prefixes stay unique."""
    return f"{short}000000000"


def write_forked_history(migrations: Path) -> None:
    for short, down in HISTORY:
        parents = (
            tuple(rev(d) for d in down)
            if isinstance(down, tuple)
            else (rev(down) if down else None)
        )
        write_revision(migrations, revision_script(rev(short), parents))


def applied_by_alembic(
    make_app: MakeApp, migrations: Path, tmp_path: Path, start: str | None = None
) -> list[str]:
    """The order plain ``flask db upgrade`` applies the history in (from ``start``, when
    given), as Alembic reports each revision it applies."""
    name = f"reference-{start or 'base'}.db"
    app = make_app(sqlite_url(tmp_path / name), migrations=migrations)
    if start is not None:
        invoke_ok(app, "db", "upgrade", start)
    seen: list[str] = []

    def record(ctx: Any, step: Any, heads: Any, run_args: Any) -> None:
        seen.append(str(step.up_revision_id))

    app.extensions["migrate"].configure_args["on_version_apply"] = record
    invoke_ok(app, "db", "upgrade")
    return seen


def prepared(
    make_app: MakeApp, database_url: str, tmp_path: Path, start: str | None = None
) -> tuple[Flask, list[str]]:
    app = make_app(database_url, config={"SAFEMIGRATE_BACKUP": False})
    migrations = init_migrations(app)
    write_forked_history(migrations)
    expected = applied_by_alembic(make_app, migrations, tmp_path)
    if start is not None:
        return app, applied_by_alembic(make_app, migrations, tmp_path, start)
    assert sorted(expected) == sorted(rev(short) for short, _ in HISTORY)
    discovery = [rev(short) for short, _ in HISTORY]
    assert expected != discovery, "the history must tell Alembic's order from the file order"
    return app, expected


def test_progress_dry_run_and_sql_follow_alembics_order(
    make_app: MakeApp, database_url: str, db_kind: DbKind, tmp_path: Path
) -> None:
    app, expected = prepared(make_app, database_url, tmp_path)

    dry = invoke_ok(app, "db", "safe-upgrade", "--dry-run").output
    assert re.findall(r"would apply (\w+)", dry) == expected

    code, data, _ = invoke_json(app, "db", "safe-upgrade", "--dry-run", "--format", "json")
    assert code == 0, data
    assert [step["revision"] for step in data["plan"]] == expected

    sql = invoke(app, "db", "safe-upgrade", "--sql")
    assert sql.exit_code == 0, sql.output
    ran = re.findall(r"-- Running upgrade .*-> (\w+)", sql.stdout)
    assert ran == expected

    run = invoke_ok(app, "db", "safe-upgrade").output
    progress = re.findall(r"^\[(\d+)/(\d+)\] (\w+)", run, re.MULTILINE)
    assert [name for _, _, name in progress] == expected
    assert [int(n) for n, _, _ in progress] == list(range(1, 16)), "each counter value once"
    assert {total for _, total, _ in progress} == {"15"}
    code, data, _ = invoke_json(app, "db", "safe-upgrade", "--dry-run", "--format", "json")
    assert data["current"] == [rev("r15")] and data["plan"] == []


def test_a_run_from_inside_a_fork_applies_the_rest_in_alembics_order(
    make_app: MakeApp, database_url: str, tmp_path: Path
) -> None:
    # Up to the end of one branch of the first fork: the other branch and the rest remain.
    app, rest = prepared(make_app, database_url, tmp_path, start=rev("a04"))
    invoke_ok(app, "db", "safe-upgrade", rev("a04"))
    assert len(rest) == 11

    dry = invoke_ok(app, "db", "safe-upgrade", "--dry-run").output
    assert re.findall(r"would apply (\w+)", dry) == rest
    run = invoke_ok(app, "db", "safe-upgrade").output
    assert re.findall(r"^\[\d+/\d+\] (\w+)", run, re.MULTILINE) == rest


#: Two forks whose branches the graph's file-name order walks one way and Alembic the
#: the other.
CROSSED: tuple[tuple[str, str | tuple[str, ...] | None], ...] = (
    ("r1c", None),
    ("r6a", "r1c"),
    ("r8x", "r1c"),
    ("r8a", "r6a"),
    ("r0y", "r8x"),
    ("r2y", ("r8a", "r0y")),
    ("r1b", "r2y"),
    ("r5b", "r2y"),
    ("r9m", ("r1b", "r5b")),
)


def test_verify_lists_the_pending_revisions_in_alembics_order(
    make_app: MakeApp, database_url: str, tmp_path: Path
) -> None:
    app = make_app(database_url)
    migrations = init_migrations(app)
    for short, down in CROSSED:
        parents = tuple(rev(d) for d in down) if isinstance(down, tuple) else down and rev(down)
        write_revision(migrations, revision_script(rev(short), parents))
    expected = applied_by_alembic(make_app, migrations, tmp_path)
    graph = load_graph([migrations / "versions"])
    assert [s.revision for s in graph.path((), "heads")] != expected, "orders must differ"

    code, data, _ = invoke_json(app, "db", "verify", "--format", "json")

    assert code == 1, data
    (behind,) = [p for p in data["problems"] if p["check"] == "not-at-head"]
    assert [p["revision"] for p in behind["pending"]] == expected
