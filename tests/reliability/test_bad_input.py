"""The bad-input catalogue: every way a project, a database or a config can be wrong.

Each case breaks one thing in a deployed project (see :mod:`tests.reliability.bad_inputs`) and
runs the real CLI on it, mostly ``flask db safe-upgrade`` and, where the input concerns them
too, ``verify``, ``lint`` and ``auto-merge-heads``. For every run it asserts:

- the exit code the README gives that failure;
- no ``Traceback`` anywhere in the output, and no password;
- exactly one error line (``Error: ...`` or ``error[check]: ...``), matching the case's regex,
  which names the problem (the file, the revision, the key); only its indented ``where:`` /
  ``help:`` lines follow it;
- the real database unchanged (every table's columns and rows), or changed exactly as the
  case allows (a failed revision's ledger row; a successful upgrade);
- every file under the test's folder byte-identical (the migrations directory included): no
  ``*.partial``, no half-written script, nothing new.

Cases are parametrized over the databases they concern: whatever reads or writes the
database (its revision, its version table, logins, failing and succeeding revisions) over all
three; server logins over PostgreSQL and MariaDB; SQLite files over SQLite; the role without
DDL rights over PostgreSQL. What is refused before any connection is opened (a broken history,
bad options, every ``SAFEMIGRATE_*`` key, which is validated first) runs on SQLite only: no
database can change its outcome. Two tests run a real ``flask`` process, to show that nothing
reaches stderr but the one line.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import traceback
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.engine import make_url

from flask_safemigrate import SafeMigrate
from flask_safemigrate.settings import SPECS
from tests.reliability import bad_inputs as bi
from tests.reliability.bad_inputs import (
    A1,
    A1_FILE,
    B2,
    B2_FILE,
    PASSWORD,
    Case,
    Env,
    Run,
    safe_upgrade,
)
from tests.support.apps import MakeApp, dispose_app, init_migrations
from tests.support.cli import invoke, run_flask
from tests.support.databases import DB_KINDS, DbKind, execute
from tests.upgrade.histories import REVISIONS, TABLES, ledger_rows, models, revision_source

SERVERS: tuple[DbKind, ...] = ("postgresql", "mysql")
ALL_COMMANDS = (
    ("db", "safe-upgrade"),
    ("db", "verify"),
    ("db", "lint"),
    ("db", "auto-merge-heads"),
    ("db", "snapshot"),
    ("db", "graph"),
)

# --------------------------------------------------------------------------- setups


def no_migrations_directory(env: Env) -> None:
    shutil.rmtree(env.migrations)


def no_versions_directory(env: Env) -> None:
    shutil.rmtree(env.versions)


def empty_versions_folder(env: Env) -> None:
    for path in env.versions.iterdir():
        path.unlink()


def broken_alembic_ini(env: Env) -> None:
    (env.migrations / "alembic.ini").write_text("[alembic\nscript_location = .\n", "utf-8")


def broken_pyproject(env: Env) -> None:
    (env.tmp / "pyproject.toml").write_text("[tool.safemigrate\nlint = 1\n", "utf-8")


def invalid_pyproject_value(env: Env) -> None:
    (env.tmp / "pyproject.toml").write_text('[tool.safemigrate.lint]\nfail-on = "fatal"\n', "utf-8")


def syntax_error(env: Env) -> None:
    bi.replace_in(env.versions / B2_FILE, "def upgrade():", "def upgrade(:")


def non_utf8_script(env: Env) -> None:
    """Latin-1 in the docstring: neither Python nor Alembic can load it."""
    source = bi.b2_source().replace("create the gadgets table", "cr\xe9er la table gadgets")
    bi.write_script(env, B2_FILE, source.encode("latin-1"))


def non_utf8_comment(env: Env) -> None:
    """Latin-1 in a comment only: ``compile()`` (how Alembic imports scripts) accepts it."""
    source = bi.b2_source().replace("import sqlalchemy", "# caf\xe9 cr\xe8me\nimport sqlalchemy")
    bi.write_script(env, B2_FILE, source.encode("latin-1"))


def null_byte_script(env: Env) -> None:
    source = bi.b2_source().encode("utf-8").replace(b"import sqlalchemy", b"\x00import sqlalchemy")
    bi.write_script(env, B2_FILE, source)


def empty_script(env: Env) -> None:
    bi.write_script(env, B2_FILE, b"")


def script_without_revision(env: Env) -> None:
    bi.replace_in(env.versions / B2_FILE, f"revision = {B2!r}", "rev = 'x'")


def non_literal_revision(env: Env) -> None:
    bi.replace_in(env.versions / B2_FILE, f"revision = {B2!r}", "revision = make_id()")


def duplicate_revision(env: Env) -> None:
    shutil.copyfile(env.versions / B2_FILE, env.versions / "zz_copy_of_b2.py")


def cycle(env: Env) -> None:
    bi.replace_in(env.versions / A1_FILE, "down_revision = None", f"down_revision = {B2!r}")


def missing_parent(env: Env) -> None:
    bi.replace_in(
        env.versions / B2_FILE, f"down_revision = {A1!r}", "down_revision = '0000deadbeef'"
    )


def two_heads(env: Env) -> None:
    other = bi.b2_source().replace(B2, "b9999999oth2").replace("gadgets", "tools")
    bi.write_script(env, "b9999999oth2_test.py", other)


def unknown_database_revision(env: Env) -> None:
    execute(env.url, "UPDATE alembic_version SET version_num = 'abcdef123456'")


def two_version_rows(env: Env) -> None:
    execute(env.url, f"INSERT INTO alembic_version (version_num) VALUES ('{B2}')")


def version_table_without_version_num(env: Env) -> None:
    execute(
        env.url,
        "DROP TABLE alembic_version",
        "CREATE TABLE alembic_version (revision VARCHAR(32) NOT NULL PRIMARY KEY)",
        f"INSERT INTO alembic_version (revision) VALUES ('{A1}')",
    )


def version_num_integer(env: Env) -> None:
    execute(
        env.url,
        "DROP TABLE alembic_version",
        "CREATE TABLE alembic_version (version_num INTEGER NOT NULL PRIMARY KEY)",
        "INSERT INTO alembic_version (version_num) VALUES (1)",
    )


def version_table_extra_required_column(env: Env) -> None:
    """A version table someone "extended": alembic's INSERT for a fresh branch cannot fill it."""
    execute(
        env.url,
        "DELETE FROM alembic_version",
        "ALTER TABLE alembic_version ADD COLUMN deployed_by VARCHAR(20) NOT NULL",
    )
    env.tables = TABLES[:1]


