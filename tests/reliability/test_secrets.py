"""A password in the database URL never leaves the process: not in output, logs, files or argv.

PostgreSQL and MariaDB each get a real login whose password is a distinctive string (with
characters a URL must encode). Every command runs with it, in every output format, on the
success paths and the failure paths (a failing revision, drift, conflicting heads, an
unreachable port, a refused login, a missing database, a held migration lock), through a real
``flask`` subprocess (logging from ``alembic.ini`` turned up to DEBUG, so on stderr) and in
process (every logger at DEBUG into ``caplog``). Then stdout, stderr, the logs, every file
under the test's directory (migrations, instance folder, backups) and the ledger are searched
for the password, raw and URL-encoded. Backups must be private (files 0600, directory 0700),
and the dump tools must get the password through their environment, never a shell or argv.

PostgreSQL listens with trust authentication on 127.0.0.1, so it does not check the password;
it still travels in the URL, which is what could leak. MariaDB checks it.
"""

from __future__ import annotations

import ast
import contextlib
import json
import logging
import logging.config
import os
import re
import secrets
import stat
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.engine import URL, make_url

import flask_safemigrate
from flask_safemigrate import SafeMigrate, cli_support, locks
from tests.support.apps import AppTracker, init_migrations
from tests.support.cli import invoke
from tests.support.databases import (
    DbKind,
    ServerKind,
    admin_engine,
    require_server,
    server_url,
    worker_suffix,
)
from tests.support.flask_process import FlaskProcess
from tests.support.revisions import write_revision
from tests.upgrade.histories import (
    FAIL_AFTER_COMMIT,
    REVISIONS,
    TABLES,
    ledger_rows,
    models,
    revision_source,
    write_history,
)

SERVERS = pytest.mark.parametrize(
    "db_kind",
    [
        pytest.param("postgresql", marks=pytest.mark.postgresql),
        pytest.param("mysql", marks=pytest.mark.mysql),
    ],
    indirect=True,
)

#: The login's password: distinctive, and with characters that URL encoding changes.
TOKEN = secrets.token_hex(8)
PASSWORD = f"Sm-S3cret-{TOKEN}@%/:"
#: The password MariaDB refuses (the login exists, the password is wrong).
WRONG_TOKEN = secrets.token_hex(8)
WRONG_PASSWORD = f"Sm-Wr0ng-{WRONG_TOKEN}@%/:"
USER = f"sm_secret_{secrets.token_hex(4)}{worker_suffix()}"

APP_SPEC = "tests.reliability.test_secrets:create_secret_app"


def needles(password: str) -> list[str]:
    """Every form the password could leak in: raw, URL-encoded, and its random core."""
    core = re.search(r"[0-9a-f]{16}", password)
    assert core is not None
    return sorted({password, quote(password, safe=""), quote_plus(password), core.group(0)})


#: Issue #13 item 4: a password in the URL's query string (``?password=``), as psycopg and
#: PyMySQL accept it, for a login of its own.
QUERY_PASSWORD = f"Sm-Qry-{secrets.token_hex(8)}@%/:"
WRONG_QUERY_PASSWORD = f"Sm-QWr-{secrets.token_hex(8)}@%/:"
QUERY_USER = f"sm_secret_q_{secrets.token_hex(4)}{worker_suffix()}"
#: Issue #13 item 5: a one-letter password, which is in every message as a letter: it must be
#: masked where it is a credential and nowhere else (no ``Und***fin***d``).
ONE_LETTER = "e"
WRONG_ONE_LETTER = "f"
ONE_LETTER_USER = f"sm_secret_1_{secrets.token_hex(4)}{worker_suffix()}"

NEEDLES = (
    needles(PASSWORD)
    + needles(WRONG_PASSWORD)
    + needles(QUERY_PASSWORD)
    + needles(WRONG_QUERY_PASSWORD)
)
#: A one-letter password shows only where it is a credential; ``***`` glued to a word means
#: a message was mangled by masking a substring (which also gives the letter away).
FORBIDDEN = [
    re.compile(rf":{letter}(?:@|%40)|(?i:passw(?:or)?d|pwd)(?:=|%3D){letter}\b")
    for letter in (ONE_LETTER, WRONG_ONE_LETTER)
] + [re.compile(r"\w\*\*\*|\*\*\*\w")]


