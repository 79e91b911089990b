"""``--since`` and ``--pending`` lint revisions that deploy together: a table an earlier
revision of that set creates holds no rows when a later one runs, as a table created earlier
in the same function (``lint/helpers/deployed_together.py``). A whole-history lint, a
creating revision on another branch or already released, and a table the set drops, renames
or fills keep the findings."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from flask import Flask

from flask_safemigrate.lint import LintConfig, engine
from flask_safemigrate.lint.command import since_revisions
from flask_safemigrate.report import Report
from tests.support.apps import MakeApp, init_migrations
from tests.support.cli import invoke, invoke_ok
from tests.support.databases import empty_sqlite
from tests.support.revisions import revision_script, write_revision

BASE, CREATE, CHANGE, SIBLING = "e0e0e0e0e0e0", "e1e1e1e1e1e1", "e2e2e2e2e2e2", "e3e3e3e3e3e3"
POSTGRES = LintConfig(dialect="postgresql")

MAKE_ORDERS = 'op.create_table("orders", sa.Column("id", sa.Integer(), primary_key=True))'
#: What the later revision does to ``orders``, with the rule each line is an error of on
#: PostgreSQL when the table may hold rows.
CHANGES = {
    "add-not-null-column-without-default": (
        'op.add_column("orders", sa.Column("total", sa.Integer(), nullable=False))'
    ),
    "create-index-not-concurrently": 'op.create_index("ix_orders_total", "orders", ["total"])',
    "add-foreign-key-validating": (
        'op.create_foreign_key("fk_orders_user", "orders", "users", ["user_id"], ["id"])'
    ),
    "add-unique-constraint": 'op.create_unique_constraint("uq_orders_total", "orders", ["total"])',
}
RULES = set(CHANGES)


def write_history(migrations: Path, create: str = MAKE_ORDERS) -> Path:
    """``BASE`` (nothing) -> ``CREATE`` (``create``: makes ``orders``) -> ``CHANGE`` (every
    line of :data:`CHANGES`); returns the versions folder."""
    write_revision(migrations, revision_script(BASE, None, message="start"))
    write_revision(migrations, revision_script(CREATE, BASE, create, message="create orders"))
    changes = "\n".join(CHANGES.values())
    write_revision(migrations, revision_script(CHANGE, CREATE, changes, message="change orders"))
    return migrations / "versions"


@pytest.fixture
def versions(tmp_path: Path) -> Path:
    return write_history(tmp_path / "migrations")


def errors(report: Report, revision: str = CHANGE) -> set[str]:
    """The rules of :data:`RULES` reported on ``revision``'s script."""
    return {
        f.rule
        for f in report.findings
        if f.rule in RULES and f.path is not None and revision in f.path
    }


def lint(versions: Path, since: str | None, cache: Path | None = None) -> Report:
    only = since_revisions([versions], since, with_app=False) if since is not None else None
    return engine.lint([versions], POSTGRES, only_revisions=only, cache_dir=cache)


def test_a_table_created_earlier_in_the_set_is_new(versions: Path) -> None:
    assert errors(lint(versions, None)) == RULES  # the whole history: judged alone
    assert errors(lint(versions, BASE)) == set()  # CREATE and CHANGE deploy together
    assert errors(lint(versions, CREATE)) == RULES  # CREATE is out: released before
    # Safe-upgrade's pre-flight judges such tables itself (upgrade/fresh_tables.py).
    only = {CREATE, CHANGE}
    assert errors(engine.lint([versions], POSTGRES, only_revisions=only)) == set()
    kept = engine.lint([versions], POSTGRES, only_revisions=only, deployed_together=False)
    assert errors(kept) == RULES


def test_since_a_git_ref(versions: Path, tmp_path: Path) -> None:
    """``--since origin/main``: the branch adds both revisions, or only the later one."""

    def git(*args: str) -> None:
        subprocess.run(
            ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t", *args],
            check=True,
            capture_output=True,
        )

    git("init", "-q")
    (base,) = versions.glob(f"{BASE}*.py")
    (create,) = versions.glob(f"{CREATE}*.py")
    git("add", "--", str(base))
    git("commit", "-qm", "base")
    git("tag", "v1")
    git("add", "--", str(create))
    git("commit", "-qm", "create")
    git("tag", "v2")
    assert errors(lint(versions, "v1")) == set()
    assert errors(lint(versions, "v2")) == RULES