def unreachable_host(env: Env) -> None:
    if env.kind == "sqlite":
        env.app_url = f"sqlite:///{env.tmp}/no/such/dir/app.db"
    else:
        env.app_url = (
            make_url(env.url)
            .set(host="127.0.0.1", port=1, password=PASSWORD)
            .render_as_string(hide_password=False)
        )
    env.config.update(SAFEMIGRATE_CONNECT_TIMEOUT=1, SAFEMIGRATE_CONNECT_RETRIES=0)


def wrong_password(env: Env) -> None:
    url = make_url(env.url)
    if env.kind == "postgresql":
        # The server trusts 127.0.0.1, so a wrong password alone is accepted: a login that
        # does not exist is what PostgreSQL refuses here.
        url = url.set(username="sm_no_such_login", password=PASSWORD)
    else:
        url = url.set(password=PASSWORD)  # root has no password: any password is wrong
    env.app_url = url.render_as_string(hide_password=False)
    env.config.update(SAFEMIGRATE_CONNECT_TIMEOUT=2, SAFEMIGRATE_CONNECT_RETRIES=0)


def database_does_not_exist(env: Env) -> None:
    url = make_url(env.url).set(database="sm_no_such_database")
    if env.kind == "postgresql":
        url = url.set(password=PASSWORD)  # trusted, so ignored; it must still stay hidden
    env.app_url = url.render_as_string(hide_password=False)
    env.config.update(SAFEMIGRATE_CONNECT_TIMEOUT=2, SAFEMIGRATE_CONNECT_RETRIES=0)


def not_a_database_file(env: Env) -> None:
    path = env.tmp / "garbage.db"
    path.write_bytes(b"this is not a SQLite database\n" * 200)
    env.app_url = f"sqlite:///{path}"


def no_ddl_rights(env: Env) -> None:
    env.app_url = bi.postgres_role_without_ddl(env)


def no_ddl_rights_without_ledger(env: Env) -> None:
    env.app_url = bi.postgres_role_without_ddl(env)
    env.config["SAFEMIGRATE_LEDGER"] = False


def read_only_sqlite(env: Env) -> None:
    env.app_url = bi.sqlite_read_only_url(env)


def locked_sqlite(env: Env) -> None:
    database = make_url(env.url).database
    assert database
    env.during.append(lambda: bi.sqlite_exclusive_lock(Path(database)))
    env.config.update(
        SAFEMIGRATE_CONNECT_TIMEOUT=1,
        SAFEMIGRATE_CONNECT_RETRIES=0,
        SAFEMIGRATE_LOCK_WAIT=1,
        SAFEMIGRATE_LOCK_TIMEOUT=1,
        SAFEMIGRATE_LOCK_RETRIES=0,
    )


def script_raises(env: Env) -> None:
    source = bi.b2_source().replace(
        "def upgrade():\n", "def upgrade():\n    raise RuntimeError('the gadgets are not ready')\n"
    )
    bi.write_script(env, B2_FILE, source)


def script_raises_on_import(env: Env) -> None:
    source = bi.b2_source().replace(
        "from alembic import op", "from alembic import op\nimport sm_no_such_module"
    )
    bi.write_script(env, B2_FILE, source)