def assert_hidden(where: str, content: str | bytes) -> None:
    for needle in NEEDLES:
        found = needle.encode() in content if isinstance(content, bytes) else needle in content
        assert not found, f"the password ({needle!r}) leaked into {where}:\n{content!r}"[:4000]
    text = content.decode("utf-8", "replace") if isinstance(content, bytes) else content
    for pattern in FORBIDDEN:
        found_at = pattern.search(text)
        assert found_at is None, (
            f"{found_at[0]!r}: a short password leaked or a message was mangled in {where}:"
            f"\n{text[max(0, found_at.start() - 300) : found_at.end() + 300]}"
        )


# --------------------------------------------------------------------------- the login


@contextlib.contextmanager
def server_logins(logins: Mapping[str, str]) -> Iterator[dict[ServerKind, URL]]:
    """Logins (user -> password) on each reachable server, dropped afterwards.

    Yields kind -> the admin URL (the logins differ only in user and password).
    """
    made: dict[ServerKind, URL] = {}
    try:
        for kind in ("postgresql", "mysql"):
            admin = server_url(kind)
            require_server(kind, admin)
            made[kind] = admin
            engine = admin_engine(admin)
            try:
                with engine.connect() as conn:
                    for user, password in logins.items():
                        if kind == "postgresql":
                            # DDL takes no bind parameters; the password holds no quote.
                            escaped = password.replace("%", "%%")
                            conn.exec_driver_sql(
                                f"CREATE ROLE \"{user}\" LOGIN SUPERUSER PASSWORD '{escaped}'"
                            )
                        else:
                            conn.exec_driver_sql(
                                f"CREATE USER '{user}'@'%%' IDENTIFIED BY %(pw)s", {"pw": password}
                            )
                            conn.exec_driver_sql(
                                f"GRANT ALL PRIVILEGES ON *.* TO '{user}'@'%%' WITH GRANT OPTION"
                            )
            finally:
                engine.dispose()
        yield made
    finally:
        for kind in made:
            engine = admin_engine(server_url(kind))
            try:
                with engine.connect() as conn:
                    for user in logins:
                        if kind == "postgresql":
                            conn.exec_driver_sql(f'DROP ROLE IF EXISTS "{user}"')
                        else:
                            conn.exec_driver_sql(f"DROP USER IF EXISTS '{user}'@'%%'")
            finally:
                engine.dispose()


@pytest.fixture(scope="module")
def secret_login() -> Iterator[dict[ServerKind, URL]]:
    """A login with the password on each reachable server: kind -> admin URL with it set."""
    with server_logins({USER: PASSWORD}) as made:
        yield {kind: admin.set(username=USER, password=PASSWORD) for kind, admin in made.items()}


@pytest.fixture(scope="module")
def more_logins() -> Iterator[dict[ServerKind, URL]]:
    """The query-string and the one-letter logins on each reachable server."""
    with server_logins({QUERY_USER: QUERY_PASSWORD, ONE_LETTER_USER: ONE_LETTER}) as made:
        yield made


@pytest.fixture
def secret_url(db_kind: DbKind, database_url: str, secret_login: dict[ServerKind, URL]) -> URL:
    """The test's scratch database, reached through the login with the password."""
    assert db_kind in ("postgresql", "mysql")
    return make_url(database_url).set(username=USER, password=PASSWORD)


def text_of(url: URL) -> str:
    return url.render_as_string(hide_password=False)


# --------------------------------------------------------------------------- the app


