"""Eight app replicas run ``flask db safe-upgrade`` at once against one database."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

from tests.support import fork_server as forked
from tests.support.apps import REPO_ROOT
from tests.support.cli import FLASK
from tests.support.revisions import write_revision
from tests.support.timing import TIMING
from tests.upgrade.histories import REVISIONS, TABLES, ledger_rows, revision_source, versions_of

pytestmark = TIMING

REPLICAS = 8

APP_MODULE = """
import os

import sqlalchemy as sa
from flask import Flask
from flask_sqlalchemy import SQLAlchemy

from flask_safemigrate import SafeMigrate

db = SQLAlchemy()
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
    app.config["SAFEMIGRATE_BACKUP"] = False
    db.init_app(app)
    SafeMigrate(app, db, directory=os.environ["SM_MIGRATIONS"])
    return app
"""


def _replica_app(tmp_path: Path, database_url: str) -> dict[str, str]:
    (tmp_path / "replica_app.py").write_text(textwrap.dedent(APP_MODULE.format(tables=TABLES)))
    migrations = tmp_path / "migrations"
    env = {
        **os.environ,
        "SM_INSTANCE": str(tmp_path / "instance"),
        "SM_DATABASE_URL": database_url,
        "SM_MIGRATIONS": str(migrations),
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO_ROOT)]),
        "NO_COLOR": "1",
    }
    init = forked.run(
        [str(FLASK), "--app", "replica_app:create_app", "db", "init", "-d", str(migrations)],
        env=env,
        cwd=tmp_path,
        outputs=tmp_path / "runs",
        name="init",
    )
    assert init.returncode == 0, init.stderr
    # each revision takes a moment, so the replicas really overlap
    for index in range(len(REVISIONS)):
        write_revision(
            migrations, revision_source(index, extra_upgrade="import time\ntime.sleep(0.2)")
        )
    return env


def test_eight_replicas_apply_each_revision_exactly_once(tmp_path: Path, database_url: str) -> None:
    env = _replica_app(tmp_path, database_url)
    replicas = [
        forked.start(
            [str(FLASK), "--app", "replica_app:create_app", "db", "safe-upgrade"],
            env=env,
            cwd=tmp_path,
            outputs=tmp_path / "runs",
            name=f"replica{index}",
        )
        for index in range(REPLICAS)
    ]
    outputs = []
    for process in replicas:
        stdout, stderr = process.communicate(timeout=300)
        outputs.append((process.returncode, stdout, stderr))

    for code, stdout, stderr in outputs:
        assert code == 0, f"exit {code}\n{stdout}\n{stderr}"
        text = stdout + stderr
        for bad in ("Traceback", "error[", "Error:", "ERROR"):
            assert bad not in text, text
    rows = ledger_rows(database_url)
    applied = [r["revision"] for r in rows if r["direction"] == "upgrade" and r["success"]]
    assert sorted(applied) == sorted(REVISIONS)  # each exactly once
    assert all(r["success"] for r in rows)
    assert versions_of(database_url) == [REVISIONS[-1]]
    finals = [stdout.strip().splitlines()[-1] for _, stdout, _ in outputs]
    applied_by_one = [line for line in finals if line.startswith("Applied ")]
    applied_lines = sum(
        stdout.count("create the ") for _, stdout, _ in outputs
    )  # one progress line per revision applied, across all replicas
    assert applied_lines == len(REVISIONS), finals
    assert applied_by_one, finals
    for line in finals:
        assert line.startswith(("Applied ", "Another migrator applied", "Already at")), line