def script_raises_while_loading(env: Env) -> None:
    """Its module body raises: only loading it tells (pre-flight reads scripts, never runs them)."""
    source = bi.b2_source().replace(
        "from alembic import op", "from alembic import op\nraise RuntimeError('sm-load')"
    )
    bi.write_script(env, B2_FILE, source)


def empty_upgrade(env: Env) -> None:
    source = bi.b2_source()
    start = source.index("def upgrade():")
    end = source.index("def downgrade():")
    bi.write_script(env, B2_FILE, source[:start] + "def upgrade():\n    pass\n\n\n" + source[end:])
    env.tables = TABLES[:1]


def huge_script(env: Env) -> None:
    """About 3 MB: a long comment block and a big literal list the upgrade never uses."""
    filler = "".join(f"# filler line {i:07d} " + "x" * 60 + "\n" for i in range(25_000))
    data = "SIZES = [\n" + "".join(f"    {i},\n" for i in range(150_000)) + "]\n"
    source = bi.b2_source().replace("def upgrade():", filler + data + "\n\ndef upgrade():")
    path = bi.write_script(env, B2_FILE, source)
    assert path.stat().st_size > 3_000_000


# --------------------------------------------------------------------------- the catalogue

#: The start of the error line for a script that cannot be read.
UNREADABLE = rf"^error\[unparseable-script\]: Migration script \S*{B2_FILE}"
#: Cases refused before any database connection is opened: the database cannot matter.
STATIC: tuple[DbKind, ...] = ("sqlite",)

