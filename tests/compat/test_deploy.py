"""safe-upgrade's release-compatibility check at deploy (issue #19 part 3), on the three databases.

Release 1 maps ``users`` (id, email, legacy) and is deployed with its revision; release 2
drops ``legacy`` (the breaking change: release 1 still maps it) or, in its expand version,
only stops mapping it. Each release is an app of its own on the same database and migrations
directory, as two deploys of one project are.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask_sqlalchemy import SQLAlchemy

from flask_safemigrate.checks.compat import ADVICE
from tests.support.apps import MakeApp, init_migrations
from tests.support.cli import invoke, invoke_json
from tests.support.databases import connection_to, nullpool_engine, table_names
from tests.support.revisions import revision_script, write_revision

V1, V2 = "c1c1c1c1c1c1", "c2c2c2c2c2c2"

CREATE_USERS = revision_script(
    V1,
    None,
    """
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=50), nullable=True),
        sa.Column("legacy", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
    )
    """,
    'op.drop_table("users")',
    message="create users",
)
DROP_LEGACY = revision_script(
    V2,
    V1,
    """
    with op.batch_alter_table("users") as batch_op:
        # The reviewer believed no server maps it any more; the record knows better.
        batch_op.drop_column("legacy")  # safemigrate: ignore[drop-column] -- contract step
    """,
    'raise RuntimeError("one way")',
    message="drop users legacy",
)
#: The expand step: the release stops mapping ``legacy``; the column stays. Its revision adds
#: a nullable column, which the running release does not need to know about.
ADD_NICKNAME = revision_script(
    V2,
    V1,
    """
    with op.batch_alter_table("users") as batch_op:
        batch_op.add_column(sa.Column("nickname", sa.String(length=40), nullable=True))
    """,
    'raise RuntimeError("one way")',
    message="add users nickname",
)
FAILING = revision_script(
    V2, V1, 'op.execute(sa.text("INSERT INTO no_such_table (id) VALUES (1)"))', message="fails"
)

Models = Callable[[SQLAlchemy], None]


def users(*extra: str) -> Models:
    """The ``users`` models: id, email, and the ``extra`` columns (``legacy``, ``nickname``)."""
    types = {"legacy": sa.Integer(), "nickname": sa.String(40)}

    def declare(db: SQLAlchemy) -> None:
        sa.Table(
            "users",
            db.metadata,
            sa.Column("id", sa.Integer(), primary_key=True),
            sa.Column("email", sa.String(50)),
            *(sa.Column(name, types[name]) for name in extra),
        )

    return declare


RELEASE_1 = users("legacy")


class Deploys:
    """Releases of one project deployed, one after the other, to one database."""

    def __init__(self, make_app: MakeApp, url: str, tmp_path: Path) -> None:
        self.make_app, self.url = make_app, url
        self.migrations = tmp_path / "migrations"
        self.config: dict[str, Any] = {"SAFEMIGRATE_BACKUP": False}

    def release(self, models: Models, script: str | None = None, **config: Any) -> Flask:
        app = self.make_app(
            self.url,
            migrations=self.migrations,
            models=models,
            config={**self.config, **config},
        )
        if not self.migrations.exists():
            init_migrations(app)
        if script is not None:
            write_revision(self.migrations, script)
        return app

    def first(self) -> None:
        code, data = upgrade(self.release(RELEASE_1, CREATE_USERS))
        assert code == 0, data
        assert data["compat"]["recorded"] is True


@pytest.fixture
def deploys(make_app: MakeApp, database_url: str, tmp_path: Path, db_kind: str) -> Deploys:
    return Deploys(make_app, database_url, tmp_path)


def upgrade(app: Flask, *args: str) -> tuple[int, dict[str, Any]]:
    code, data, _ = invoke_json(app, "db", "safe-upgrade", "--format", "json", *args)
    return code, data


def releases_of(url: str) -> list[dict[str, Any]]:
    engine = nullpool_engine(url)
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table("safemigrate_release"):
                return []
            query = sa.text("SELECT * FROM safemigrate_release ORDER BY id")
            return [dict(row._mapping) for row in conn.execute(query)]
    finally:
        engine.dispose()


def columns_of(row: dict[str, Any]) -> set[str]:
    """The ``users`` columns a recorded snapshot maps."""
    (database,) = json.loads(row["snapshot"])["databases"]
    return set(database["tables"]["users"]["columns"])


def test_the_first_deploy_records_its_release_and_the_second_compares(
    deploys: Deploys, database_url: str
) -> None:
    code, data = upgrade(deploys.release(RELEASE_1, CREATE_USERS))
    assert code == 0, data
    assert data["compat"] == {
        "mode": "block",
        "with": None,
        "ran": False,
        "findings": 0,
        "allowed_breaking": False,
        "recorded": True,
        "skipped": "no release recorded yet",
    }
    (row,) = releases_of(database_url)
    assert row["heads"] == V1
    assert columns_of(row) == {"id", "email", "legacy"}
    assert not row["allow_breaking"] and row["breaks"] is None
    assert "@" in row["recorded_by"] and len(row["checksum"]) == 64
    # The record is never part of the app's schema: verify finds no drift.
    assert "safemigrate_release" in table_names(database_url)
    code, verified, _ = invoke_json(deploys.release(RELEASE_1), "db", "verify", "--format", "json")
    assert (code, verified["problems"]) == (0, [])

    text = invoke(deploys.release(users("legacy", "nickname"), ADD_NICKNAME), "db", "safe-upgrade")
    assert text.exit_code == 0, text.output
    lines = text.output.splitlines()
    (compared,) = [line for line in lines if line.startswith("preflight: compat with")]
    assert compared.startswith("preflight: compat with the release recorded ")
    assert compared.endswith(": nothing it maps breaks")
    assert any(line.startswith("release: recorded the models of this release") for line in lines)
    first, second = releases_of(database_url)
    assert first["id"] < second["id"]
    assert second["heads"] == V2
    assert columns_of(second) == {"id", "email", "legacy", "nickname"}


def test_an_already_recorded_release_is_not_recorded_again(
    deploys: Deploys, database_url: str
) -> None:
    deploys.first()
    code, data = upgrade(deploys.release(RELEASE_1))
    assert code == 0, data
    assert data["compat"]["recorded"] is False
    assert len(releases_of(database_url)) == 1


def test_a_breaking_change_is_blocked_by_default_with_the_advice(
    deploys: Deploys, database_url: str
) -> None:
    deploys.first()
    app = deploys.release(users(), DROP_LEGACY)
    code, data = upgrade(app)
    assert code == 3, data
    assert data["stage"] == "preflight"
    (problem,) = [p for p in data["problems"] if p["severity"] == "error"]
    assert problem["check"] == "breaks-previous-release"
    assert (problem["table"], problem["column"], problem["change"]) == (
        "users",
        "legacy",
        "column-dropped",
    )
    assert problem["message"].startswith("users.legacy: column dropped or renamed; the previous")
    assert problem["help"].startswith(ADVICE["column-dropped"].format(t="users", c="legacy"))
    assert "`flask db safe-upgrade --allow-breaking`" in problem["help"]
    assert data["compat"]["ran"] is True and data["compat"]["findings"] == 1
    assert data["compat"]["with"].startswith("recorded ")
    assert data["current"] == [V1] and data["applied"] == []
    assert len(releases_of(database_url)) == 1
    # The text says it too, with the advice and the flag.
    text = invoke(app, "db", "safe-upgrade")
    assert text.exit_code == 3
    assert "[breaks-previous-release]" in text.output
    assert "release N+2 drops it" in text.output
    assert "--allow-breaking" in text.output
    # The command it suggests keeps the options given (else it stops again on them).
    code, again = upgrade(app, "--skip-lint", "--no-verify")
    assert code == 3, again
    (problem,) = [p for p in again["problems"] if p["check"] == "breaks-previous-release"]
    assert "`flask db safe-upgrade --skip-lint --no-verify --allow-breaking`" in problem["help"]


def test_a_lint_error_and_a_break_are_reported_in_one_run(
    deploys: Deploys, database_url: str
) -> None:
    """A deploy hears every blocker at once, not the break only after the lint error is fixed."""
    deploys.first()
    unreviewed = DROP_LEGACY.replace("  # safemigrate: ignore[drop-column] -- contract step", "")
    code, data = upgrade(deploys.release(users(), unreviewed))

    assert code == 3, data
    errors = [p["check"] for p in data["problems"] if p["severity"] == "error"]
    assert sorted(errors) == ["breaks-previous-release", "drop-column"], data["problems"]
    assert data["compat"]["ran"] is True
    assert data["current"] == [V1] and data["applied"] == []


def test_the_way_on_past_a_lint_error_and_a_break_names_both_options(
    deploys: Deploys, database_url: str
) -> None:
    """A one-step drop_column: lint (SM102) and the compat check both block. The command
    each suggests goes on past both (it said `--allow-breaking` alone, which stopped again
    on lint); the lint line says its severity and the counts line says the error."""
    deploys.first()
    unreviewed = DROP_LEGACY.replace("  # safemigrate: ignore[drop-column] -- contract step", "")
    app = deploys.release(users(), unreviewed)
    both = "`flask db safe-upgrade --skip-lint --allow-breaking`"

    text = invoke(app, "db", "safe-upgrade")

    assert text.exit_code == 3, text.output
    lines = text.output.splitlines()
    # (a warning too where the drop has no existence check: SM302)
    (counts,) = [line for line in lines if line.startswith("preflight: lint: ")]
    assert re.fullmatch(r"preflight: lint: 1 error(, 1 warning)? in 1 pending script", counts)
    (at,) = [n for n, line in enumerate(lines) if " SM102 [drop-column] " in line]
    assert re.fullmatch(r"\S+_test\.py:\d+:\d+: error SM102 \[drop-column\] .+", lines[at])
    assert lines[at + 1].startswith("  help: ") and lines[at + 1].endswith(both)
    (at,) = [n for n, line in enumerate(lines) if line.startswith("error[breaks-previous-")]
    assert lines[at + 1].startswith("  help: ") and both in lines[at + 1]
    assert "--skip-lint: the lint errors above block this run too" in text.output

    code, data = upgrade(app)
    assert code == 3, data
    problems = {p["check"]: p for p in data["problems"] if p["severity"] == "error"}
    assert set(problems) == {"drop-column", "breaks-previous-release"}
    assert problems["drop-column"]["help"].endswith(
        f"or apply it anyway, past the release-compatibility breaks below too: {both}"
    )
    assert both in problems["breaks-previous-release"]["help"]

    # What they suggest goes on.
    code, data = upgrade(app, "--skip-lint", "--allow-breaking")
    assert code == 0, data
    assert data["current"] == [V2]


def test_with_a_missing_import_too_the_way_on_says_no_option_passes_it(deploys: Deploys) -> None:
    deploys.first()
    unreviewed = DROP_LEGACY.replace("  # safemigrate: ignore[drop-column] -- contract step", "")
    missing = unreviewed.replace(
        "import sqlalchemy as sa\n", "import slugifyy\nimport sqlalchemy as sa\n"
    )
    code, data = upgrade(deploys.release(users(), missing))
    assert code == 3, data
    errors = {p["check"]: p for p in data["problems"] if p["severity"] == "error"}
    assert set(errors) == {"script-import-missing", "drop-column", "breaks-previous-release"}
    for check in ("drop-column", "breaks-previous-release"):
        assert "`flask db safe-upgrade --skip-lint --allow-breaking`" in errors[check]["help"]
        assert errors[check]["help"].endswith(
            "(once the module the scripts import is installed: no option goes past a missing"
            " import)"
        )


def test_a_lint_error_alone_suggests_skip_lint_alone(deploys: Deploys) -> None:
    """No break (the expand release keeps mapping legacy... but a lint error): --skip-lint."""
    deploys.first()
    code, data = upgrade(
        deploys.release(
            users("legacy"),
            revision_script(V2, V1, 'op.drop_table("users")', message="drop users"),
        )
    )
    assert code == 3, data
    (problem,) = [p for p in data["problems"] if p["severity"] == "error"]
    assert problem["check"] == "drop-table"
    assert problem["help"].endswith("or pass --skip-lint to apply it anyway")


def test_a_misspelt_operation_suggests_no_way_past_it(deploys: Deploys) -> None:
    """`op.create_indx` fails whenever it runs: --skip-lint would only stop on it later,
    after the revisions before it, so the help names the fix and nothing else."""
    deploys.first()
    code, data = upgrade(
        deploys.release(
            users(),
            revision_script(V2, V1, 'op.create_indx("ix_users_x", "users", ["id"])', message="ix"),
        )
    )
    assert code == 3, data
    (problem,) = [p for p in data["problems"] if p["severity"] == "error"]
    assert problem["check"] == "unknown-operation"
    assert problem["help"] == "use op.create_index()"


def test_allow_breaking_goes_on_and_is_recorded(deploys: Deploys, database_url: str) -> None:
    deploys.first()
    # A dry run says what a real one will do, never that it deployed or recorded.
    app = deploys.release(users(), DROP_LEGACY)
    dry = invoke(app, "db", "safe-upgrade", "--dry-run", "--allow-breaking")
    assert dry.exit_code == 0, dry.output
    assert "1 break, going on (--allow-breaking: a successful upgrade records it)" in dry.output
    assert "deployed" not in dry.output and len(releases_of(database_url)) == 1
    code, data = upgrade(app, "--allow-breaking")
    assert code == 0, data
    assert data["applied"] == [{"revision": V2, "seconds": data["applied"][0]["seconds"]}]
    assert data["compat"]["allowed_breaking"] is True
    assert data["compat"]["recorded"] is True
    (problem,) = [p for p in data["problems"] if p["check"] == "breaks-previous-release"]
    assert problem["severity"] == "warning"
    assert problem["message"].endswith("(allowed by --allow-breaking)")
    _, second = releases_of(database_url)
    assert second["allow_breaking"]
    assert "users.legacy: column dropped or renamed" in second["breaks"]
    assert columns_of(second) == {"id", "email"}


def test_warn_goes_on_with_a_warning_line(deploys: Deploys, database_url: str) -> None:
    deploys.first()
    app = deploys.release(users(), DROP_LEGACY, SAFEMIGRATE_COMPAT="warn")
    text = invoke(app, "db", "safe-upgrade")
    assert text.exit_code == 0, text.output
    assert '1 break (SAFEMIGRATE_COMPAT = "warn": going on)' in text.output
    assert "users.legacy: column dropped or renamed" in text.output
    _, second = releases_of(database_url)
    assert not second["allow_breaking"]
    assert "users.legacy" in second["breaks"]


def test_off_neither_compares_nor_records(deploys: Deploys, database_url: str) -> None:
    app = deploys.release(RELEASE_1, CREATE_USERS, SAFEMIGRATE_COMPAT="off")
    code, data = upgrade(app)
    assert code == 0, data
    assert "compat" not in data
    assert "safemigrate_release" not in table_names(database_url)
    deploys.first()  # recorded once the check is on
    app = deploys.release(users(), DROP_LEGACY, SAFEMIGRATE_COMPAT="off")
    text = invoke(app, "db", "safe-upgrade")
    assert text.exit_code == 0, text.output
    assert "compat" not in text.output
    assert len(releases_of(database_url)) == 1


def test_the_expand_version_reports_nothing(deploys: Deploys, database_url: str) -> None:
    deploys.first()
    # Release 2 stops mapping legacy (the column stays) and adds a nullable nickname. The
    # models then lack a column the database has: post-verify's drift check says so, which is
    # the expand step's point, so it is left out here (--no-verify).
    code, data = upgrade(deploys.release(users("nickname"), ADD_NICKNAME), "--no-verify")
    assert code == 0, data
    assert [p for p in data["problems"] if p["check"] == "breaks-previous-release"] == []
    assert data["compat"]["ran"] is True and data["compat"]["findings"] == 0
    assert data["compat"]["recorded"] is True


@pytest.mark.parametrize("option", ["--dry-run", "--sql"])
def test_dry_run_and_sql_never_record(
    make_app: MakeApp, database_url: str, tmp_path: Path, option: str, db_kind: str
) -> None:
    deploys = Deploys(make_app, database_url, tmp_path)
    app = deploys.release(RELEASE_1, CREATE_USERS)
    result = invoke(app, "db", "safe-upgrade", option)
    assert result.exit_code == 0, result.output
    assert "safemigrate_release" not in table_names(database_url)


def test_a_failed_upgrade_records_nothing(deploys: Deploys, database_url: str) -> None:
    deploys.first()
    code, data = upgrade(deploys.release(users("legacy"), FAILING), "--skip-lint")
    assert code == 4, data
    assert data["compat"]["recorded"] is False
    assert len(releases_of(database_url)) == 1


def test_a_corrupt_record_is_one_line_not_a_traceback(deploys: Deploys, database_url: str) -> None:
    deploys.first()
    with connection_to(database_url) as conn:
        conn.execute(sa.text("UPDATE safemigrate_release SET snapshot = '{\"format\": 1, ['"))
        conn.commit()
    app = deploys.release(users(), DROP_LEGACY)
    text = invoke(app, "db", "safe-upgrade")
    assert text.exit_code == 3, text.output
    assert "Traceback" not in text.output
    (line,) = [line for line in text.output.splitlines() if "is not a models snapshot" in line]
    assert "row 1 of safemigrate_release" in line and "not JSON" in line
    assert "--allow-breaking" in text.output
    # --allow-breaking records this release over it; the next deploy compares again.
    code, data = upgrade(app, "--allow-breaking")
    assert code == 0, data
    assert data["compat"]["allowed_breaking"] is True
    _, second = releases_of(database_url)
    assert second["allow_breaking"] and "not JSON" in second["breaks"]


def test_a_record_of_the_wrong_shape_is_one_line(deploys: Deploys, database_url: str) -> None:
    deploys.first()
    users_table = {"columns": {"email": 1}}  # a column that is not a mapping
    hostile = {"format": 1, "databases": [{"bind": None, "tables": {"users": users_table}}]}
    with connection_to(database_url) as conn:
        conn.execute(
            sa.text("UPDATE safemigrate_release SET snapshot = :s"), {"s": json.dumps(hostile)}
        )
        conn.commit()
    code, data = upgrade(deploys.release(users(), DROP_LEGACY))
    assert code == 3, data
    (problem,) = [p for p in data["problems"] if p["severity"] == "error"]
    assert problem["check"] == "preflight-failed"
    assert "do not have a snapshot's shape" in problem["message"]
    assert "\n" not in problem["message"]


def test_warn_reads_past_a_corrupt_record_in_one_line(deploys: Deploys, database_url: str) -> None:
    deploys.first()
    with connection_to(database_url) as conn:
        conn.execute(sa.text("UPDATE safemigrate_release SET snapshot = 'not json'"))
        conn.commit()
    app = deploys.release(users("legacy", "nickname"), ADD_NICKNAME, SAFEMIGRATE_COMPAT="warn")
    text = invoke(app, "db", "safe-upgrade")
    assert text.exit_code == 0, text.output
    assert "Traceback" not in text.output
    (line,) = [line for line in text.output.splitlines() if "cannot be read" in line]
    assert line.startswith("preflight: compat: the release recorded ")
    assert "not JSON" in line
    _, second = releases_of(database_url)  # this release recorded over it
    assert columns_of(second) == {"id", "email", "legacy", "nickname"}


V3 = "c3c3c3c3c3c3"
ADD_NICKNAME_AFTER_DROP = revision_script(
    V3,
    V2,
    """
    with op.batch_alter_table("users") as batch_op:
        batch_op.add_column(sa.Column("nickname", sa.String(length=40), nullable=True))
    """,
    'raise RuntimeError("one way")',
)


def test_an_upgrade_that_stops_before_head_is_neither_checked_nor_recorded(
    deploys: Deploys, database_url: str
) -> None:
    deploys.first()
    app = deploys.release(users("nickname"), DROP_LEGACY)
    write_revision(deploys.migrations, ADD_NICKNAME_AFTER_DROP)
    text = invoke(app, "db", "safe-upgrade", V2)
    assert text.exit_code == 0, text.output
    assert (
        "preflight: compat: not checked on " in text.output
        and ": the plan stops before head, and the models describe head" in text.output
    )
    assert len(releases_of(database_url)) == 1


def test_a_snapshot_larger_than_a_mariadb_text_is_kept_whole(
    deploys: Deploys, database_url: str
) -> None:
    """MariaDB/MySQL's TEXT holds 64 KiB; a large app's snapshot is longer (a long text)."""

    def many(db: SQLAlchemy) -> None:
        RELEASE_1(db)
        for number in range(80):
            sa.Table(
                f"archive_table_number_{number:03d}",
                db.metadata,
                sa.Column("id", sa.Integer(), primary_key=True),
                *(sa.Column(f"column_with_a_long_name_{c:02d}", sa.String(120)) for c in range(12)),
            )

    # Only users is migrated: the rest is models (not verified) to make the snapshot large.
    code, data = upgrade(deploys.release(many, CREATE_USERS), "--no-verify")
    assert code == 0, data
    (row,) = releases_of(database_url)
    assert len(row["snapshot"].encode("utf-8")) > 65_535
    assert hashlib.sha256(row["snapshot"].encode("utf-8")).hexdigest() == row["checksum"]
    assert len(json.loads(row["snapshot"])["databases"][0]["tables"]) == 81


T1, T2 = "d1d1d1d1d1d1", "d2d2d2d2d2d2"
CREATE_TAG = revision_script(
    T1,
    None,
    """
    op.create_table(
        "tag",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tag"),
        sa.UniqueConstraint("label", name="uq_tag_label"),
    )
    """,
    'op.drop_table("tag")',
    message="create tag",
)
#: ``tag.label`` renamed to ``name``, in each form a script writes it.
RENAME_LABEL = {
    "op": """
        op.alter_column(  # safemigrate: ignore[rename-column] -- the break under test
            "tag",
            "label",
            new_column_name="name",
            existing_type=sa.String(length=40),
            existing_nullable=False,
        )
        """,
    "batch_op": """
        with op.batch_alter_table("tag") as batch_op:
            batch_op.alter_column(  # safemigrate: ignore[rename-column] -- the break under test
                "label",
                new_column_name="name",
                existing_type=sa.String(length=40),
                existing_nullable=False,
            )
        """,
    "sql": """
        op.execute(  # safemigrate: ignore[rename-column] -- the break under test
            "ALTER TABLE tag RENAME COLUMN label TO name"
        )
        """,
}


def tag(column: str) -> Models:
    """``tag``: id, and ``column`` (a string, unique and NOT NULL)."""

    def declare(db: SQLAlchemy) -> None:
        sa.Table(
            "tag",
            db.metadata,
            sa.Column("id", sa.Integer(), primary_key=True),
            sa.Column(column, sa.String(40), nullable=False),
            sa.UniqueConstraint(column, name="uq_tag_label"),
        )

    return declare


@pytest.mark.parametrize("form", sorted(RENAME_LABEL))
def test_a_renamed_unique_not_null_column_is_one_rename(
    deploys: Deploys, database_url: str, form: str
) -> None:
    """The rename is the break; the new name's NOT NULL and unique key came with the column
    (they were reported as added, and the rename as a drop: three findings for one change)."""
    code, data = upgrade(deploys.release(tag("label"), CREATE_TAG))
    assert code == 0, data
    script = revision_script(T2, T1, RENAME_LABEL[form], 'raise RuntimeError("one way")')
    code, data = upgrade(deploys.release(tag("name"), script))

    assert code == 3, data
    (problem,) = [p for p in data["problems"] if p["check"] == "breaks-previous-release"]
    assert problem["severity"] == "error"
    assert (problem["table"], problem["column"], problem["change"], problem["renamed_to"]) == (
        "tag",
        "label",
        "column-renamed",
        "name",
    )
    assert problem["message"].startswith("tag.label: column renamed to name; the previous")
    assert problem["help"].startswith(ADVICE["column-renamed"].format(t="tag", c="label", n="name"))
    assert "release N+1 adds tag.name beside tag.label" in problem["help"]
    assert data["compat"]["findings"] == 1
    assert data["current"] == [T1] and data["applied"] == []


def test_a_release_table_another_replica_created_meanwhile_is_recorded_into(
    deploys: Deploys, database_url: str
) -> None:
    """Replicas record their release once the lock is released, at the same moment: the
    table one creates makes another's CREATE fail. The real error, on the real database:
    the other replica's table is made just before this one's CREATE runs."""
    raced: list[str] = []

    def other_replica_first(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if not raced and statement.lstrip().upper().startswith("CREATE TABLE SAFEMIGRATE_RELEASE"):
            raced.append(statement)
            engine = nullpool_engine(database_url)
            try:
                with engine.begin() as other:
                    other.exec_driver_sql(statement)
            finally:
                engine.dispose()

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", other_replica_first)
    try:
        code, data = upgrade(deploys.release(RELEASE_1, CREATE_USERS))
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", other_replica_first)

    assert raced, "the release table's CREATE never ran"
    assert code == 0, data
    assert "release-not-recorded" not in [p["check"] for p in data["problems"]]
    assert data["compat"]["recorded"] is True
    assert len(releases_of(database_url)) == 1


#: ``legacy`` made a SMALLINT: release 1's integers no longer fit.
NARROW_LEGACY = revision_script(
    V2,
    V1,
    """
    with op.batch_alter_table("users") as batch_op:
        batch_op.alter_column("legacy", existing_type=sa.Integer(), type_=sa.SmallInteger())
    """,
    'raise RuntimeError("one way")',
    message="narrow users legacy",
)
#: Its expand/contract counterpart for the release running: the column widened instead.
WIDEN_LEGACY = NARROW_LEGACY.replace("sa.SmallInteger()", "sa.BigInteger()")


def users_with_legacy(type_: sa.types.TypeEngine[int]) -> Models:
    def declare(db: SQLAlchemy) -> None:
        sa.Table(
            "users",
            db.metadata,
            sa.Column("id", sa.Integer(), primary_key=True),
            sa.Column("email", sa.String(50)),
            sa.Column("legacy", type_),
        )

    return declare


def test_an_integer_narrowed_is_blocked_by_default_and_widened_is_not(
    deploys: Deploys, database_url: str
) -> None:
    deploys.first()
    code, data = upgrade(deploys.release(users_with_legacy(sa.SmallInteger()), NARROW_LEGACY))

    assert code == 3, data
    assert data["stage"] == "preflight"
    (problem,) = [p for p in data["problems"] if p["severity"] == "error"]
    assert problem["check"] == "breaks-previous-release"
    assert (problem["table"], problem["column"], problem["change"]) == (
        "users",
        "legacy",
        "type-narrowed",
    )
    assert problem["message"].startswith(
        "users.legacy: type narrowed: integer -> smallint; the previous release (recorded "
    )
    assert problem["help"].startswith(ADVICE["type-narrowed"].format(t="users", c="legacy"))
    assert "`flask db safe-upgrade --allow-breaking`" in problem["help"]
    assert data["current"] == [V1] and data["applied"] == []
    assert len(releases_of(database_url)) == 1

    code, data = upgrade(deploys.release(users_with_legacy(sa.BigInteger()), WIDEN_LEGACY))
    assert code == 0, data
    assert [p for p in data["problems"] if p["check"] == "breaks-previous-release"] == []
    assert data["compat"]["ran"] is True and data["compat"]["findings"] == 0
    assert data["current"] == [V2]