def build_app(
    url: str, migrations: Path, instance: Path, config: Mapping[str, Any], tables: Sequence[str]
) -> Flask:
    app = Flask(__name__, instance_path=str(instance))
    app.config.update(SQLALCHEMY_DATABASE_URI=url, **config)
    db = SQLAlchemy()
    models(tables)(db)
    db.init_app(app)
    SafeMigrate(app, db, directory=str(migrations))
    return app


def create_secret_app() -> Flask:
    """What ``flask --app`` runs: everything comes from ``SM_SECRET_*`` variables.

    Every logger logs at DEBUG to stderr (``alembic.ini``, also at DEBUG, takes over when
    ``env.py`` runs).
    """
    env = os.environ
    logging.basicConfig(level=logging.DEBUG, format="%(levelname)s [%(name)s] %(message)s")
    return build_app(
        env["SM_SECRET_URL"],
        Path(env["SM_SECRET_MIGRATIONS"]),
        Path(env["SM_SECRET_INSTANCE"]),
        json.loads(env["SM_SECRET_CONFIG"]),
        [t for t in env["SM_SECRET_TABLES"].split(",") if t],
    )


@dataclass
class Ran:
    args: tuple[str, ...]
    code: int
    stdout: str
    stderr: str
    logs: str

    def json(self) -> dict[str, Any]:
        data = json.loads(self.stdout)
        assert isinstance(data, dict)
        return data

    def __str__(self) -> str:
        return (
            f"flask {' '.join(self.args)} exited {self.code}\n--- stdout\n{self.stdout}"
            f"\n--- stderr\n{self.stderr}\n--- logs\n{self.logs[-3000:]}"
        )


@dataclass
class Runner:
    """Runs ``flask db ...`` for the app on a URL, in a real ``flask`` process or in this one.

    The ``subprocess`` mode runs every command of the test in one :class:`FlaskProcess` (each
    with its own environment, stdout and stderr, as a ``flask`` subprocess of its own would).
    """

    mode: str
    root: Path
    caplog: pytest.LogCaptureFixture
    track_app: AppTracker
    config: dict[str, Any] = field(default_factory=dict)
    runs: list[Ran] = field(default_factory=list)
    process: FlaskProcess | None = None

    @property
    def migrations(self) -> Path:
        return self.root / "migrations"

    @property
    def instance(self) -> Path:
        return self.root / "instance"

    def __call__(
        self,
        url: URL,
        *args: str,
        tables: Sequence[str] = TABLES[:3],
        config: Mapping[str, Any] | None = None,
    ) -> Ran:
        settings = {**self.config, **(config or {})}
        if self.process is not None:
            env = {
                "SM_SECRET_URL": text_of(url),
                "SM_SECRET_MIGRATIONS": str(self.migrations),
                "SM_SECRET_INSTANCE": str(self.instance),
                "SM_SECRET_CONFIG": json.dumps(settings),
                "SM_SECRET_TABLES": ",".join(tables),
                "NO_COLOR": "1",
            }
            done = self.process.run(args, env=env)
            ran = Ran(args, done.returncode, done.stdout, done.stderr, done.stderr)
        else:
            app = self.track_app(
                build_app(text_of(url), self.migrations, self.instance, settings, tables)
            )
            self.caplog.clear()
            result = invoke(app, *args)
            if result.exception is not None and not isinstance(result.exception, SystemExit):
                raise result.exception
            records = "\n".join(
                f"{r.name} {r.levelname} {r.getMessage()} {r.args!r} {r.exc_text or ''}"
                for r in self.caplog.records
            )
            ran = Ran(args, result.exit_code, result.stdout, result.stderr, records)
        self.runs.append(ran)
        assert_hidden(f"the output of {ran}", ran.stdout + ran.stderr)
        assert_hidden(f"the logs of {ran}", ran.logs)
        assert "Traceback" not in ran.stdout + ran.stderr, str(ran)
        return ran

    def expect(self, url: URL, code: int | set[int], *args: str, **kwargs: Any) -> Ran:
        ran = self(url, *args, **kwargs)
        codes = {code} if isinstance(code, int) else code
        assert ran.code in codes, str(ran)
        return ran