def test_a_sibling_branch_is_no_ancestor(tmp_path: Path) -> None:
    """``SIBLING`` branches from ``BASE`` beside ``CREATE``: it may run first."""
    versions = write_history(tmp_path / "migrations")
    changes = "\n".join(CHANGES.values())
    write_revision(tmp_path / "migrations", revision_script(SIBLING, BASE, changes, labels=["b"]))
    report = lint(versions, BASE)
    assert errors(report, CHANGE) == set()
    assert errors(report, SIBLING) == RULES


def test_depends_on_runs_before(tmp_path: Path) -> None:
    """``SIBLING`` branches from ``BASE`` but depends on ``CREATE``: Alembic runs it after."""
    versions = write_history(tmp_path / "migrations")
    changes = "\n".join(CHANGES.values())
    script = revision_script(SIBLING, BASE, changes, labels=["b"])
    script = script.replace("depends_on = None", f'depends_on = "{CREATE}"')
    write_revision(tmp_path / "migrations", script)
    assert errors(lint(versions, BASE), SIBLING) == set()


@pytest.mark.parametrize(
    "create",
    [
        pytest.param(f'{MAKE_ORDERS}\nop.drop_table("orders")\n{MAKE_ORDERS}', id="re-created"),
        pytest.param(
            'op.create_table("draft", sa.Column("id", sa.Integer(), primary_key=True))\n'
            'op.rename_table("draft", "orders")',
            id="renamed-in",
        ),
        pytest.param(
            f'{MAKE_ORDERS}\nop.bulk_insert(sa.table("orders", sa.column("id")), [{{"id": 1}}])',
            id="filled",
        ),
        pytest.param(
            f"orders = {MAKE_ORDERS}\nop.bulk_insert(orders, [{{'id': 1}}])",
            id="filled-through-create-table",
        ),
        pytest.param(
            f'{MAKE_ORDERS}\nop.execute("INSERT INTO orders (id) SELECT id FROM old_orders")',
            id="filled-by-sql",
        ),
        pytest.param(
            'op.execute("CREATE TABLE orders AS SELECT id FROM old_orders")',
            id="created-as-select",
        ),
        pytest.param('op.create_table(name, sa.Column("id", sa.Integer()))', id="expression"),
        pytest.param(
            f"{MAKE_ORDERS}\n"
            "session = sa.orm.Session(bind=op.get_bind())\n"
            "session.add(Order(id=1))",
            id="filled-by-orm",
        ),
        pytest.param(
            f"{MAKE_ORDERS}\nop.execute(Order.__table__.insert().values(id=1))", id="filled-by-core"
        ),
        pytest.param(
            f'{MAKE_ORDERS}\nop.execute(f"INSERT INTO {{name}} (id) VALUES (1)")',
            id="filled-by-formatted-sql",
        ),
        pytest.param(
            f'{MAKE_ORDERS}\nop.execute("DROP TABLE orders")\n{MAKE_ORDERS}',
            id="dropped-by-sql",
        ),
    ],
)
def test_when_unsure_the_finding_stays(tmp_path: Path, create: str) -> None:
    versions = write_history(tmp_path / "migrations", create)
    assert errors(lint(versions, BASE)) == RULES


def history_with(tmp_path: Path, before: str, after: str) -> Path:
    """``BASE`` -> ``before`` -> ``CREATE`` (makes ``orders``) -> ``after`` -> ``CHANGE``."""
    migrations = tmp_path / "migrations"
    early, late = "e4e4e4e4e4e4", "e5e5e5e5e5e5"
    write_revision(migrations, revision_script(BASE, None, message="start"))
    write_revision(migrations, revision_script(early, BASE, before, message="before"))
    write_revision(migrations, revision_script(CREATE, early, MAKE_ORDERS, message="create"))
    write_revision(migrations, revision_script(late, CREATE, after, message="after"))
    changes = "\n".join(CHANGES.values())
    write_revision(migrations, revision_script(CHANGE, late, changes, message="change"))
    return migrations / "versions"


