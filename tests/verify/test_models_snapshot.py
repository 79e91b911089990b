"""The models snapshot (issue #19 step 1): ``flask db snapshot``, the refresh ``flask db
migrate`` makes, ``models-snapshot-stale``, and a file that is the same in every process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import sqlalchemy as sa

from flask_safemigrate import models_snapshot
from flask_safemigrate.models_snapshot import files
from flask_safemigrate.project import setup_of
from tests.support.apps import REPO_ROOT
from tests.support.cli import invoke, invoke_ok
from tests.support.verify import VerifyApp, base_models, problems, run_verify


def rich_models(metadata: sa.MetaData) -> None:
    """Every kind of fact the snapshot keeps, with several sets (constraints, indexes) whose
    iteration order depends on the hash seed."""
    base_models(metadata)
    sa.Table(
        "orders",
        metadata,
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("code", sa.String(12), nullable=False, unique=True),
        sa.Column("total", sa.Numeric(10, 2), nullable=False, server_default="0"),
        sa.Column("status", sa.Enum("new", "paid", "sent", name="order_status"), nullable=False),
        sa.Column("note", sa.Text),
        sa.Column("created", sa.DateTime(timezone=True), default=sa.func.now()),
        sa.Column("touched", sa.DateTime, onupdate=sa.func.now()),
        sa.Column("qty", sa.SmallInteger, nullable=False, default=1),
        *(sa.Column(f"c{n}", sa.Integer) for n in range(8)),
        *(
            sa.UniqueConstraint(f"c{n}", f"c{n + 1}", name=f"uq_orders_c{n}")
            for n in range(0, 8, 2)
        ),
        *(sa.Index(f"ix_orders_c{n}", f"c{n}", unique=n % 2 == 1) for n in range(8)),
        sa.CheckConstraint("qty > 0", name="ck_orders_qty"),
        sa.CheckConstraint("total >= 0", name="ck_orders_total"),
    )


def test_the_snapshot_describes_what_the_old_code_relies_on(
    verify_app: VerifyApp, tmp_path: Path
) -> None:
    app = verify_app(f"sqlite:///{tmp_path / 'app.db'}", models=rich_models)
    with app.app_context():
        data = models_snapshot.models_of(setup_of(app))
    [database] = data["databases"]
    assert database["bind"] is None
    orders = database["tables"]["orders"]
    columns = orders["columns"]
    assert columns["id"] == {"type": "bigint", "nullable": False, "insert_default": "autoincrement"}
    assert columns["code"] == {"type": "string", "length": 12, "nullable": False}
    assert columns["total"] == {
        "type": "numeric",
        "precision": 10,
        "scale": 2,
        "nullable": False,
        "server_default": "0",
    }
    assert columns["status"] == {"type": "enum", "enum": ["new", "paid", "sent"], "nullable": False}
    assert columns["note"] == {"type": "text", "nullable": True}
    assert columns["created"]["insert_default"] == "python"
    assert columns["created"]["timezone"] is True
    assert columns["touched"] == {"type": "datetime", "nullable": True, "onupdate": True}
    assert columns["qty"]["type"] == "smallint"
    assert orders["primary_key"] == ["id"]
    assert ["code"] in orders["unique"]
    assert ["c0", "c1"] in orders["unique"]
    assert ["c1"] in orders["unique"]  # a unique index
    assert ["c0"] not in orders["unique"]  # a plain index is not a key
    assert orders["unique"] == sorted(orders["unique"])
    assert orders["checks"] == ["qty > 0", "total >= 0"]
    assert database["tables"]["users"]["unique"] == [["email"]]


def test_the_file_is_one_line_per_column() -> None:
    text = files.render(
        {
            "format": 1,
            "databases": [{"bind": None, "tables": {"t": {"columns": {"a": {"type": "x"}}}}}],
        }
    )
    assert '            "a": {"type": "x"}\n' in text
    assert text.endswith("}\n")
    assert json.loads(text)["databases"][0]["tables"]["t"]["columns"]["a"] == {"type": "x"}


SNAPSHOT_PROGRAM = """
import sys
from pathlib import Path
import flask_migrate
from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from flask_safemigrate import SafeMigrate, models_snapshot
from tests.verify.test_models_snapshot import rich_models

app = Flask(__name__)
app.config["SQLALCHEMY_DATABASE_URI"] = "sqlite://"
db = SQLAlchemy()
rich_models(db.metadata)
db.init_app(app)
SafeMigrate(app, db, directory=sys.argv[1])
with app.app_context():
    flask_migrate.init(sys.argv[1])