@pytest.fixture(params=["subprocess", "in-process"])
def runner(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    track_app: AppTracker,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Runner]:
    """``flask db init`` with Alembic's logging at DEBUG, and a runner in the param's mode.

    In process, the stock ``env.py`` calls ``fileConfig(alembic.ini)``, which replaces the
    root logger's handlers: ``caplog``'s handler is put back after it and no logger is
    disabled, so every record of every library reaches ``caplog``.
    """
    run = Runner(request.param, tmp_path, caplog, track_app)
    app = track_app(
        build_app("sqlite:///" + str(tmp_path / "init.db"), run.migrations, run.instance, {}, ())
    )
    init_migrations(app)
    ini = run.migrations / "alembic.ini"
    ini.write_text(re.sub(r"(?m)^level = \w+$", "level = DEBUG", ini.read_text()))

    original = logging.config.fileConfig

    def keep_capturing(
        fname: Any, defaults: Any = None, disable_existing_loggers: bool = True
    ) -> None:
        original(fname, defaults, disable_existing_loggers=False)
        root = logging.getLogger()
        if caplog.handler not in root.handlers:
            root.addHandler(caplog.handler)
        root.setLevel(logging.DEBUG)

    monkeypatch.setattr(logging.config, "fileConfig", keep_capturing)
    # safe-upgrade and verify hide Alembic's INFO lines; here they are let through, so
    # that whatever any library logs while they run is searched too.
    monkeypatch.setattr(cli_support, "quiet_alembic", contextlib.nullcontext)
    caplog.set_level(logging.DEBUG)
    if run.mode != "subprocess":
        yield run
        return
    with FlaskProcess(APP_SPEC) as process:
        run.process = process
        yield run


def assert_nothing_written_holds_it(root: Path, url: URL) -> None:
    """No file the runs wrote, and no ledger row, holds the password."""
    files = [p for p in root.rglob("*") if p.is_file()]
    assert files
    for path in files:
        assert_hidden(str(path), path.read_bytes())
    assert_hidden("the ledger", repr(ledger_rows(text_of(url))))


def assert_private_backups(directory: Path) -> list[Path]:
    assert directory.is_dir(), f"no backup directory at {directory}"
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700, oct(directory.stat().st_mode)
    backups = sorted(directory.iterdir())
    assert backups, "no backup was written"
    for backup in backups:
        assert stat.S_IMODE(backup.stat().st_mode) == 0o600, (backup, oct(backup.stat().st_mode))
        assert not backup.name.endswith(".partial"), backup
    return backups


# --------------------------------------------------------------------------- success and failure


LINT_FORMATS = ("text", "json", "github", "sarif", "markdown")
FORMATS = ("text", "json")