CASES: list[Case] = [
    Case(
        "no-migrations-directory",
        no_migrations_directory,
        tuple(
            Run(args, 2, r"^Error: no migrations directory at \S*migrations")
            for args in ALL_COMMANDS
        ),
        kinds=STATIC,
    ),
    Case(
        "no-versions-directory",
        no_versions_directory,
        (safe_upgrade(3, rf"^error\[unknown-database-revision\]: .*{A1}"),),
    ),
    Case(
        "empty-versions-folder",
        empty_versions_folder,
        (safe_upgrade(3, rf"^error\[unknown-database-revision\]: .*{A1}"),),
    ),
    Case(
        "broken-alembic-ini",
        broken_alembic_ini,
        (
            safe_upgrade(2, r"^Error: cannot read \S*alembic\.ini"),
            Run(("db", "verify"), 2, r"^Error: cannot read \S*alembic\.ini"),
        ),
        kinds=STATIC,
    ),
    Case(
        "broken-pyproject-toml",
        broken_pyproject,
        (
            safe_upgrade(2, r"^Error: cannot read \S*pyproject\.toml"),
            Run(("db", "lint"), 2, r"^Error: cannot read \S*pyproject\.toml"),
        ),
        kinds=STATIC,
    ),
    Case(
        "invalid-pyproject-lint-value",
        invalid_pyproject_value,
        (
            safe_upgrade(2, r"^Error: .*fail-on.*fatal"),
            Run(("db", "lint"), 2, r"^Error: .*fail-on.*fatal"),
        ),
        kinds=STATIC,
    ),
    Case(
        "syntax-error-in-a-script",
        syntax_error,
        (
            safe_upgrade(
                3,
                UNREADABLE + r", line \d+ cannot be read: not valid Python",
            ),
            Run(("db", "verify", "--no-db"), 1, rf"^error\[unparseable-script\]: .*{B2_FILE}"),
            Run(("db", "lint"), 1, rf"{B2_FILE}"),
        ),
        kinds=STATIC,
    ),
    Case(
        "non-utf8-script",
        non_utf8_script,
        (
            safe_upgrade(
                3,
                UNREADABLE + r".*cannot be read: .*utf-8",
            ),
            Run(("db", "lint"), 1, rf"{B2_FILE}.*utf-8"),
        ),
        kinds=STATIC,
    ),
    Case(
        "non-utf8-comment-in-a-script",
        non_utf8_comment,
        (safe_upgrade(0, rf"^Applied 1 revision in .*; database at {B2}\.$"),),
        change="upgraded",
    ),
    Case(
        "null-byte-in-a-script",
        null_byte_script,
        (safe_upgrade(3, rf"^error\[unparseable-script\]: Migration script \S*{B2_FILE}.*null"),),
        kinds=STATIC,
    ),
    Case(
        "empty-script-file",
        empty_script,
        (
            safe_upgrade(
                3,
                UNREADABLE + " cannot be read: the file is empty",
            ),
        ),
        kinds=STATIC,
    ),
    Case(
        "script-without-revision",
        script_without_revision,
        (
            safe_upgrade(
                3, rf"^error\[unparseable-script\]: .*{B2_FILE}.*no module-level `revision"
            ),
        ),
        kinds=STATIC,
    ),
    Case(
        "non-literal-revision",
        non_literal_revision,
        (
            safe_upgrade(
                3, rf"^error\[unparseable-script\]: .*{B2_FILE}.*`revision` is not a literal"
            ),
        ),
        kinds=STATIC,
    ),
    Case(
        "duplicate-revision-ids",
        duplicate_revision,
        (
            safe_upgrade(3, rf"^error\[duplicate-revision\]: .*{B2}"),
            Run(("db", "verify", "--no-db"), 1, rf"^error\[duplicate-revision\]: .*{B2}"),
        ),
        kinds=STATIC,
    ),
    Case(
        "revision-cycle",
        cycle,
        (
            safe_upgrade(3, rf"^error\[revision-cycle\]: .*({A1}.*{B2}|{B2}.*{A1})"),
            Run(("db", "verify", "--no-db"), 1, r"^error\[revision-cycle\]: "),
        ),
        kinds=STATIC,
    ),
    Case(
        "missing-parent",
        missing_parent,
        (safe_upgrade(3, r"^error\[missing-parent\]: .*0000deadbeef"),),
        kinds=STATIC,
    ),
    Case(
        "two-heads",
        two_heads,
        (
            safe_upgrade(
                3,
                rf"^error\[multiple-heads\]: .*({B2}.*b9999999oth2|b9999999oth2.*{B2})",
                help="auto-merge-heads",
            ),
            Run(("db", "verify", "--no-db"), 1, r"^error\[multiple-heads\]: "),
        ),
        kinds=STATIC,
    ),
    Case(
        "unknown-target-revision",
        bi.nothing,
        (safe_upgrade(2, r"^Error: cannot upgrade to 'ffffffffffff'", "ffffffffffff"),),
        kinds=STATIC,
    ),
    Case(
        "sql-with-dry-run",
        bi.nothing,
        (safe_upgrade(2, r"^Error: --sql and --dry-run do not go together", "--sql", "--dry-run"),),
        kinds=STATIC,
    ),
    Case(
        "resolved-without-a-failure",
        bi.nothing,
        (
            safe_upgrade(
                2,
                rf"^Error: --resolved {B2}: the ledger has no failure of that revision",
                "--resolved",
                B2,
            ),
        ),
    ),
    Case(
        "unknown-option",
        bi.nothing,
        (
            safe_upgrade(2, r"^Error: No such option '--no-such-flag'", "--no-such-flag"),
            Run(("db", "verify", "--no-such-flag"), 2, r"^Error: No such option '--no-such-flag'"),
            Run(("db", "lint", "--no-such-flag"), 2, r"^Error: No such option '--no-such-flag'"),
        ),
        kinds=STATIC,
    ),
    Case(
        "lint-bad-arguments",
        bi.nothing,
        (
            Run(("db", "lint", "no/such/file.py"), 2, r"no/such/file\.py"),
            Run(("db", "lint", "--select", "no-such-rule"), 2, r"no-such-rule"),
            Run(("db", "lint", "--since", "ffffffffffff"), 2, r"^Error: --since ffffffffffff"),
            Run(("db", "lint", "--explain", "no-such-rule"), 2, r"^Error: unknown lint rule"),
        ),
        kinds=STATIC,
    ),
    Case(
        "verify-scratch-url-without-roundtrip",
        bi.nothing,
        (
            Run(
                ("db", "verify", "--scratch-url", "sqlite://"),
                2,
                r"^Error: --scratch-url needs --roundtrip or --compat-with$",
            ),
        ),
        kinds=STATIC,
    ),
    Case(
        "verify-compat-with-an-unknown-ref",
        bi.nothing,
        (
            Run(
                ("db", "verify", "--no-db", "--compat-with", "no-such-release"),
                2,
                r"^Error: --compat-with no-such-release: not a file, and git cannot read it: ",
            ),
        ),
        kinds=STATIC,
    ),
    Case(
        "auto-merge-heads-on-a-cycle",
        cycle,
        (
            Run(
                ("db", "auto-merge-heads"),
                3,
                r"^Error: the revision history is broken, nothing was merged: Revisions"
                rf" {A1}, {B2} form a cycle",
            ),
        ),
        kinds=STATIC,
    ),
    Case(
        "bad-format-value",
        bi.nothing,
        (safe_upgrade(2, r"^Error: Invalid value for '--format': 'yaml'", "--format", "yaml"),),
        kinds=STATIC,
    ),
    Case(
        "unknown-database-revision",
        unknown_database_revision,
        (
            safe_upgrade(3, r"^error\[unknown-database-revision\]: .*abcdef123456"),
            Run(("db", "verify"), 1, r"^error\[unknown-database-revision\]: .*abcdef123456"),
        ),
    ),
    Case(
        "two-rows-in-the-version-table",
        two_version_rows,
        (
            safe_upgrade(
                3,
                rf"^error\[overlapping-database-revisions\]: The version table alembic_version"
                rf" of .* holds {A1}, {B2}, but {A1} is an ancestor",
            ),
        ),
    ),
    Case(
        "version-table-without-version-num",
        version_table_without_version_num,
        (safe_upgrade(3, r"^error\[preflight-failed\]: .*version_num"),),
    ),
    Case(
        "version-num-is-an-integer",
        version_num_integer,
        (safe_upgrade(3, r"^error\[unknown-database-revision\]: .*'?1'?"),),
    ),
    Case(
        "version-table-with-an-extra-required-column",
        version_table_extra_required_column,
        (safe_upgrade(4, rf"^error\[migration-failed\]: Revision {A1} .*deployed_by"),),
        change="failure-row",
        failed=A1,
    ),
    Case(
        "unreachable-host",
        unreachable_host,
        (
            safe_upgrade(3, r"^error\[database-unreachable\]: cannot connect to "),
            Run(
                ("db", "verify"),
                3,
                r"^error\[database-unreachable\]: Database \S+ could not be reached: ",
            ),
        ),
    ),
    Case(
        "wrong-password",
        wrong_password,
        (
            safe_upgrade(
                3, r"^error\[database-unreachable\]: cannot connect to .*(denied|does not exist)"
            ),
        ),
        kinds=SERVERS,
    ),
    Case(
        "database-does-not-exist",
        database_does_not_exist,
        (
            safe_upgrade(
                3,
                r"^error\[database-unreachable\]: cannot connect to \S*/sm_no_such_database\S*:"
                r" .*(database \"sm_no_such_database\" does not exist|Unknown database"
                r" 'sm_no_such_database')",
            ),
        ),
        kinds=SERVERS,
    ),
    Case(
        "not-a-sqlite-database",
        not_a_database_file,
        (safe_upgrade(3, r"^error\[[a-z-]+\]: .*garbage\.db.*not a database"),),
        kinds=("sqlite",),
    ),
    # safe-upgrade creates its ledger before the first revision: a login that may not
    # create tables fails there, before anything changed (exit 3, like a pre-flight).
    Case(
        "user-without-ddl-rights",
        no_ddl_rights,
        (
            safe_upgrade(
                3,
                r"^error\[upgrade-failed\]: writing to postgresql\S*sm_noddl_\S* failed in stage"
                r" upgrade: InsufficientPrivilege: permission denied for schema public$",
                help=r"privileges",
            ),
        ),
        kinds=("postgresql",),
    ),
    # Without the ledger the first CREATE TABLE of the revision is refused: exit 4, rolled back.
    Case(
        "user-without-ddl-rights-and-no-ledger",
        no_ddl_rights_without_ledger,
        (
            safe_upgrade(
                4,
                rf"^error\[migration-failed\]: Revision {B2} .* failed on postgresql\S*sm_noddl_"
                r"\S*: InsufficientPrivilege: permission denied for schema public\. The database"
                rf" is now at {A1}\.",
            ),
        ),
        kinds=("postgresql",),
    ),
    Case(
        "read-only-sqlite-file",
        read_only_sqlite,
        (
            safe_upgrade(
                3,
                r"^error\[upgrade-failed\]: writing to sqlite\S*test\.db\S* failed in stage"
                r" upgrade: OperationalError: attempt to write a readonly database$",
            ),
        ),
        kinds=("sqlite",),
    ),
    Case(
        "locked-sqlite-database",
        locked_sqlite,
        (
            safe_upgrade(
                3,
                r"^error\[preflight-failed\]: reading sqlite\S*test\.db failed in stage preflight:"
                r" OperationalError: database is locked$",
                help=(
                    r"another connection holds a lock.*"
                    r'app\.config\["SAFEMIGRATE_CONNECT_TIMEOUT"\]'
                ),
            ),
        ),
        kinds=("sqlite",),
    ),
    Case(
        "a-script-that-raises",
        script_raises,
        (
            safe_upgrade(
                4, rf"^error\[migration-failed\]: Revision {B2} .*the gadgets are not ready"
            ),
        ),
        change="failure-row",
    ),
    Case(
        "a-script-that-fails-to-import",
        script_raises_on_import,
        (
            safe_upgrade(
                3, rf"^error\[script-import-missing\]: revision {B2} .*imports sm_no_such_module"
            ),
        ),
        change="none",  # found at pre-flight: no lock, no backup, nothing written
    ),
    Case(
        "a-script-that-raises-while-loading",
        script_raises_while_loading,
        (
            safe_upgrade(
                4, rf"^error\[migration-failed\]: Alembic stopped before revision {B2}.*sm-load"
            ),
        ),
        change="no-row",  # Alembic loads every script first: b2 never began (issue #13 item 11)
    ),
    Case(
        "a-script-with-an-empty-upgrade",
        empty_upgrade,
        (safe_upgrade(0, rf"^Applied 1 revision in .*; database at {B2}\.$"),),
        change="upgraded",
    ),
    Case(
        "a-script-of-several-megabytes",
        huge_script,
        (
            Run(("db", "lint"), 0, r"."),
            safe_upgrade(0, rf"^Applied 1 revision in .*; database at {B2}\.$"),
        ),
        change="upgraded",
        kinds=("sqlite",),  # size is a matter of reading files, not of the database
    ),
]