models_snapshot.take(app)
"""


def test_the_file_is_byte_identical_across_runs_and_hash_seeds(tmp_path: Path) -> None:
    # The four interpreters start together (each is mostly its imports, a second or more of
    # waiting one after the other); each writes its own folder.
    runs = {}
    for seed in ("0", "1", "2", "random"):
        directory = tmp_path / f"migrations-{seed}"
        runs[directory] = subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(SNAPSHOT_PROGRAM), str(directory)],
            cwd=REPO_ROOT,
            env={**os.environ, "PYTHONHASHSEED": seed},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
    outputs = []
    for directory, process in runs.items():
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, (out + err).decode(errors="replace")
        outputs.append((directory / "models.snapshot.json").read_bytes())
    assert len(set(outputs)) == 1
    assert b'"c0", "c1"' in outputs[0]


def test_flask_db_snapshot_writes_the_file_atomically(
    verify_app: VerifyApp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = verify_app(f"sqlite:///{tmp_path / 'app.db'}")
    directory = Path(app.extensions["migrate"].directory)
    result = invoke_ok(app, "db", "snapshot")
    path = directory / "models.snapshot.json"
    assert result.stdout == f"Wrote {path} (2 tables).\n"
    before = path.read_bytes()
    assert json.loads(before)["format"] == 1
    assert invoke_ok(app, "db", "snapshot").stdout.startswith("Unchanged: ")
    report = json.loads(invoke_ok(app, "db", "snapshot", "--format", "json").stdout)
    assert report == {
        "schema_version": 1,
        "ok": True,
        "path": str(path),
        "changed": False,
        "tables": 2,
        "problems": [],
    }
    # A write that fails half-way (the disk fills while syncing) leaves the old file whole.
    app.extensions["migrate"].db.metadata.tables["users"].append_column(
        sa.Column("age", sa.Integer)
    )

    def full(_fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    failed = invoke(app, "db", "snapshot")
    assert failed.exit_code == 2
    assert failed.stderr.splitlines()[0] == (f"Error: cannot write {path}: No space left on device")
    assert path.read_bytes() == before
    assert sorted(p.name for p in directory.iterdir() if p.name.startswith(".")) == []


@pytest.mark.usefixtures("db_kind")
def test_flask_db_migrate_refreshes_the_snapshot(verify_app: VerifyApp, database_url: str) -> None:
    app = verify_app(database_url, scripts=[])
    directory = Path(app.extensions["migrate"].directory)
    path = directory / "models.snapshot.json"
    invoke_ok(app, "db", "migrate", "-m", "create users and items")
    with app.app_context():
        expected = models_snapshot.render(models_snapshot.models_of(setup_of(app)))
    assert path.read_text(encoding="utf-8") == expected
    assert set(json.loads(expected)["databases"][0]["tables"]) == {"users", "items"}
    assert problems(run_verify(app, "--no-db")[1], "models-snapshot-stale") == []
    # Nothing changed: no revision, and the file is left as it is.
    path.write_text(path.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    invoke_ok(app, "db", "upgrade")
    invoke_ok(app, "db", "migrate", "-m", "nothing")
    assert path.read_text(encoding="utf-8") == expected + "\n"


@pytest.mark.usefixtures("db_kind")
def test_verify_reports_a_stale_snapshot_only_when_one_is_committed(
    verify_app: VerifyApp, database_url: str
) -> None:
    app = verify_app(database_url)
    invoke_ok(app, "db", "upgrade")
    code, data, _ = run_verify(app)
    assert (code, problems(data)) == (0, [])  # no snapshot: nothing asked
    invoke_ok(app, "db", "snapshot")
    assert run_verify(app)[0] == 0
    path = Path(app.extensions["migrate"].directory) / "models.snapshot.json"
    fresh = path.read_text(encoding="utf-8")
    # Laid out differently (a Windows checkout's line ends) is not stale.
    path.write_bytes(fresh.replace("\n", "\r\n").encode())
    assert run_verify(app)[0] == 0
    edited = json.loads(fresh)
    edited["databases"][0]["tables"]["users"]["columns"]["email"]["length"] = 40
    path.write_text(json.dumps(edited), encoding="utf-8")
    code, data, _ = run_verify(app)
    [stale] = problems(data, "models-snapshot-stale")
    assert code == 1
    assert stale["tables"] == ["users"]
    assert stale["message"].endswith("is not the snapshot of the models (tables users differ)")
    assert "run `flask db snapshot` and commit" in stale["help"]
    path.write_text("{not json", encoding="utf-8")
    [broken] = problems(run_verify(app)[1], "models-snapshot-stale")
    assert "cannot be read: not JSON" in broken["message"]