@SERVERS
def test_no_command_shows_the_password_on_success_or_failure(
    runner: Runner, secret_url: URL, db_kind: DbKind
) -> None:
    run = runner
    url = secret_url
    run.config = {"SAFEMIGRATE_BACKUP": True, "SAFEMIGRATE_LOCK_WAIT": 5}
    write_history(run.migrations, count=3)

    for fmt in LINT_FORMATS:
        run.expect(url, 0, "db", "lint", "--format", fmt)
        run.expect(url, 0, "db", "lint", "--pending", "--format", fmt)
    for fmt in FORMATS:
        run.expect(url, 0, "db", "safe-upgrade", "--dry-run", "--format", fmt)
        run.expect(url, 0, "db", "safe-upgrade", "--sql", "--format", fmt)
        run.expect(url, 0, "db", "auto-merge-heads", "--check", "--format", fmt)
    # The Markdown plan (issue #21): its SQL, sizes and notes name no password either.
    run.expect(url, 0, "db", "safe-upgrade", "--dry-run", "--format", "markdown")

    # The first run finds no table, so nothing to back up (issue #17 item 9); the next two
    # are each backed up with pg_dump / mariadb-dump first.
    first = run.expect(url, 0, "db", "safe-upgrade", REVISIONS[0], "--format", "json").json()
    assert first["backup"] is None, first
    run.expect(url, 0, "db", "safe-upgrade", REVISIONS[1])
    data = run.expect(url, 0, "db", "safe-upgrade", "--format", "json").json()
    assert data["to"] == [REVISIONS[2]] and data["backup"], data
    backups = assert_private_backups(run.instance / "backups")
    assert len(backups) == 2, backups

    for fmt in FORMATS:
        run.expect(url, 0, "db", "verify", "--format", fmt)
        run.expect(url, 0, "db", "verify", "--roundtrip", "--format", fmt)
        # Drift: the models lost a table the database has.
        drift = run.expect(url, 1, "db", "verify", "--format", fmt, tables=TABLES[:2])
        assert "schema-drift" in drift.stdout, str(drift)
    run.expect(url, 0, "db", "verify", "--format", "markdown")
    drift = run.expect(url, 1, "db", "verify", "--format", "markdown", tables=TABLES[:2])
    assert "schema-drift" in drift.stdout, str(drift)

    # A failing revision that leaves its table: exit 4, then every run refuses until --resolved.
    failing = write_revision(run.migrations, revision_source(3, extra_upgrade=FAIL_AFTER_COMMIT))
    four = TABLES[:4]
    failed = run.expect(url, 4, "db", "safe-upgrade", tables=four)
    assert "no_such_table" in failed.stdout + failed.stderr, str(failed)
    for fmt in FORMATS:
        run.expect(url, 3, "db", "safe-upgrade", "--format", fmt, tables=four)
        run.expect(url, 1, "db", "verify", "--format", fmt, tables=four)
        run.expect(url, 0, "db", "lint", "--pending", "--format", fmt, tables=four)
    failing.write_text(revision_source(3))
    resolved = run.expect(
        url, 0, "db", "safe-upgrade", "--resolved", REVISIONS[3], "--format", "json", tables=four
    )
    assert resolved.json()["to"] == [REVISIONS[3]]

    # Two heads that both create the same table: the merge is refused.
    write_revision(run.migrations, revision_source(4))
    write_revision(run.migrations, revision_source(4).replace(REVISIONS[4], "e9999999oth5"))
    for fmt in FORMATS:
        run.expect(url, 1, "db", "auto-merge-heads", "--format", fmt, tables=TABLES)
        run.expect(url, 1, "db", "auto-merge-heads", "--check", "--format", fmt, tables=TABLES)
        run.expect(url, 3, "db", "safe-upgrade", "--format", fmt, tables=TABLES)
        run.expect(url, 1, "db", "verify", "--format", fmt, tables=TABLES)
    for fmt in LINT_FORMATS:
        run.expect(url, 1, "db", "lint", "--format", fmt, tables=TABLES)

    assert_private_backups(run.instance / "backups")
    assert_nothing_written_holds_it(run.root, url)
    # The logs were really captured (DEBUG: SQLAlchemy's rows too), so their check meant something.
    logs = "\n".join(ran.logs for ran in run.runs)
    assert "INFO" in logs and "Context impl" in logs, logs[-2000:]
    if run.mode == "in-process":
        assert "Running upgrade" in logs and "Row (" in logs