# --------------------------------------------------------------------------- configuration

#: One value per key that its parser must refuse.
INVALID_VALUES: dict[str, Any] = {
    "SAFEMIGRATE_CONNECT_TIMEOUT": "soon",
    "SAFEMIGRATE_CONNECT_RETRIES": 1.5,
    "SAFEMIGRATE_LOCK_WAIT": -1,
    "SAFEMIGRATE_LOCK_TIMEOUT": float("nan"),
    "SAFEMIGRATE_STATEMENT_TIMEOUT": "ten seconds",
    "SAFEMIGRATE_LOCK_RETRIES": True,
    "SAFEMIGRATE_LOCK_RETRY_PAUSE": "a while",
    "SAFEMIGRATE_BACKUP": "sometimes",
    "SAFEMIGRATE_BACKUP_DIR": "   ",
    "SAFEMIGRATE_BACKUP_TIMEOUT": "an hour",
    "SAFEMIGRATE_BACKUP_KEEP": -1,
    "SAFEMIGRATE_HEARTBEAT": "often",
    "SAFEMIGRATE_LARGE_TABLE_ROWS": "many",
    "SAFEMIGRATE_MAX_BLOCKER_AGE": -5,
    "SAFEMIGRATE_LEDGER": 2,
    "SAFEMIGRATE_COMPAT": "sometimes",
    "SAFEMIGRATE_CANCEL_ORPHANS": "perhaps",
    "SAFEMIGRATE_IDEMPOTENT": "maybe",
    "SAFEMIGRATE_REQUIRE_MESSAGE": None,
    "SAFEMIGRATE_SCHEMA": 42,
    "SAFEMIGRATE_TARGETS": "tenants.py",
    "SAFEMIGRATE_FLEET_URL": "   ",
    "SAFEMIGRATE_FLEET_CONNECTIONS": -1,
    "SAFEMIGRATE_FLEET_FORK": "sometimes",
    "SAFEMIGRATE_LINT_SELECT": 7,
    "SAFEMIGRATE_LINT_IGNORE": ["drop-table", 3],
    "SAFEMIGRATE_LINT_SEVERITY": {"drop-table": "fatal"},
    "SAFEMIGRATE_LINT_FAIL_ON": "critical",
    "SAFEMIGRATE_LINT_DIALECT": "oracle",
    "SAFEMIGRATE_LINT_EXCLUDE": {"*.py": True},
    "SAFEMIGRATE_LINT_PLURAL_TABLES": "several",
    "SAFEMIGRATE_LINT_SCHEMA": ["public"],
    "SAFEMIGRATE_LINT_SQLALCHEMY": "latest",
    "SAFEMIGRATE_LINT_RELEASES": "tags",
}


