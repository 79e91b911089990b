"""A fleet project on disk for the fleet tests and the benchmark: an importable app module
whose ``SAFEMIGRATE_TARGETS`` reads a JSON file, its migrations, and a short history.

The fleet's children are real ``python -m flask --app fleetapp:create_app`` processes, so
the app is a module file (``fleetapp.py`` in the project folder, the children's working
directory), configured by environment variables the test passes to the parent.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import flask_migrate
from flask import Flask
from flask_sqlalchemy import SQLAlchemy

from tests.support.revisions import revision_script, write_revision

APP_SOURCE = """
import contextlib
import json
import os

from flask import Flask
from flask_sqlalchemy import SQLAlchemy

from flask_safemigrate import SafeMigrate

db = SQLAlchemy()


class Item(db.Model):
    __tablename__ = "items"
    id = db.Column(db.Integer, primary_key=True)
    name = db.Column(db.String(50), index=True)
    NOTE


def create_app():
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = os.environ["FLEET_APP_URL"]
    app.config["SAFEMIGRATE_TARGETS"] = "fleetapp:tenants"
    app.config["SAFEMIGRATE_BACKUP"] = False
    app.config["SAFEMIGRATE_LOCK_WAIT"] = 60
    if os.environ.get("FLEET_CONNECTIONS"):
        app.config["SAFEMIGRATE_FLEET_CONNECTIONS"] = os.environ["FLEET_CONNECTIONS"]
    if os.environ.get("FLEET_CONTROL_URL"):
        app.config["SAFEMIGRATE_FLEET_URL"] = os.environ["FLEET_CONTROL_URL"]
    if os.environ.get("FLEET_FORK"):
        app.config["SAFEMIGRATE_FLEET_FORK"] = os.environ["FLEET_FORK"]
    db.init_app(app)
    SafeMigrate(app, db, directory=os.environ["FLEET_MIGRATIONS"])
    return app


def tenants():
    with open(os.environ["FLEET_TARGETS_FILE"], encoding="utf-8") as handle:
        return json.load(handle)


def _parent_of(pid):
    with open(f"/proc/{pid}/stat", encoding="utf-8") as handle:
        return int(handle.read().rpartition(")")[2].split()[1])


def _cmdline(pid):
    with open(f"/proc/{pid}/cmdline", "rb") as handle:
        return handle.read().decode().split("\\0")


if os.environ.get("FLEET_PROBE"):  # which process imports the app, and from what parent
    with open(os.path.join(os.environ["FLEET_PROBE"], f"{os.getpid()}.json"), "w") as out:
        parent = os.getppid()
        json.dump(
            {
                "pid": os.getpid(),
                "cmdline": _cmdline(os.getpid()),
                "parent": parent,
                "parent_cmdline": _cmdline(parent),
                "grandparent": _parent_of(parent),
            },
            out,
        )