@SERVERS
def test_connection_and_lock_failures_do_not_show_the_password(
    runner: Runner, secret_url: URL, db_kind: DbKind
) -> None:
    run = runner
    run.config = {
        "SAFEMIGRATE_BACKUP": True,
        "SAFEMIGRATE_CONNECT_TIMEOUT": 2,
        "SAFEMIGRATE_CONNECT_RETRIES": 0,
        # The held lock below is waited out twice: exit 5 comes as soon as the wait ends.
        "SAFEMIGRATE_LOCK_WAIT": 0.2,
    }
    write_history(run.migrations, count=3)
    wrong_login = (
        secret_url.set(password=WRONG_PASSWORD)  # MariaDB checks it
        if db_kind == "mysql"
        else secret_url.set(username=f"{USER}_none")  # trust: only a missing role is refused
    )
    failures = {
        "unreachable port": secret_url.set(port=1),
        "refused login": wrong_login,
        "missing database": secret_url.set(database=f"sm_missing_{secrets.token_hex(6)}"),
    }
    for case, url in failures.items():
        for fmt in FORMATS:
            ran = run.expect(url, 3, "db", "safe-upgrade", "--format", fmt)
            if fmt == "json":
                checks = [p["check"] for p in ran.json()["problems"]]
                assert checks == ["database-unreachable"], (case, str(ran))
            run.expect(url, {1, 3}, "db", "verify", "--format", fmt)
            run.expect(url, 3, "db", "lint", "--pending", "--format", fmt)
        run.expect(url, 3, "db", "safe-upgrade", "--backup", "--format", "json")

    # A migration lock held elsewhere: exit 5, naming the holder, not the password.
    name = locks.lock_name(text_of(secret_url))
    with locks.migration_lock(text_of(secret_url), name=name, wait=5):
        for fmt in FORMATS:
            held = run.expect(secret_url, 5, "db", "safe-upgrade", "--format", fmt)
            if fmt == "json":
                assert held.json()["stage"] == "lock", str(held)
    # A database without tables is not backed up (issue #17 item 9): make the first table.
    run.expect(secret_url, 0, "db", "safe-upgrade", REVISIONS[0])
    assert run.expect(secret_url, 0, "db", "safe-upgrade", "--format", "json").json()["ok"]
    assert_private_backups(run.instance / "backups")
    assert_nothing_written_holds_it(run.root, secret_url)


@SERVERS
@pytest.mark.parametrize(
    "command", [("migrate", "-m", "add tags"), ("revision", "--autogenerate", "-m", "add tags")]
)
def test_migrate_with_a_refused_login_is_one_line_and_exit_3(
    runner: Runner, secret_url: URL, db_kind: DbKind, command: tuple[str, ...]
) -> None:
    """Autogenerate connects before it compares: a refused login is the one line verify and
    safe-upgrade print (exit 3, the URL masked), not Flask-Migrate's traceback and exit 1."""
    run = runner
    run.config = {"SAFEMIGRATE_CONNECT_TIMEOUT": 2, "SAFEMIGRATE_CONNECT_RETRIES": 0}
    wrong_login = (
        secret_url.set(password=WRONG_PASSWORD)  # MariaDB checks it
        if db_kind == "mysql"
        else secret_url.set(username=f"{USER}_none")  # trust: only a missing role is refused
    )
    ran = run.expect(wrong_login, 3, "db", *command)
    lines = ran.stderr.strip().splitlines()
    assert len(lines) == 2, str(ran)
    assert lines[0].startswith("Error: cannot connect to ") and "***" in lines[0], str(ran)
    assert lines[1].startswith("  help: the server is up and refused the login"), str(ran)
    assert ran.stdout.strip() == "", str(ran)
    assert list((run.migrations / "versions").glob("*.py")) == [], str(ran)


def style_urls(style: str, database_url: str) -> tuple[URL, URL]:
    """The test's database reached through the style's login: the right and a wrong password."""
    url = make_url(database_url)
    if style == "query-string":
        on = url.set(username=QUERY_USER)
        return (
            on.update_query_dict({"password": QUERY_PASSWORD}),
            on.update_query_dict({"password": WRONG_QUERY_PASSWORD}),
        )
    assert style == "one-letter"
    on = url.set(username=ONE_LETTER_USER)
    return on.set(password=ONE_LETTER), on.set(password=WRONG_ONE_LETTER)


def failure_errors(url: URL) -> list[str]:
    return [str(r["error"]) for r in ledger_rows(text_of(url)) if not r["success"]]