def _config_case(key: str, value: Any) -> Case:
    def setup(env: Env) -> None:
        env.config[key] = value

    pattern = rf"^Error: invalid {key} = .+: "
    return Case(
        f"invalid-{key}",
        setup,
        tuple(Run(args, 2, pattern) for args in ALL_COMMANDS),
        kinds=("sqlite",),
    )


def _unknown_key(env: Env) -> None:
    env.config["SAFEMIGRATE_LOCKWAIT"] = 30


#: Schema names PostgreSQL would truncate, that cannot be quoted safely, or that are the server's.
INVALID_SCHEMAS = {
    "quote": "o'neil",
    "too-long": "s" * 80,
    "pg-catalog": "pg_catalog",
    "pg-prefix": "pg_app",
    "information-schema": "information_schema",
    "space": "app ops",
}


def _schema_case(label: str, value: str) -> Case:
    """Issue #13 item 14c: refused at settings validation, on the database that has schemas."""

    def setup(env: Env) -> None:
        env.config["SAFEMIGRATE_SCHEMA"] = value

    return Case(
        f"invalid-schema-{label}",
        setup,
        tuple(Run(args, 2, r"^Error: invalid SAFEMIGRATE_SCHEMA = .+: ") for args in ALL_COMMANDS),
        kinds=("postgresql",),
    )


CONFIG_CASES: list[Case] = [
    *(_config_case(key, value) for key, value in INVALID_VALUES.items()),
    *(_schema_case(label, value) for label, value in INVALID_SCHEMAS.items()),
    Case(
        "unknown-setting",
        _unknown_key,
        tuple(
            Run(
                args,
                2,
                r"^Error: unknown setting SAFEMIGRATE_LOCKWAIT$",
                help=r"did you mean SAFEMIGRATE_LOCK_WAIT\?",
            )
            for args in ALL_COMMANDS
        ),
        kinds=("sqlite",),
    ),
]


def test_every_setting_has_an_invalid_value_case() -> None:
    assert set(INVALID_VALUES) == {spec.key for spec in SPECS}


def test_the_catalogue_has_every_kind_of_bad_input() -> None:
    assert len(CASES) >= 30
    names = [case.name for case in CASES + CONFIG_CASES]
    assert len(names) == len(set(names))


# --------------------------------------------------------------------------- running a case


def _params() -> list[Any]:
    out = []
    for case in CASES + CONFIG_CASES:
        for kind in DB_KINDS:
            if kind in case.kinds:
                out.append(
                    pytest.param(
                        case, kind, id=f"{case.name}-{kind}", marks=getattr(pytest.mark, kind)
                    )
                )
    return out