"""

#: The history's revisions, oldest first: items, then items.note, then the index on name.
REVISIONS = ("f1000001", "f1000002", "f1000003")


def write_project(folder: Path, *, revisions: int = 3) -> Path:
    """``fleetapp.py`` and an initialised migrations directory with the short history
    (``revisions`` >= 3; more are no-op steps after the third); returns the migrations."""
    note = "note = db.Column(db.String(100))"
    (folder / "fleetapp.py").write_text(APP_SOURCE.replace("NOTE", note), encoding="utf-8")
    migrations = folder / "migrations"
    # What ``flask --app fleetapp:create_app db init`` writes (SafeMigrate leaves ``init`` to
    # Flask-Migrate: the stock template), without an interpreter started for it.
    app = Flask("fleetapp")
    app.config["SQLALCHEMY_DATABASE_URI"] = "sqlite://"
    flask_migrate.Migrate(app, SQLAlchemy(app), directory=str(migrations))
    with app.app_context():
        flask_migrate.init(str(migrations))
    write_history(migrations, revisions)
    return migrations


def write_history(
    migrations: Path,
    revisions: int = 3,
    *,
    fail_marker: bool = False,
    crash_marker: bool = False,
    hold_until: Path | None = None,
) -> None:
    """The revisions; with ``fail_marker`` the second one raises in a target holding a
    table ``fail_here`` (so one tenant fails while the others pass); with ``crash_marker``
    it kills its own process (SIGKILL) in a target holding a table ``die_here``; with
    ``hold_until`` it waits until that file exists (a target that is surely running when a
    test signals its fleet, however fast the machine)."""
    ids = [*REVISIONS, *(f"f{n:07d}" for n in range(1000004, 1000001 + revisions))]
    check = (
        'if sa.inspect(op.get_bind()).has_table("fail_here"):\n'
        '    raise RuntimeError("this tenant refuses the revision")\n'
        if fail_marker
        else ""
    )
    if crash_marker:
        check += (
            'if sa.inspect(op.get_bind()).has_table("die_here"):\n'
            "    import os, signal\n"
            "    os.kill(os.getpid(), signal.SIGKILL)\n"
        )
    if hold_until is not None:
        check += (
            "import os, time\n"
            f"while not os.path.exists({str(hold_until)!r}):\n"
            "    time.sleep(0.02)\n"
        )
    bodies = [
        'op.create_table("items", sa.Column("id", sa.Integer, primary_key=True),'
        ' sa.Column("name", sa.String(50)))',
        check + 'op.add_column("items", sa.Column("note", sa.String(100)))',
        'op.create_index("ix_items_name", "items", ["name"])',
    ]
    for position, rev in enumerate(ids):
        down = ids[position - 1] if position else None
        upgrade = bodies[position] if position < len(bodies) else "pass"
        write_revision(migrations, revision_script(rev, down, upgrade, message=f"fleet {rev}"))


def sqlite_url_of(path: Path) -> str:
    return "sqlite:///" + str(path)


def write_targets(folder: Path, targets: Sequence[Any]) -> Path:
    path = folder / "targets.json"
    path.write_text(json.dumps(list(targets)), encoding="utf-8")
    return path


def environment(folder: Path, app_url: str, targets: Sequence[Any], **extra: str) -> dict[str, str]:
    """The environment of a fleet command run from ``folder``."""
    targets_file = write_targets(folder, targets)
    env = {
        **os.environ,
        "FLEET_APP_URL": app_url,
        "FLEET_MIGRATIONS": str(folder / "migrations"),
        "FLEET_TARGETS_FILE": str(targets_file),
        "PYTHONPATH": os.pathsep.join([str(folder), os.environ.get("PYTHONPATH", "")]),
        **extra,
    }
    env.pop("FLASK_APP", None)
    return env


def fleet_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "flask", "--app", "fleetapp:create_app", "db", *args]


def start(folder: Path, env: dict[str, str], command: list[str]) -> subprocess.Popen[str]:
    """``command`` (a :func:`fleet_command`) started from ``folder``, its output captured as
    text: a fleet parent, or a pod of a sharded Job, the test watches while it runs."""
    return subprocess.Popen(
        command, cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def run_fleet(
    folder: Path, env: dict[str, str], *args: str, timeout: float = 600
) -> tuple[int, dict[str, Any], str]:
    """``flask db safe-upgrade --fleet --format json ARGS``: exit code, report, stderr."""
    done = subprocess.run(
        fleet_command("safe-upgrade", "--fleet", "--format", "json", *args),
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError:
        raise AssertionError(
            f"not JSON (exit {done.returncode}):\n{done.stdout}\n{done.stderr}"
        ) from None
    return done.returncode, report, done.stderr


def children_of(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (read from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rpartition(")")[2].split()
            if int(fields[1]) == pid:
                found.append(int(stat.parent.name))
    return found


def fork_servers_of(pid: int) -> list[int]:
    """The fork servers (``flask_safemigrate.forking``) among ``pid``'s children."""
    found = []
    for child in children_of(pid):
        with contextlib.suppress(OSError):
            if b"flask_safemigrate.forking.server" in Path(f"/proc/{child}/cmdline").read_bytes():
                found.append(child)
    return found


def targets_of(pid: int) -> list[int]:
    """The target processes a fleet parent ``pid`` runs: its children, or the children of
    its fork server, which is not one of them."""
    servers = fork_servers_of(pid)
    plain = [child for child in children_of(pid) if child not in servers]
    return plain + [target for server in servers for target in children_of(server)]
