"""Building blocks of the bad-input catalogue (``test_bad_input.py``).

Every case starts from the same deployed project: the stock ``flask db init`` directory with
two revisions (``a1`` creates ``widgets``, ``b2`` creates ``gadgets``) and a real database
already at ``a1``, with three rows in ``widgets``. A case's ``setup`` then breaks one thing
(a script, the version table, the URL, the config, a lock) and the catalogue checks what the
command does about it: the documented exit code, one line naming the problem, no traceback,
the database and the files exactly as they were.

``create_app`` is the app a real ``flask`` subprocess runs (``flask --app
tests.reliability.bad_inputs:create_app``), configured from ``SM_*`` environment variables.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import sqlite3
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.engine import make_url

from flask_safemigrate import SafeMigrate
from tests.support.databases import DbKind, admin_engine, execute, nullpool_engine
from tests.upgrade.histories import (
    REVISIONS,
    TABLES,
    models,
    revision_source,
)

A1, B2 = REVISIONS[0], REVISIONS[1]
#: The files of the two revisions every case starts with.
A1_FILE, B2_FILE = f"{A1}_test.py", f"{B2}_test.py"
#: Rows seeded into ``widgets``: a run that fails must leave them exactly so.
SEED_ROWS = ((1, "alpha"), (2, "beta"), (3, "gamma"))
#: Placed in every URL that carries a password: it must never reach the output.
PASSWORD = "s3cr3t-Pw-0451"
#: What ``flask --app`` is given for the subprocess cases.
APP_SPEC = "tests.reliability.bad_inputs:create_app"

# --------------------------------------------------------------------------- the case table


@dataclass(frozen=True)
class Run:
    """One command of a case and what it must end with.

    ``message`` is a regex the one error line (``Error: ...`` or ``error[check]: ...``) must
    match; for a run that exits 0 it is matched against the last line instead. ``help``, when
    given, is a regex one of the error's indented ``where:``/``help:`` lines must match.
    """

    args: tuple[str, ...]
    exit_code: int
    message: str
    help: str | None = None


@dataclass
class Env:
    """What a case's setup may change before the app is built and the commands run.

    ``url`` is the real database (the one that is snapshotted, always with full rights);
    ``app_url`` is what the app is pointed at (a case may point it elsewhere). ``during``
    holds context managers entered around the commands only (a lock held by another
    connection); ``cleanup`` runs after the checks.
    """

    kind: DbKind
    url: str
    app_url: str
    migrations: Path
    tmp: Path
    config: dict[str, Any]
    tables: tuple[str, ...] = TABLES[:2]
    during: list[Callable[[], AbstractContextManager[object]]] = field(default_factory=list)
    cleanup: list[Callable[[], None]] = field(default_factory=list)

    @property
    def versions(self) -> Path:
        return self.migrations / "versions"


Setup = Callable[[Env], None]


def nothing(env: Env) -> None:
    """The untouched project (for cases that only pass bad options)."""


@dataclass(frozen=True)
class Case:
    """One bad input: how to make it, which commands see it, and what the database may keep.

    ``change`` is what the database may look like afterwards: ``"none"`` (exactly as before),
    ``"failure-row"`` (exit 4: only the ledger gained one failure row for ``b2``),
    ``"no-row"`` (exit 4 before ``b2`` began: the ledger table may exist, but holds no row)
    or ``"upgraded"`` (exit 0: ``b2`` applied, nothing else touched).
    """

    name: str
    setup: Setup
    runs: tuple[Run, ...]
    kinds: tuple[DbKind, ...] = ("sqlite", "postgresql", "mysql")
    change: str = "none"
    failed: str = B2


def safe_upgrade(exit_code: int, message: str, *extra: str, help: str | None = None) -> Run:
    return Run(("db", "safe-upgrade", *extra), exit_code, message, help)


# --------------------------------------------------------------------------- the project


def write_script(env: Env, name: str, text: str | bytes) -> Path:
    path = env.versions / name
    if isinstance(text, str):
        path.write_text(text, encoding="utf-8")
    else:
        path.write_bytes(text)
    return path


def b2_source(**kwargs: Any) -> str:
    return revision_source(1, **kwargs)


def replace_in(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, (old, path)
    path.write_text(text.replace(old, new), encoding="utf-8")


def seed_database(url: str) -> None:
    """``widgets`` as revision a1 creates it, three rows, and the version table at a1."""
    metadata = sa.MetaData()
    declare = models(TABLES[:1])
    holder = _MetadataHolder(metadata)
    declare(holder)
    version = sa.Table(
        "alembic_version",
        metadata,
        sa.Column("version_num", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("version_num", name="alembic_version_pkc"),
    )
    engine = nullpool_engine(url)
    try:
        metadata.create_all(engine)
        with engine.begin() as conn:
            widgets = metadata.tables["widgets"]
            conn.execute(widgets.insert(), [{"id": i, "name": n} for i, n in SEED_ROWS])
            conn.execute(version.insert(), [{"version_num": A1}])
    finally:
        engine.dispose()


class _MetadataHolder:
    """Stands in for ``SQLAlchemy()`` where :func:`models` only needs ``.metadata``."""

    def __init__(self, metadata: sa.MetaData) -> None:
        self.metadata = metadata


# --------------------------------------------------------------------------- snapshots


def database_snapshot(url: str) -> dict[str, Any]:
    """Every table's columns and rows (sorted): what a run that failed must leave alone."""
    engine = nullpool_engine(url)
    try:
        with engine.connect() as conn:
            inspector = sa.inspect(conn)
            quote = engine.dialect.identifier_preparer.quote
            out: dict[str, Any] = {}
            for table in sorted(inspector.get_table_names()):
                columns = [
                    (c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(table)
                ]
                rows = conn.execute(sa.text(f"SELECT * FROM {quote(table)}")).all()
                out[table] = {"columns": columns, "rows": sorted(repr(tuple(r)) for r in rows)}
            return out
    finally:
        engine.dispose()


def files_snapshot(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root`` (``__pycache__`` aside: Python's, not ours)."""
    out: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        if "__pycache__" in path.parts or not path.is_file():
            continue
        out[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


# --------------------------------------------------------------------------- output


#: A lint finding in the text layout: under its file's header line, ``  18:5 error   SM102 [``.
_LINT_LINE = re.compile(r"^  (\d+(:\d+)? +)?(error|warning|info) +SM\d{3} \[")
#: ...and in the other commands' reports (safe-upgrade's pre-flight): ``path:18:5: error SM102 [``.
_ERROR_LINE = re.compile(
    r"^(Error: |error\[[a-z0-9-]+\]: |\S+:\d+(:\d+)?: (error|warning|info) SM\d{3} \[)"
    rf"|{_LINT_LINE.pattern}"
)


def error_lines(output: str) -> list[str]:
    """The lines that state a failure: click's ``Error: ...``, findings' ``error[...]: ``
    and lint's findings; a lint finding comes with its file (the header line above it), as
    ``file line``, since the file is part of what it says."""
    out = []
    header = ""
    for line in output.splitlines():
        if not line.startswith(" "):
            header = line
        if _LINT_LINE.match(line):
            out.append(f"{header} {line.strip()}")
        elif _ERROR_LINE.match(line):
            out.append(line)
    return out


def detail_after(output: str, line: str) -> list[str]:
    """The indented lines right after ``line`` (its ``where:`` and ``help:``), as
    :func:`error_lines` gives it; a lint finding's are indented one step further than the
    finding, and are returned at the same depth as the others' (``  help: ``)."""
    lines = output.splitlines()
    lint = line not in lines
    if lint:
        start = next(
            n + 1
            for n, shown in enumerate(lines)
            if _LINT_LINE.match(shown) and line.endswith(shown.strip())
        )
    else:
        start = lines.index(line) + 1
    indent = "    " if lint else "  "
    out = []
    for follower in lines[start:]:
        if not follower.startswith(indent):
            break
        out.append(follower[len(indent) - 2 :])
    return out


# --------------------------------------------------------------------------- special setups


@contextmanager
def sqlite_exclusive_lock(path: Path) -> Iterator[None]:
    """Another connection holding ``BEGIN EXCLUSIVE`` on the file (no reader, no writer)."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN EXCLUSIVE")
        yield
        conn.execute("ROLLBACK")
    finally:
        conn.close()


def sqlite_read_only_url(env: Env) -> str:
    """A URL on which the real database refuses every write.

    As an ordinary user, the file is made read-only (mode 0444). As root (CI containers)
    permission bits do not stop writes, so SQLite's own read-only mode is used instead: a
    ``mode=ro`` URI filename, which makes the library refuse writes whoever runs it.
    """
    database = make_url(env.url).database
    assert database
    if os.geteuid() != 0:
        Path(database).chmod(0o444)
        env.cleanup.append(lambda: Path(database).chmod(0o644))
        return env.url
    return f"sqlite:///file:{database}?mode=ro&uri=true"


def postgres_role_without_ddl(env: Env) -> str:
    """A login role that may read and write rows but not create anything; its URL.

    PostgreSQL 15 no longer lets ``PUBLIC`` create in ``public``; the ``REVOKE`` makes the
    case hold on older servers too. The role and its grants are dropped by ``env.cleanup``.
    """
    role = f"sm_noddl_{secrets.token_hex(4)}"
    url = make_url(env.url)
    name = url.database
    assert name
    server = admin_engine(url.set(database="postgres"))
    try:
        with server.connect() as conn:
            conn.exec_driver_sql(f"CREATE ROLE {role} LOGIN")
    finally:
        server.dispose()
    execute(
        env.url,
        "REVOKE CREATE ON SCHEMA public FROM PUBLIC",
        f"GRANT CONNECT ON DATABASE {name} TO {role}",
        f"GRANT USAGE ON SCHEMA public TO {role}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}",
    )

    def drop() -> None:
        execute(env.url, f"DROP OWNED BY {role}")
        engine = admin_engine(url.set(database="postgres"))
        try:
            with engine.connect() as conn:
                conn.exec_driver_sql(f"DROP ROLE IF EXISTS {role}")
        finally:
            engine.dispose()

    env.cleanup.append(drop)
    return url.set(username=role, password=None).render_as_string(hide_password=False)


# --------------------------------------------------------------------------- subprocess app


def create_app() -> Flask:
    """The app of the subprocess cases: ``SM_DATABASE_URL``, ``SM_MIGRATIONS``,
    ``SM_INSTANCE`` and ``SM_CONFIG`` (a JSON object of Flask config)."""
    environ = os.environ
    app = Flask(__name__, instance_path=environ["SM_INSTANCE"])
    app.config["SQLALCHEMY_DATABASE_URI"] = environ["SM_DATABASE_URL"]
    config: Mapping[str, Any] = json.loads(environ.get("SM_CONFIG", "{}"))
    app.config.update(config)
    db = SQLAlchemy()
    models(TABLES[:2])(db)
    db.init_app(app)
    SafeMigrate(app, db, directory=environ["SM_MIGRATIONS"])
    return app