SESSION = "session = sa.orm.Session(bind=op.get_bind())\nsession.add(Thing(id=1))"


def test_writes_before_the_table_exists_or_into_other_tables_leave_it_new(
    tmp_path: Path,
) -> None:
    """A session before the creator cannot fill ``orders``; after it, an insert into a table
    the script names, a SQL ``INSERT`` into another table and a set's ``add`` do not."""
    after = (
        'op.bulk_insert(sa.table("colors", sa.column("id")), [{"id": 1}])\n'
        'op.execute("INSERT INTO sizes (id) VALUES (1)")\n'
        "seen = set()\nseen.add(1)"
    )
    assert errors(lint(history_with(tmp_path, SESSION, after), BASE)) == set()


def test_a_session_after_the_table_exists_keeps_the_findings(tmp_path: Path) -> None:
    assert errors(lint(history_with(tmp_path, "pass", SESSION), BASE)) == RULES


def test_words_in_a_docstring_or_comment_write_nothing(tmp_path: Path) -> None:
    migrations = tmp_path / "migrations"
    write_revision(migrations, revision_script(BASE, None, message="start"))
    create = f"# insert into orders later\n{MAKE_ORDERS}"
    message = "Create orders; copy rows into it later"
    write_revision(migrations, revision_script(CREATE, BASE, create, message=message))
    changes = "\n".join(CHANGES.values())
    write_revision(migrations, revision_script(CHANGE, CREATE, changes, message="change"))
    assert errors(lint(migrations / "versions", BASE)) == set()


def test_a_table_created_by_sql_or_a_helper_is_new(tmp_path: Path) -> None:
    create = 'op.execute("CREATE TABLE orders (id integer primary key)")'
    assert errors(lint(write_history(tmp_path / "sql", create), BASE)) == set()
    helper = "create_table(\"orders\", sa.Column('id', sa.Integer(), primary_key=True))"
    assert errors(lint(write_history(tmp_path / "helper", helper), BASE)) == set()


def test_an_ignore_the_set_makes_unused_is_reported(tmp_path: Path) -> None:
    """A finding the fact takes away can leave its ignore comment with nothing to silence."""
    migrations = tmp_path / "migrations"
    write_revision(migrations, revision_script(BASE, None, message="start"))
    write_revision(migrations, revision_script(CREATE, BASE, MAKE_ORDERS, message="create"))
    line = CHANGES["add-not-null-column-without-default"]
    silenced = f"{line}  # safemigrate: ignore[add-not-null-column-without-default]"
    write_revision(migrations, revision_script(CHANGE, CREATE, silenced, message="change"))
    config = LintConfig(dialect="postgresql", report_unused_ignores=True)
    only = since_revisions([migrations / "versions"], BASE, with_app=False)
    alone = engine.lint([migrations / "versions"], config, only_revisions={CHANGE})
    together = engine.lint([migrations / "versions"], config, only_revisions=only)
    assert alone.facts["silenced"] == 1
    assert "unused-ignore" not in {f.rule for f in alone.findings}
    assert together.facts["silenced"] == 0
    assert "unused-ignore" in {f.rule for f in together.findings}


def test_the_cache_answers_as_a_fresh_run_when_the_set_changes(
    versions: Path, tmp_path: Path
) -> None:
    """The cache keeps each script judged alone; the set's fact is applied after it, so
    one cache serves every set and a whole-history run with the right answer each time."""
    cache = tmp_path / "instance"
    for since in (BASE, CREATE, None, BASE, None, CREATE):
        fresh = lint(versions, since)
        cached = lint(versions, since, cache)
        assert cached.to_dict() == fresh.to_dict(), since
        assert errors(cached) == (set() if since == BASE else RULES), since


# ------------------------------------------------------------------ flask db lint --pending