@SERVERS
@pytest.mark.parametrize("style", ["query-string", "one-letter"])
def test_query_string_and_one_letter_passwords_are_never_shown(
    runner: Runner,
    db_kind: DbKind,
    database_url: str,
    more_logins: dict[ServerKind, URL],
    style: str,
) -> None:
    """Issue #13 items 4 and 5, through every command and output format, on real logins.

    ``?password=`` must be masked wherever a URL is shown (and still reach the dump tool);
    the one-letter password must not show as a credential, nor mangle any message: the
    database's error text reaches the report, ``verify`` and the ledger intact.
    """
    run = runner
    url, wrong = style_urls(style, database_url)
    run.config = {
        "SAFEMIGRATE_BACKUP": True,
        "SAFEMIGRATE_LOCK_WAIT": 5,
        "SAFEMIGRATE_CONNECT_TIMEOUT": 2,
        "SAFEMIGRATE_CONNECT_RETRIES": 0,
    }
    write_history(run.migrations, count=3)
    for fmt in LINT_FORMATS:
        run.expect(url, 0, "db", "lint", "--pending", "--format", fmt)
    for fmt in FORMATS:
        run.expect(url, 0, "db", "safe-upgrade", "--dry-run", "--format", fmt)
        run.expect(url, 0, "db", "safe-upgrade", "--sql", "--format", fmt)
        run.expect(url, 0, "db", "auto-merge-heads", "--check", "--format", fmt)
    # No table yet, so no backup (issue #17 item 9); the next two runs are backed up.
    run.expect(url, 0, "db", "safe-upgrade", REVISIONS[0])
    run.expect(url, 0, "db", "safe-upgrade", REVISIONS[1])
    data = run.expect(url, 0, "db", "safe-upgrade", "--format", "json").json()
    assert data["to"] == [REVISIONS[2]] and data["backup"], data
    assert len(assert_private_backups(run.instance / "backups")) == 2
    for fmt in FORMATS:
        run.expect(url, 0, "db", "verify", "--format", fmt)
        run.expect(url, 0, "db", "verify", "--roundtrip", "--format", fmt)

    failing = write_revision(run.migrations, revision_source(3, extra_upgrade=FAIL_AFTER_COMMIT))
    four = TABLES[:4]
    failed = run.expect(url, 4, "db", "safe-upgrade", "--format", "json", tables=four).json()
    assert failed["stage"] == "upgrade", failed
    (error,) = failure_errors(url)
    exists = "does not exist" if db_kind == "postgresql" else "doesn't exist"
    # The database's own words, undamaged, in the ledger and in every report of it.
    assert "no_such_table" in error and exists in error and "***" not in error, error
    for fmt in FORMATS:
        run.expect(url, 3, "db", "safe-upgrade", "--format", fmt, tables=four)
        shown = run.expect(url, 1, "db", "verify", "--format", fmt, tables=four)
        assert "failed-migration" in shown.stdout and exists in shown.stdout, str(shown)
        if fmt == "json":  # the URL is shown, masked
            problems = shown.json()["problems"]
            (problem,) = [p for p in problems if p["check"] == "failed-migration"]
            masked = ":***@" if style == "one-letter" else "password=***"
            assert masked in problem["database"], problem
    failing.write_text(revision_source(3))
    resolved = run.expect(
        url, 0, "db", "safe-upgrade", "--resolved", REVISIONS[3], "--format", "json", tables=four
    )
    assert resolved.json()["to"] == [REVISIONS[3]]

    # A refused login (MariaDB checks the password; on trust PostgreSQL it connects).
    code = 3 if db_kind == "mysql" else 0
    for fmt in FORMATS:
        ran = run.expect(wrong, code, "db", "safe-upgrade", "--format", fmt, tables=four)
        if fmt == "json" and code == 3:
            assert [p["check"] for p in ran.json()["problems"]] == ["database-unreachable"]
        run.expect(wrong, {0, 1, 3}, "db", "verify", "--format", fmt, tables=four)
    assert_nothing_written_holds_it(run.root, url)


# --------------------------------------------------------------------------- no shell, no argv


