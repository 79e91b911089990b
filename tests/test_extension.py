"""SafeMigrate's registration: both orders with Migrate, app factories, apps kept apart."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import flask_migrate
import flask_migrate.cli
import pytest
import sqlalchemy as sa
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy

from flask_safemigrate import SafeMigrate
from flask_safemigrate.cli import DbGroup
from flask_safemigrate.errors import ConfigError
from tests.support.revisions import revision_script, write_revision

MakeApp = Callable[..., tuple[Flask, SQLAlchemy]]

FLASK_MIGRATE_COMMANDS = {
    "branches",
    "check",
    "current",
    "downgrade",
    "edit",
    "heads",
    "history",
    "init",
    "list-templates",
    "merge",
    "migrate",
    "revision",
    "show",
    "stamp",
    "upgrade",
}


@pytest.fixture
def new_app(tmp_path: Path) -> Iterator[MakeApp]:
    """A plain app on a SQLite file, with its SQLAlchemy instance; engines disposed after."""
    apps: list[tuple[Flask, SQLAlchemy]] = []

    def make(name: str = "app") -> tuple[Flask, SQLAlchemy]:
        app = Flask(name, instance_path=str(tmp_path / name / "instance"))
        app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{tmp_path / name}.db"
        db = SQLAlchemy(app)
        apps.append((app, db))
        return app, db

    yield make
    for app, db in apps:
        with app.app_context():
            db.engine.dispose()


def help_commands(app: Flask, group: str = "db") -> set[str]:
    result = app.test_cli_runner().invoke(args=[group, "--help"])
    assert result.exit_code == 0, result.output
    listed = result.output.split("Commands:", 1)[1]
    return {line.split()[0] for line in listed.splitlines() if line.strip()}


def test_migrate_first_then_safemigrate(new_app: MakeApp, tmp_path: Path) -> None:
    app, db = new_app()
    migrate = Migrate(app, db, directory=str(tmp_path / "mig"))
    SafeMigrate(app, db)

    assert app.extensions["migrate"].migrate is migrate
    assert app.extensions["safemigrate"].migrations_directory(app) == tmp_path / "mig"
    assert isinstance(app.cli.commands["db"], DbGroup)
    assert help_commands(app) >= FLASK_MIGRATE_COMMANDS


def test_safemigrate_first_then_migrate(new_app: MakeApp, tmp_path: Path) -> None:
    app, db = new_app()
    SafeMigrate(app, db)
    migrate = Migrate(app, db, directory=str(tmp_path / "later"))

    # The later Migrate wins for Flask-Migrate's config, and `flask db` is still ours.
    assert app.extensions["migrate"].migrate is migrate
    assert isinstance(app.cli.commands["db"], DbGroup)
    assert app.cli.commands["db"] is not flask_migrate.cli.db
    assert help_commands(app) >= FLASK_MIGRATE_COMMANDS
    result = app.test_cli_runner().invoke(args=["db", "init"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "later" / "env.py").is_file()


def test_a_later_bare_migrate_keeps_safemigrates_directory(
    new_app: MakeApp, tmp_path: Path
) -> None:
    app, db = new_app()
    SafeMigrate(app, db, directory=tmp_path / "own")
    Migrate(app, db)  # its directory defaults to "migrations"

    assert app.extensions["safemigrate"].migrations_directory(app) == tmp_path / "own"
    assert app.extensions["migrate"].directory == str(tmp_path / "own")
    # Flask-Migrate's own commands use it too, not ./migrations.
    result = app.test_cli_runner().invoke(args=["db", "init"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "own" / "env.py").is_file()
    result = app.test_cli_runner().invoke(args=["db", "verify", "--no-db"])
    assert result.exit_code == 0, result.output


def test_a_later_migrate_with_its_own_directory_wins(new_app: MakeApp, tmp_path: Path) -> None:
    app, db = new_app()
    SafeMigrate(app, db, directory=tmp_path / "own")
    Migrate(app, db, directory=str(tmp_path / "later"))

    assert app.extensions["safemigrate"].migrations_directory(app) == tmp_path / "later"
    result = app.test_cli_runner().invoke(args=["db", "init"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "later" / "env.py").is_file()


def test_one_migrate_for_two_apps_keeps_each_apps_directory(
    new_app: MakeApp, tmp_path: Path
) -> None:
    migrate = Migrate()
    (app1, db1), (app2, db2) = new_app("one"), new_app("two")
    SafeMigrate(app1, db1, directory=tmp_path / "m1")
    SafeMigrate(app2, db2, directory=tmp_path / "m2")
    migrate.init_app(app1, db1)
    migrate.init_app(app2, db2)

    for app, name in ((app1, "m1"), (app2, "m2")):
        result = app.test_cli_runner().invoke(args=["db", "init"])
        assert result.exit_code == 0, result.output
        assert (tmp_path / name / "env.py").is_file()


def test_creates_migrate_with_options(new_app: MakeApp, tmp_path: Path) -> None:
    app, db = new_app()
    SafeMigrate(app, db, directory=tmp_path / "own", compare_type=False)

    config = app.extensions["migrate"]
    assert isinstance(config.migrate, flask_migrate.Migrate)
    assert config.directory == str(tmp_path / "own")
    assert config.configure_args["compare_type"] is False


def test_app_factory_pattern(tmp_path: Path) -> None:
    db = SQLAlchemy()
    safe = SafeMigrate()

    def create_app(name: str) -> Flask:
        app = Flask(name)
        app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{tmp_path / name}.db"
        app.config["SAFEMIGRATE_LOCK_WAIT"] = len(name)
        db.init_app(app)
        safe.init_app(app, db, directory=tmp_path / name / "migrations")
        return app

    first, second = create_app("a"), create_app("bb")
    assert first.extensions["safemigrate"] is safe is second.extensions["safemigrate"]
    assert safe.get_settings(first).lock_wait == 1
    assert safe.get_settings(second).lock_wait == 2
    with second.app_context():
        assert safe.settings.lock_wait == 2
        assert safe.migrations_directory() == tmp_path / "bb" / "migrations"
    for app in (first, second):
        with app.app_context():
            db.engine.dispose()


def test_two_apps_in_one_process_are_kept_apart(new_app: MakeApp, tmp_path: Path) -> None:
    base_commands = dict(flask_migrate.cli.db.commands)
    app1, db1 = new_app("one")
    app2, db2 = new_app("two")
    app1.config["SAFEMIGRATE_LOCK_WAIT"] = 7
    app2.config["SAFEMIGRATE_SCHEMA"] = "ops"
    SafeMigrate(app1, db1, directory=tmp_path / "m1")
    SafeMigrate(app2, db2, directory=tmp_path / "m2", command="database")

    group1, group2 = app1.cli.commands["db"], app2.cli.commands["database"]
    assert group1 is not group2
    assert "database" not in app1.cli.commands
    assert "db" not in app2.cli.commands
    # Flask-Migrate's shared group is untouched.
    assert dict(flask_migrate.cli.db.commands) == base_commands

    s1 = app1.extensions["safemigrate"].get_settings(app1)
    s2 = app2.extensions["safemigrate"].get_settings(app2)
    assert (s1.lock_wait, s1.schema) == (7, None)
    assert (s2.lock_wait, s2.schema) == (600, "ops")

    assert app1.test_cli_runner().invoke(args=["db", "init"]).exit_code == 0
    assert app2.test_cli_runner().invoke(args=["database", "init"]).exit_code == 0
    assert (tmp_path / "m1" / "alembic.ini").is_file()
    assert (tmp_path / "m2" / "alembic.ini").is_file()
    assert help_commands(app2, "database") >= FLASK_MIGRATE_COMMANDS


def test_second_init_app_is_refused(new_app: MakeApp) -> None:
    app, db = new_app()
    safe = SafeMigrate(app, db)
    with pytest.raises(RuntimeError, match="already been registered"):
        safe.init_app(app, db)
    with pytest.raises(RuntimeError, match="already been registered"):
        SafeMigrate(app, db)


def test_options_that_an_existing_migrate_would_ignore_are_refused(new_app: MakeApp) -> None:
    app, db = new_app()
    Migrate(app, db, directory="theirs")
    with pytest.raises(
        RuntimeError, match=r"directory='elsewhere' \(Migrate has 'theirs'\)\. Give each option"
    ):
        SafeMigrate(app, db, directory="elsewhere")
    assert "safemigrate" not in app.extensions
    assert app.extensions["migrate"].directory == "theirs"


def test_an_existing_migrate_on_the_same_directory_is_not_a_conflict(
    new_app: MakeApp, tmp_path: Path
) -> None:
    app, db = new_app()
    Migrate(app, db, directory=str(tmp_path / "own"))
    SafeMigrate(app, db, directory=tmp_path / "own")  # a Path, the same directory
    assert app.extensions["safemigrate"].migrations_directory(app) == tmp_path / "own"


def test_an_earlier_bare_migrate_yields_to_safemigrates_directory(
    new_app: MakeApp, tmp_path: Path
) -> None:
    app, db = new_app()
    migrate = Migrate(app, db)  # its directory defaults to "migrations"
    SafeMigrate(app, db, directory=tmp_path / "own")

    assert app.extensions["migrate"].migrate is migrate
    assert app.extensions["migrate"].directory == str(tmp_path / "own")
    assert app.extensions["safemigrate"].migrations_directory(app) == tmp_path / "own"


def test_a_shared_bare_migrate_yields_only_for_the_app_that_gave_a_directory(
    new_app: MakeApp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    migrate = Migrate()
    (app1, db1), (app2, db2) = new_app("one"), new_app("two")
    migrate.init_app(app1, db1)
    migrate.init_app(app2, db2)
    SafeMigrate(app1, db1, directory=tmp_path / "m1")
    SafeMigrate(app2, db2)

    assert migrate.directory == "migrations"  # the shared object is left alone
    assert app1.extensions["migrate"].directory == str(tmp_path / "m1")
    assert app2.extensions["migrate"].directory == "migrations"
    for app, where in ((app1, tmp_path / "m1"), (app2, tmp_path / "migrations")):
        result = app.test_cli_runner().invoke(args=["db", "init"])
        assert result.exit_code == 0, result.output
        assert (where / "env.py").is_file()


def _register(order: str, app: Flask, db: SQLAlchemy, directory: Path) -> None:
    """SafeMigrate given ``directory`` and a bare ``Migrate(app, db)``, in ``order``."""
    if order == "safemigrate-first":
        SafeMigrate(app, db, directory=directory)
        Migrate(app, db)
    else:
        Migrate(app, db)
        SafeMigrate(app, db, directory=directory)


@pytest.mark.parametrize("order", ["safemigrate-first", "migrate-first"])
def test_either_order_gives_every_command_safemigrates_directory(
    new_app: MakeApp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, order: str
) -> None:
    monkeypatch.chdir(tmp_path)  # ./migrations, had a command used it, would be here
    app, db = new_app()
    sa.Table("t", db.metadata, sa.Column("id", sa.Integer, primary_key=True))
    other = tmp_path / "other"
    _register(order, app, db, other)
    runner = app.test_cli_runner()

    def run(*args: str) -> str:
        result = runner.invoke(args=["db", *args])
        assert result.exit_code == 0, f"flask db {' '.join(args)}: {result.output}"
        return result.output

    def tables() -> set[str]:
        with app.app_context():
            return set(sa.inspect(db.engine).get_table_names())

    run("init")
    assert (other / "env.py").is_file()
    write_revision(
        other,
        revision_script(
            "a1",
            None,
            'op.create_table("t", sa.Column("id", sa.Integer, primary_key=True),'
            " if_not_exists=True)",
            'op.drop_table("t")',
        ),
    )

    run("upgrade")
    assert "t" in tables()
    run("downgrade", "base")
    assert "t" not in tables()
    output = run("safe-upgrade")
    assert "t" in tables()
    assert "a1" in output
    run("verify")
    assert not (tmp_path / "migrations").exists()


def test_missing_db_is_a_clear_error() -> None:
    app = Flask("nodb")
    with pytest.raises(RuntimeError, match="needs the Flask-SQLAlchemy instance"):
        SafeMigrate(app)


def test_settings_are_read_once_with_defaults_in_config(new_app: MakeApp) -> None:
    app, db = new_app()
    app.config["SAFEMIGRATE_CONNECT_RETRIES"] = "5"
    safe = SafeMigrate(app, db)
    assert app.config["SAFEMIGRATE_LOCK_TIMEOUT"] == 5
    app.config["SAFEMIGRATE_CONNECT_RETRIES"] = 9  # after init_app: not read again
    assert safe.get_settings(app).connect_retries == 5


def test_invalid_settings_surface_when_used(new_app: MakeApp) -> None:
    app, db = new_app()
    app.config["SAFEMIGRATE_LOCK_WAIT"] = "soon"
    safe = SafeMigrate(app, db)  # the app still starts: `flask` must not end in a traceback
    with pytest.raises(ConfigError, match="SAFEMIGRATE_LOCK_WAIT") as info:
        safe.get_settings(app)
    assert info.value.exit_code == 2


def test_flask_migrate_commands_work_through_our_group(new_app: MakeApp, tmp_path: Path) -> None:
    app, db = new_app()
    SafeMigrate(app, db, directory=tmp_path / "migrations")
    runner = app.test_cli_runner()
    assert runner.invoke(args=["db", "init"]).exit_code == 0
    result = runner.invoke(args=["db", "revision", "-m", "first"])
    assert result.exit_code == 0, result.output
    assert runner.invoke(args=["db", "upgrade"]).exit_code == 0
    with app.app_context():
        script = ScriptDirectory.from_config(app.extensions["migrate"].migrate.get_config())
        with db.engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_heads()
    assert current == tuple(script.get_heads())
    assert len(current) == 1
    # The group's own -d option still reaches Flask-Migrate's commands.
    other = tmp_path / "other"
    assert runner.invoke(args=["db", "init", "-d", str(other)]).exit_code == 0
    assert (other / "env.py").is_file()


def test_help_names_the_default_directory_without_changing_flask_migrate(
    new_app: MakeApp, tmp_path: Path
) -> None:
    """``flask db --help`` said ``(default is "migrations")`` for an app whose directory is
    another: the per-app group says where the default comes from; the shared one is kept."""
    app, db = new_app()
    SafeMigrate(app, db, directory=tmp_path / "own")
    runner = app.test_cli_runner()
    for command in ("safe-upgrade", "verify", "upgrade", "migrate", "init", "current"):
        text = " ".join(runner.invoke(args=["db", command, "--help"]).output.split())
        assert "SafeMigrate(directory=...)" in text, (command, text)
        assert '(default is "migrations")' not in text
    text = " ".join(runner.invoke(args=["db", "--help"]).output.split())
    assert "for every command [default: the app's: SafeMigrate(directory=...)" in text, text
    for shared in (flask_migrate.cli.db, flask_migrate.cli.db.commands["upgrade"]):
        (option,) = [p for p in shared.params if p.name == "directory"]
        assert option.help == 'Migration script directory (default is "migrations")'