@pytest.fixture
def app(make_app: MakeApp, tmp_path: Path) -> Flask:
    app = make_app(empty_sqlite(tmp_path / "app.db"))
    directory = init_migrations(app)
    write_history(directory)
    return app


def pending_rules(app: Flask, *options: str) -> set[str]:
    result = invoke(app, "db", "lint", *options, "--format", "json")
    return {
        f["rule"]
        for f in json.loads(result.stdout)["findings"]
        if f["rule"] in RULES and CHANGE in f["path"]
    }


def test_pending_on_sqlite(app: Flask) -> None:
    """On SQLite, of :data:`CHANGES` only the NOT NULL column is an error (the others are
    PostgreSQL's)."""
    not_null = {"add-not-null-column-without-default"}
    assert pending_rules(app) == not_null  # the whole history
    assert pending_rules(app, "--pending") == set()  # CREATE and CHANGE are the next upgrade
    assert pending_rules(app, "--since", BASE) == set()
    invoke_ok(app, "db", "upgrade", CREATE)
    assert pending_rules(app, "--pending") == not_null  # orders exists: it may hold rows
    assert pending_rules(app, "--pending", "--no-cache") == not_null


RENAME = "e6e6e6e6e6e6"
MAKE_DRAFT = 'op.create_table("draft", sa.Column("id", sa.Integer(), primary_key=True))'


def renamed_history(tmp_path: Path, rename: str, downgrade: str = "pass") -> Path:
    """``BASE`` (makes ``draft``) -> ``CREATE`` (makes ``draft`` when ``BASE`` did not) ->
    ``RENAME`` (``rename``: ``draft`` to ``orders``) -> ``CHANGE``."""
    migrations = tmp_path / "migrations"
    write_revision(migrations, revision_script(BASE, None, message="start"))
    write_revision(migrations, revision_script(CREATE, BASE, MAKE_DRAFT, message="draft"))
    script = revision_script(RENAME, CREATE, rename, downgrade, message="rename")
    write_revision(migrations, script)
    changes = "\n".join(CHANGES.values())
    write_revision(migrations, revision_script(CHANGE, RENAME, changes, message="change"))
    return migrations / "versions"


@pytest.mark.parametrize(
    ("rename", "downgrade"),
    [
        pytest.param('op.rename_table("draft", "orders")', "pass", id="op"),
        pytest.param(
            'op.execute("ALTER TABLE draft RENAME TO orders")',
            'op.execute("ALTER TABLE orders RENAME TO draft")\n'
            'op.execute("INSERT INTO orders (id) SELECT id FROM draft")',
            id="sql",
        ),
        pytest.param('op.execute("RENAME TABLE draft TO orders")', "pass", id="mysql-sql"),
    ],
)
def test_a_new_table_renamed_in_the_set_is_new_under_its_new_name(
    tmp_path: Path, rename: str, downgrade: str
) -> None:
    """The rename of a table the set created keeps it new; ``downgrade()``, which an upgrade
    never runs, writes nothing (its SQL used to make every table it names unsure)."""
    versions = renamed_history(tmp_path, rename, downgrade)
    assert errors(lint(versions, BASE)) == set()
    assert errors(lint(versions, CREATE)) == RULES  # draft was released: it may hold rows
    assert errors(lint(versions, None)) == RULES


def test_a_rename_then_a_fill_keeps_the_findings(tmp_path: Path) -> None:
    rename = (
        'op.rename_table("draft", "orders")\n'
        'op.execute("INSERT INTO orders (id) SELECT id FROM old_orders")'
    )
    assert errors(lint(renamed_history(tmp_path / "fill", rename), BASE)) == RULES
    # A fill of the old name before the rename: the new name has its rows.
    before = (
        'op.bulk_insert(sa.table("draft", sa.column("id")), [{"id": 1}])\n'
        'op.rename_table("draft", "orders")'
    )
    assert errors(lint(renamed_history(tmp_path / "before", before), BASE)) == RULES
    # The same rename of a table released earlier: its rows come along.
    assert errors(lint(renamed_history(tmp_path / "old", rename), CREATE)) == RULES
