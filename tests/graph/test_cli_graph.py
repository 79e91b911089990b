"""``flask db graph`` end to end: the database's marks on SQLite, PostgreSQL and MariaDB,
``--no-db`` and an unreachable database, ``-o FILE``, and the exit codes."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from flask_safemigrate.render.graph_words import NOTE_LIMIT
from tests.support import graph_histories as gh
from tests.support.apps import AppTracker, MakeApp, init_migrations
from tests.support.cli import invoke, invoke_ok
from tests.support.databases import require_server, server_url, sqlite_url
from tests.support.multidb import FIRST, SECOND, Binds, multidb_app, safe_upgrade
from tests.support.network import refused_port


def test_marks_where_the_database_stands(make_app: MakeApp, database_url: str) -> None:
    app = make_app(database_url)
    ids = gh.branch_and_merge(init_migrations(app))
    before = invoke_ok(app, "db", "graph").stdout
    assert "at empty (base); 5 revisions pending" in before
    invoke_ok(app, "db", "safe-upgrade", ids["b1"])
    text = invoke_ok(app, "db", "graph").stdout
    assert "; at b1000001; 3 revisions pending" in text
    assert re.search(
        r"^\| @  b1000001 \(\[orders\]\) \(database\) \"add orders\" \d+ ms$", text, re.M
    ), text
    assert re.search(r"^\*    base0001 \(branch point\) \"create users\" \d+ ms$", text, re.M)
    assert re.search(r"^o    m0000001 \(head\) \(merge\) \(pending\) \"merge heads\"$", text, re.M)
    offline = invoke_ok(app, "db", "graph", "--no-db").stdout
    assert "database: not connected (--no-db)" in offline and "(pending)" not in offline
    svg = invoke_ok(app, "db", "graph", "--format", "svg").stdout
    words = " ".join(ET.fromstring(svg).itertext())
    assert "database" in words and "pending" in words and "at b1000001" in words


def test_an_unreachable_database_is_a_quiet_note(make_app: MakeApp, tmp_path: Path) -> None:
    with refused_port() as port:
        url = f"postgresql+psycopg://sm:s3cret-pw@127.0.0.1:{port}/nowhere"
        app = make_app(url, config={"SAFEMIGRATE_CONNECT_TIMEOUT": 2})
        gh.branch_and_merge(init_migrations(app))
        result = invoke(app, "db", "graph", "--format", "mermaid")
    assert result.exit_code == 0, result.output
    assert "%% database: not connected (cannot connect to postgresql+psycopg://sm:***@" in (
        result.stdout
    )
    assert "s3cret-pw" not in result.output and result.stderr == ""
    note = result.stdout.splitlines()[1]
    assert note.startswith("%% database: not connected") and len(note) <= len("%% ") + NOTE_LIMIT
    assert "(pending)" not in result.stdout and not re.search(
        r"^  class .* pending$", result.stdout, re.M
    )


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        pytest.param(
            "postgresql",
            'role "sm_no_such_role" does not exist',
            marks=pytest.mark.postgresql,
        ),
        pytest.param("mysql", "Access denied for user", marks=pytest.mark.mysql),
    ],
)
def test_a_refused_login_keeps_its_reason_in_the_note(
    make_app: MakeApp, kind: str, reason: str
) -> None:
    """The note is cut to fit the picture, but not the reason: the real message ends with
    ``(1 attempt, not retried: the server answered and refused it)``, which once filled the
    whole kept end (``… he server answered and refused it))``), the cause cut away."""
    server = server_url(kind)  # type: ignore[arg-type]
    require_server(kind, server)  # type: ignore[arg-type]
    login = {"postgresql": {"username": "sm_no_such_role"}, "mysql": {"password": "wrong-pw"}}
    url = server.set(database="sm_graph_refused", **login[kind])
    app = make_app(url.render_as_string(hide_password=False))
    gh.branch_and_merge(init_migrations(app))
    result = invoke(app, "db", "graph")
    assert result.exit_code == 0, result.output
    note = result.stdout.splitlines()[1]
    assert note.startswith("database: not connected (cannot connect to "), note
    assert reason in note and "wrong-pw" not in result.output, note


def test_output_file_is_written_whole(make_app: MakeApp, tmp_path: Path) -> None:
    app = make_app(sqlite_url(tmp_path / "app.db"))
    gh.generated(init_migrations(app), 300, 30)
    target = tmp_path / "out" / "graph.svg"
    target.parent.mkdir()
    target.write_text("old picture", encoding="utf-8")
    result = invoke(app, "db", "graph", "--format", "svg", "-o", str(target), "--no-db")
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert result.stderr.startswith("Wrote ") and "not connected (--no-db)" in result.stderr
    root = ET.fromstring(target.read_text(encoding="utf-8"))
    assert "300 revisions, 1 head, 30 merges" in " ".join(root.itertext())
    assert [p.name for p in target.parent.iterdir()] == ["graph.svg"]  # no temporary file left
    full = invoke_ok(app, "db", "graph", "--format", "dot", "--full", "--no-db").stdout
    assert full.count(" -> ") == 329  # 299 down_revisions + 30 second parents


def test_an_unwritable_output_is_one_line_and_exit_2(make_app: MakeApp, tmp_path: Path) -> None:
    app = make_app(sqlite_url(tmp_path / "app.db"))
    gh.linear(init_migrations(app), 3)
    missing = tmp_path / "no-such-dir" / "graph.svg"
    result = invoke(app, "db", "graph", "--format", "svg", "-o", str(missing))
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0].startswith("Error: cannot write the graph to ")
    assert "Traceback" not in result.output and not missing.parent.exists()


def test_no_migrations_directory_exits_2(make_app: MakeApp, tmp_path: Path) -> None:
    app = make_app(sqlite_url(tmp_path / "app.db"))
    result = invoke(app, "db", "graph")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0].startswith("Error: no migrations directory at ")


def test_a_cycle_exits_3(make_app: MakeApp, tmp_path: Path) -> None:
    app = make_app(sqlite_url(tmp_path / "app.db"))
    migrations = init_migrations(app)
    gh.add(migrations, "cyca0001", "cycb0001")
    gh.add(migrations, "cycb0001", "cyca0001")
    result = invoke(app, "db", "graph", "--no-db")
    assert result.exit_code == 3
    assert "form a cycle" in result.stderr.splitlines()[0]


@pytest.mark.parametrize("output_format", ["text", "svg", "mermaid", "dot"])
def test_every_format_without_a_database(
    make_app: MakeApp, tmp_path: Path, output_format: str
) -> None:
    app = make_app(sqlite_url(tmp_path / "app.db"))
    gh.two_heads(init_migrations(app))
    out = invoke_ok(app, "db", "graph", "--format", output_format, "--no-db").stdout
    assert "3 revisions, 2 heads, 0 merges" in out
    assert out.endswith("\n") and not out.endswith("\n\n"), out[-20:]  # the prompt's own line
    assert "yhead001" in out and "xhead001" in out


def test_a_broken_script_and_a_missing_parent_are_notes(make_app: MakeApp, tmp_path: Path) -> None:
    app = make_app(sqlite_url(tmp_path / "app.db"))
    migrations = init_migrations(app)
    gh.linear(migrations, 2)
    gh.add(migrations, "orphan01", "gone0001", message="parent deleted")
    (migrations / "versions" / "broken_test.py").write_text("revision = (\n", encoding="utf-8")
    result = invoke(app, "db", "graph", "--no-db")
    assert result.exit_code == 0, result.output
    notes = [line for line in result.stdout.splitlines() if line.startswith("note: ")]
    assert any("broken_test.py" in note and "cannot be read" in note for note in notes)
    assert any("'gone0001'" in note for note in notes)
    assert re.search(r"^\*\s+orphan01 \(head\) \"parent deleted\"$", result.stdout, re.M)


def test_a_write_that_fails_leaves_the_old_file(
    make_app: MakeApp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app(sqlite_url(tmp_path / "app.db"))
    gh.linear(init_migrations(app), 3)
    target = tmp_path / "graph.mmd"
    target.write_text("old picture", encoding="utf-8")

    def full_disk(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("flask_safemigrate.models_snapshot.files.os.fsync", full_disk)
    result = invoke(app, "db", "graph", "--format", "mermaid", "-o", str(target))
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0].endswith("graph.mmd: No space left on device")
    assert target.read_text(encoding="utf-8") == "old picture"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".graph")) == []


def test_a_multi_database_app_marks_where_its_binds_stand(
    tmp_path: Path, track_app: AppTracker
) -> None:
    binds = Binds(
        ("sqlite", "sqlite"), sqlite_url(tmp_path / "main.db"), sqlite_url(tmp_path / "logs.db")
    )
    app = multidb_app(binds, tmp_path, track_app)
    code, data = safe_upgrade(app, FIRST)
    assert code == 0, data
    text = invoke_ok(app, "db", "graph").stdout
    assert f"database: {binds.default}, {binds.logs} (bind 'logs'); at {FIRST};" in text
    assert re.search(rf"^o  {SECOND} \(head\) \(pending\)", text, re.M), text
    assert re.search(rf"^@  {FIRST} \(database\) \"users and events\" \d+ ms$", text, re.M)