@SERVERS
def test_dump_tools_get_the_password_through_the_environment_only(
    secret_url: URL,
    db_kind: DbKind,
    tmp_path: Path,
    track_app: AppTracker,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every child process of a backed-up run: no shell, an argument list, no password in it."""
    spawned: list[tuple[Any, dict[str, Any]]] = []
    real_popen = subprocess.Popen

    class SpyPopen(real_popen):  # type: ignore[misc, valid-type]
        def __init__(self, args: Any, *rest: Any, **kwargs: Any) -> None:
            spawned.append((args, {**kwargs, "positional": rest}))
            super().__init__(args, *rest, **kwargs)

    migrations = tmp_path / "migrations"
    app = track_app(
        build_app(text_of(secret_url), migrations, tmp_path / "instance", {}, TABLES[:3])
    )
    init_migrations(app)
    write_history(migrations, count=3)
    # A database without tables is not backed up (issue #17 item 9): make the first table.
    first = invoke(app, "db", "safe-upgrade", REVISIONS[0], "--format", "json")
    assert first.exit_code == 0, first.output
    monkeypatch.setattr(subprocess, "Popen", SpyPopen)
    result = invoke(app, "db", "safe-upgrade", "--backup", "--format", "json")
    monkeypatch.undo()
    assert result.exit_code == 0, result.output
    assert_hidden("the safe-upgrade report", result.output)

    tool = "pg_dump" if db_kind == "postgresql" else "dump"
    dumps = [(a, k) for a, k in spawned if tool in Path(str(a[0])).name]
    assert len(dumps) == 1, spawned
    for args, kwargs in spawned:
        assert not kwargs.get("shell"), (args, kwargs)
        assert not kwargs["positional"], "Popen's options must be keywords"
        assert isinstance(args, list) and all(isinstance(a, str) for a in args), args
        assert_hidden(f"the argv {args}", " ".join(args))
    ((args, kwargs),) = dumps
    variable = "PGPASSWORD" if db_kind == "postgresql" else "MYSQL_PWD"
    assert kwargs["env"][variable] == PASSWORD
    assert_private_backups(tmp_path / "instance" / "backups")


#: Ways to run a command through a shell (or spawn one) that the package must never use.
SHELL_CALLS = {
    ("os", "system"),
    ("os", "popen"),
    ("subprocess", "getoutput"),
    ("subprocess", "getstatusoutput"),
    ("os", "execl"),
    ("os", "execlp"),
    ("os", "spawnl"),
    ("os", "spawnlp"),
}


def shell_uses(path: Path, source: str | None = None) -> list[str]:
    text = path.read_text(encoding="utf-8") if source is None else source
    tree = ast.parse(text, filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            for keyword in node.keywords:
                if keyword.arg == "shell" and not (
                    isinstance(keyword.value, ast.Constant) and keyword.value.value is False
                ):
                    found.append(f"{path}:{node.lineno}: shell={ast.unparse(keyword.value)}")
            func = node.func
            if (
                isinstance(func, ast.Attribute)
                and isinstance(func.value, ast.Name)
                and (func.value.id, func.attr) in SHELL_CALLS
            ):
                found.append(f"{path}:{node.lineno}: {func.value.id}.{func.attr}()")
        if isinstance(node, ast.ImportFrom) and node.module in {"os", "subprocess"}:
            for alias in node.names:
                if (node.module, alias.name) in SHELL_CALLS:
                    found.append(f"{path}:{node.lineno}: from {node.module} import {alias.name}")
    return found


def test_the_package_never_runs_a_shell() -> None:
    package = Path(flask_safemigrate.__file__).parent
    sources = sorted(package.rglob("*.py"))
    assert len(sources) > 20
    found = [use for path in sources for use in shell_uses(path)]
    assert found == []
    # The scan finds what it looks for.
    probe = (
        "import os, subprocess\nfrom subprocess import getoutput\nos.system('x')\n"
        "subprocess.run('x', shell=True)\nsubprocess.run(['x'], shell=False)\nos.popen('x')\n"
    )
    assert len(shell_uses(Path("probe.py"), probe)) == 4
