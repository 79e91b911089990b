"""Two apps share one PostgreSQL database in two schemas and migrate at the same time.

Same table names, different migrations directories, different SAFEMIGRATE_SCHEMA: neither sees
the other's tables, versions, ledger or lock.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import textwrap
from pathlib import Path

from flask_safemigrate import locks
from tests.support import fork_server as forked
from tests.support.apps import REPO_ROOT
from tests.support.cli import FLASK
from tests.support.databases import scalars, tables_by_schema
from tests.support.revisions import revision_script, write_revision
from tests.support.timing import TIMING

pytestmark = TIMING

SCHEMAS = ("app_a", "app_b")
TABLES = ("accounts", "orders", "payments", "refunds")
REPLICAS = 3  # per app

APP_MODULE = """
import os

import sqlalchemy as sa
from flask import Flask
from flask_sqlalchemy import SQLAlchemy

from flask_safemigrate import SafeMigrate

db = SQLAlchemy(metadata=sa.MetaData(schema=os.environ["SM_SCHEMA"]))
for name in {tables!r}:
    sa.Table(
        name,
        db.metadata,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=50), nullable=True),
        sa.PrimaryKeyConstraint("id", name=f"pk_{{name}}"),
    )


def create_app():
    app = Flask(__name__, instance_path=os.environ["SM_INSTANCE"])
    app.config["SQLALCHEMY_DATABASE_URI"] = os.environ["SM_DATABASE_URL"]
    app.config["SAFEMIGRATE_SCHEMA"] = os.environ["SM_SCHEMA"]
    app.config["SAFEMIGRATE_LOCK_WAIT"] = os.environ.get("SM_LOCK_WAIT", "600")
    db.init_app(app)
    SafeMigrate(app, db, directory=os.environ["SM_MIGRATIONS"])
    return app
"""


def _revision(schema: str, index: int) -> str:
    table = TABLES[index]
    return revision_script(
        f"{schema}_{index}",
        f"{schema}_{index - 1}" if index else None,
        f"""
        time.sleep(0.2)  # long enough for the replicas to overlap
        if guards.table_missing("{table}", schema="{schema}"):
            op.create_table(
                "{table}",
                sa.Column("id", sa.Integer(), nullable=False),
                sa.Column("name", sa.String(length=50), nullable=True),
                sa.PrimaryKeyConstraint("id", name="pk_{table}"),
                schema="{schema}",
            )
        """,
        f"""
        if guards.table_exists("{table}", schema="{schema}"):
            op.drop_table("{table}", schema="{schema}")
        """,
        message=f"create the {table} table",
        header="import time\n\nfrom flask_safemigrate import guards\n",
    )


def _apps(tmp_path: Path, database_url: str) -> dict[str, dict[str, str]]:
    """The environment of each app's ``flask`` processes, its migrations initialised."""
    (tmp_path / "schema_app.py").write_text(textwrap.dedent(APP_MODULE.format(tables=TABLES)))
    envs = {}
    for schema in SCHEMAS:
        migrations = tmp_path / f"migrations_{schema}"
        env = {
            **os.environ,
            "SM_SCHEMA": schema,
            "SM_INSTANCE": str(tmp_path / f"instance_{schema}"),
            "SM_DATABASE_URL": database_url,
            "SM_MIGRATIONS": str(migrations),
            "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO_ROOT)]),
            "NO_COLOR": "1",
        }
        init = _flask(env, tmp_path, "db", "init", "-d", str(migrations))
        assert init.returncode == 0, init.stderr
        for index in range(len(TABLES)):
            write_revision(migrations, _revision(schema, index))
        envs[schema] = env
    return envs


_RUNS = itertools.count()


def _flask(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return forked.run(
        [str(FLASK), "--app", "schema_app:create_app", *args],
        env=env,
        cwd=cwd,
        outputs=cwd / "runs",
        name=f"flask{next(_RUNS)}",
    )


def test_two_apps_in_two_schemas_migrate_at_the_same_time(
    tmp_path: Path, database_url: str
) -> None:
    envs = _apps(tmp_path, database_url)
    processes = [
        (
            schema,
            forked.start(
                [str(FLASK), "--app", "schema_app:create_app", "db", "safe-upgrade"],
                env=envs[schema],
                cwd=tmp_path,
                outputs=tmp_path / "runs",
                name=f"{schema}-{replica}",
            ),
        )
        for replica in range(REPLICAS)
        for schema in SCHEMAS
    ]
    outputs = []
    for schema, process in processes:
        stdout, stderr = process.communicate(timeout=300)
        outputs.append((schema, process.returncode, stdout + stderr))

    for schema, code, text in outputs:
        assert code == 0, f"{schema}: exit {code}\n{text}"
        assert "Traceback" not in text and "error[" not in text, text
    tables = tables_by_schema(database_url)
    assert tables["public"] == set()
    for schema in SCHEMAS:
        assert tables[schema] == {
            *TABLES,
            "alembic_version",
            "safemigrate_ledger",
            "safemigrate_release",  # the release each app deployed, in its own schema
        }
        versions = scalars(database_url, f"SELECT version_num FROM {schema}.alembic_version")
        assert versions == [f"{schema}_{len(TABLES) - 1}"]
        ledger = scalars(
            database_url,
            f"SELECT revision FROM {schema}.safemigrate_ledger"
            " WHERE direction = 'upgrade' AND success ORDER BY id",
        )
        assert ledger == [f"{schema}_{index}" for index in range(len(TABLES))]  # once each
    for schema in SCHEMAS:  # each app's verify sees only its own schema: clean
        verify = _flask(envs[schema], tmp_path, "db", "verify")
        assert verify.returncode == 0, verify.stdout + verify.stderr


def test_one_apps_lock_does_not_hold_up_the_other(tmp_path: Path, database_url: str) -> None:
    envs = _apps(tmp_path, database_url)
    held = locks.lock_name(database_url, schema="app_a")
    with locks.migration_lock(database_url, name=held, wait=0):
        blocked = _flask({**envs["app_a"], "SM_LOCK_WAIT": "0"}, tmp_path, "db", "safe-upgrade")
        free = _flask({**envs["app_b"], "SM_LOCK_WAIT": "0"}, tmp_path, "db", "safe-upgrade")

    assert blocked.returncode == 5, blocked.stdout + blocked.stderr
    assert free.returncode == 0, free.stdout + free.stderr
    tables = tables_by_schema(database_url)
    assert set(TABLES) <= tables["app_b"]
    assert "app_a" not in tables or not set(TABLES) & tables["app_a"]