@pytest.fixture(scope="session")
def stock_migrations(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``flask db init`` once; each case copies it and adds the two revisions."""
    root = tmp_path_factory.mktemp("bad-input-template")
    app = Flask(__name__, instance_path=str(root / "instance"))
    app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{root / 'unused.db'}"
    db = SQLAlchemy()
    db.init_app(app)
    SafeMigrate(app, db, directory=str(root / "migrations"))
    directory = init_migrations(app)
    dispose_app(app)
    return directory


@pytest.fixture
def db_kind(request: pytest.FixtureRequest) -> DbKind:
    """Overrides the conftest's: the case table says which databases each case concerns."""
    kind: DbKind = request.param
    return kind


def _prepare(kind: DbKind, url: str, tmp_path: Path, stock: Path) -> Env:
    project = tmp_path / "project"
    project.mkdir()
    migrations = project / "migrations"
    shutil.copytree(stock, migrations)
    (migrations / "versions").mkdir(exist_ok=True)
    for index in (0, 1):
        text = revision_source(index)
        (migrations / "versions" / f"{REVISIONS[index]}_test.py").write_text(text, "utf-8")
    bi.seed_database(url)
    return Env(
        kind=kind,
        url=url,
        app_url=url,
        migrations=migrations,
        tmp=project,
        config={"SAFEMIGRATE_BACKUP": False},
    )


def _check_output(case: Case, run: Run, output: str) -> None:
    where = f"{case.name}: flask {' '.join(run.args)}"
    assert "Traceback" not in output, f"{where}\n{output}"
    assert PASSWORD not in output, f"{where}: the password was printed\n{output}"
    if run.exit_code == 0:
        last = output.rstrip().splitlines()[-1] if output.strip() else ""
        assert re.search(run.message, last), f"{where}: last line {last!r}\n{output}"
        assert not bi.error_lines(output), f"{where}\n{output}"
        return
    errors = bi.error_lines(output)
    assert len(errors) == 1, f"{where}: expected one error line\n{output}"
    (line,) = errors
    assert re.search(run.message, line), f"{where}: {line!r} does not match {run.message!r}"
    details = bi.detail_after(output, line)
    assert all(d.startswith(("  where: ", "  statement: ", "  help: ")) for d in details), (
        f"{where}\n{output}"
    )
    if run.help is not None:
        assert any(re.search(run.help, d) for d in details), f"{where}: help\n{output}"


def _check_database(case: Case, env: Env, before: dict[str, Any]) -> None:
    after = bi.database_snapshot(env.url)
    if case.change == "none":
        assert after == before, f"{case.name}: the database changed"
        return
    ledger = ledger_rows(env.url)
    if case.change == "no-row":
        assert ledger == [], f"{case.name}: a revision that never began was recorded"
        after.pop("safemigrate_ledger", None)
        assert after == {k: v for k, v in before.items() if k != "safemigrate_ledger"}
        return
    if case.change == "failure-row":
        first, *rest = ledger
        failure = (first["revision"], first["direction"], bool(first["success"]))
        assert failure == (case.failed, "upgrade", False), ledger
        # A failure that left nothing is resolved by safe-upgrade itself (issue #17 item 2).
        resolved = (
            [(case.failed, "resolve", True)] if first["error"].endswith("[left: nothing]") else []
        )
        assert [(r["revision"], r["direction"], bool(r["success"])) for r in rest] == resolved, (
            ledger
        )
        after.pop("safemigrate_ledger")
        assert after == before, f"{case.name}: the failed revision left a change behind"
        return
    assert case.change == "upgraded"
    assert [(r["revision"], bool(r["success"])) for r in ledger] == [(B2, True)]
    assert after["alembic_version"]["rows"] == [repr((B2,))]
    assert ("gadgets" in after) == ("gadgets" in env.tables)
    for table in ("safemigrate_ledger", "safemigrate_release", "alembic_version", "gadgets"):
        after.pop(table, None)
    before.pop("alembic_version")
    assert after == before, f"{case.name}: the upgrade changed more than revision {B2}"


#: sha256 of an empty file: what a released SQLite migration lock file holds.
EMPTY = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def _check_files(case: Case, env: Env, root: Path, before: dict[str, str]) -> None:
    """Nothing new, nothing rewritten; the SQLite lock file may stay, released (empty)."""
    after = bi.files_snapshot(root)
    for name in [name for name in after if name.endswith(".safemigrate-lock")]:
        assert after.pop(name) == EMPTY, f"{case.name}: {name} still names a holder"
    if case.change != "none" and env.kind == "sqlite":
        database = str(Path(make_url(env.url).database or "").relative_to(root))
        before = {k: v for k, v in before.items() if k != database}
        after.pop(database)
    assert after == before, f"{case.name}: files changed under {root}"


@pytest.mark.parametrize(("case", "db_kind"), _params(), indirect=["db_kind"])
def test_bad_input(
    case: Case,
    db_kind: DbKind,
    database_url: str,
    make_app: MakeApp,
    tmp_path: Path,
    stock_migrations: Path,
) -> None:
    env = _prepare(db_kind, database_url, tmp_path, stock_migrations)
    try:
        case.setup(env)
        app = make_app(
            env.app_url, migrations=env.migrations, config=env.config, models=models(env.tables)
        )
        before_db = bi.database_snapshot(env.url)
        before_files = bi.files_snapshot(tmp_path)
        for run in case.runs:
            with ExitStack() as stack:
                for hold in env.during:
                    stack.enter_context(hold())
                result = invoke(app, *run.args)
            output = result.output
            if result.exception is not None and not isinstance(result.exception, SystemExit):
                output += "".join(traceback.format_exception(result.exception))
            print(f"--- flask {' '.join(run.args)} -> {result.exit_code}\n{output}")
            assert result.exit_code == run.exit_code, (
                f"{case.name}: flask {' '.join(run.args)} exited {result.exit_code},"
                f" expected {run.exit_code}\n{output}"
            )
            _check_output(case, run, output)
        dispose_app(app)
        _check_database(case, env, before_db)
        _check_files(case, env, tmp_path, before_files)
    finally:
        for cleanup in reversed(env.cleanup):
            cleanup()


# --------------------------------------------------------------------------- real subprocesses


def _flask(env: Env, *args: str) -> subprocess.CompletedProcess[str]:
    return run_flask(
        ["db", *args],
        app=bi.APP_SPEC,
        env={
            "SM_DATABASE_URL": env.app_url,
            "SM_MIGRATIONS": str(env.migrations),
            "SM_INSTANCE": str(env.tmp / "instance"),
            "SM_CONFIG": json.dumps(env.config),
            "NO_COLOR": "1",
        },
        timeout=60,
    )


def _check_process(done: subprocess.CompletedProcess[str], code: int, pattern: str) -> None:
    """Exit code; stdout and stderr free of tracebacks and passwords; one error line on stderr."""
    shown = f"exit {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    assert done.returncode == code, shown
    for stream in (done.stdout, done.stderr):
        assert "Traceback" not in stream, shown
        assert PASSWORD not in stream, shown
    errors = bi.error_lines(done.stdout + done.stderr)
    assert len(errors) == 1, shown
    assert re.search(pattern, errors[0]), shown


@pytest.mark.parametrize(
    "db_kind", [pytest.param("sqlite", marks=pytest.mark.sqlite)], indirect=True
)
def test_a_real_flask_process_prints_one_line_and_no_traceback(
    db_kind: DbKind, database_url: str, tmp_path: Path, stock_migrations: Path
) -> None:
    """Bad config, a broken script, an unknown option: the first two go through ``fail``."""
    env = _prepare(db_kind, database_url, tmp_path, stock_migrations)
    syntax_error(env)
    before_db = bi.database_snapshot(env.url)
    before_files = bi.files_snapshot(tmp_path)
    runs: list[tuple[dict[str, Any], tuple[str, ...], int, str]] = [
        (
            {"SAFEMIGRATE_LOCK_WAIT": "soon"},
            ("safe-upgrade",),
            2,
            r"^Error: invalid SAFEMIGRATE_LOCK_WAIT = 'soon'",
        ),
        (
            {"SAFEMIGRATE_LOCK_WAIT": "soon"},
            ("auto-merge-heads",),
            2,
            r"^Error: invalid SAFEMIGRATE_LOCK_WAIT",
        ),
        ({}, ("safe-upgrade",), 3, UNREADABLE),
        ({}, ("safe-upgrade", "--no-such-flag"), 2, r"^Error: No such option '--no-such-flag'"),
    ]
    for config, args, code, pattern in runs:
        env.config = {"SAFEMIGRATE_BACKUP": False, **config}
        done = _flask(env, *args)
        _check_process(done, code, pattern)
        if code == 2:
            assert not done.stdout.strip(), done.stdout  # errors go to stderr
    assert bi.database_snapshot(env.url) == before_db
    assert bi.files_snapshot(tmp_path) == before_files


@pytest.mark.parametrize(
    "db_kind",
    [pytest.param(kind, marks=getattr(pytest.mark, kind)) for kind in SERVERS],
    indirect=True,
)
def test_a_real_flask_process_refused_by_the_server_hides_the_password(
    db_kind: DbKind, database_url: str, tmp_path: Path, stock_migrations: Path
) -> None:
    env = _prepare(db_kind, database_url, tmp_path, stock_migrations)
    wrong_password(env)
    before_db = bi.database_snapshot(env.url)
    before_files = bi.files_snapshot(tmp_path)
    done = _flask(env, "safe-upgrade")
    _check_process(done, 3, r"^error\[database-unreachable\]: cannot connect to \S*:\*\*\*@")
    assert bi.database_snapshot(env.url) == before_db
    assert bi.files_snapshot(tmp_path) == before_files
