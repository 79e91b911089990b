"""Does ``flask db safe-upgrade`` reach head wherever ``flask db upgrade`` does, on real histories?

Run from the repository root::

    .venv/bin/python benchmarks/real_projects.py [--project NAME ...] [--database sqlite ...]
        [--postgres-url URL] [--mysql-url URL] [--json FILE]

Public Flask-Migrate projects whose wheel ships their ``migrations/`` folder, pinned below.
For each, once: ``pip download --no-deps`` of the wheel into the cache
(``SAFEMIGRATE_PROJECTS_CACHE``, default ``~/.cache/safemigrate-projects``) and a virtual
environment there with the wheel and its dependencies (their revisions import the project),
this repository (editable) and the two drivers. Nothing of theirs enters the repository.

For each project and database: a throw-away migrations folder with Flask-Migrate's stock
``env.py``, ``alembic.ini`` and ``script.py.mako`` (what ``flask db init`` writes) and a copy
of the project's ``versions/``; a minimal app of ours (no models) pointing at it; two fresh
databases. ``flask db upgrade`` (Flask-Migrate alone) on one, ``flask db safe-upgrade
--format json`` with default settings on the other. A line per pair says where each got:
the version table's revisions against the heads, the exit codes, the stage safe-upgrade
stopped in, and every error finding when it refused. The app has no models, so at head the
post-upgrade verification reports the history's tables as drift (exit 1): that is counted as
reaching head, not as a refusal.

Verdicts on each refusal are in ``benchmarks/real-projects-triage.md``. Exits 0 unless
safe-upgrade stops short of head on a pair where plain upgrade reached it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from _support import (
    DEFAULT_MYSQL_URL,
    DEFAULT_POSTGRES_URL,
    REPO_ROOT,
    Scratch,
    server_scratch,
    sqlite_scratch,
)
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

CACHE = Path(
    os.environ.get("SAFEMIGRATE_PROJECTS_CACHE", Path.home() / ".cache" / "safemigrate-projects")
)


@dataclass(frozen=True)
class Project:
    requirement: str  # pinned: the history under test does not move
    migrations: str  # the migrations folder inside the wheel
    #: What the project's own modules, imported by its revisions, need to import at all.
    env: tuple[tuple[str, str], ...] = ()
    setup: str = ""  # a line of create_app() before the extension (pass when none)

    @property
    def name(self) -> str:
        return self.requirement.split("==")[0]


PROJECTS = {
    p.name: p
    for p in (
        Project("ihatemoney==7.2.1", "ihatemoney/migrations"),
        # zou's config refuses to import with its default SECRET_KEY.
        Project("zou==1.0.97", "zou/migrations", env=(("SECRET_KEY", "trial-" + "x" * 40),)),
        # privacyidea's models read Flask-Babel's state when a revision imports them.
        Project(
            "privacyidea==3.14",
            "privacyidea/migrations",
            setup="__import__('flask_babel').Babel(app)",
        ),
    )
}

APP = '''\
"""The trial's app: no models, the project's versions folder. {what}"""
import os

from flask import Flask
from flask_sqlalchemy import SQLAlchemy
{imports}

db = SQLAlchemy()


def create_app():
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = os.environ["DATABASE_URL"]
    db.init_app(app)
    {setup}
    {extension}(app, db, directory=os.environ["MIGRATIONS_DIR"])
    return app
'''
PLAIN = {"what": "Flask-Migrate alone.", "imports": "from flask_migrate import Migrate"}
SAFE = {"what": "SafeMigrate, defaults.", "imports": "from flask_safemigrate import SafeMigrate"}


def _pip(python: Path, *args: str) -> None:
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", *args], check=True)


def environment(project: Project) -> tuple[Path, Path]:
    """The project's wheel and a virtual environment that can run its revisions (made once)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    version = project.requirement.split("==")[1]
    wheels = sorted(CACHE.glob(f"{project.name}-{version}-*.whl"))
    if not wheels:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary",
             ":all:", "-d", str(CACHE), project.requirement],
            check=True,
        )  # fmt: skip
        wheels = sorted(CACHE.glob(f"{project.name}-{version}-*.whl"))
    venv = CACHE / f"venv-{project.name}"
    python = venv / "bin" / "python"
    stamp = venv / f".ready-{version}"
    if not stamp.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        _pip(python, str(wheels[0]), "psycopg[binary]>=3.1", "PyMySQL>=1.1")
        _pip(python, "-e", str(REPO_ROOT))
        stamp.touch()
    return wheels[0], venv


def migrations_folder(wheel: Path, project: Project, venv: Path, folder: Path) -> Path:
    """What ``flask db init`` writes (the stock single-database template), with the
    project's ``versions/`` copied in."""
    migrations = folder / "migrations"
    init = _flask(venv, folder, "plain_app", migrations, "sqlite://", "db", "init", project=project)
    if init.returncode != 0:
        raise SystemExit(f"flask db init failed: {_last_error(init.stderr)}")
    prefix = project.migrations.rstrip("/") + "/versions/"
    versions = migrations / "versions"
    with zipfile.ZipFile(wheel) as archive:
        for member in archive.namelist():
            name = member[len(prefix) :]
            if member.startswith(prefix) and name.endswith(".py") and "/" not in name:
                (versions / name).write_bytes(archive.read(member))
    return migrations


def heads(migrations: Path) -> list[str]:
    """The history's heads, read statically (no import of the project)."""
    from flask_safemigrate import history

    return sorted(history.load_graph([migrations / "versions"]).heads)


def _flask(
    venv: Path, folder: Path, app: str, migrations: Path, url: str, *args: str, project: Project
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        **dict(project.env),
        "DATABASE_URL": url,
        "MIGRATIONS_DIR": str(migrations),
        "PYTHONPATH": str(folder),
        "PYTHONWARNINGS": "ignore",
    }
    return subprocess.run(
        [str(venv / "bin" / "flask"), "--app", app, *args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=1800,
    )


def versions_of(url: str) -> list[str]:
    """Where the database stands: its version table's revisions ([] at base)."""
    from flask_safemigrate import database

    engine = sa.create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return sorted(database.current_revisions(conn, version_table="alembic_version"))
    finally:
        engine.dispose()


def _last_error(text: str) -> str:
    """The line that names the error (not SQLAlchemy's closing link to its docs)."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    named = [line for line in lines if "Error" in line and not line.startswith("(Background")]
    return (named or lines or [""])[-1][:300]


def trial(project: Project, kind: str, scratch: Scratch) -> dict[str, Any]:
    wheel, venv = environment(project)
    with tempfile.TemporaryDirectory(prefix=f"sm-real-{project.name}-") as tmp:
        folder = Path(tmp)
        setup = project.setup or "pass"
        (folder / "plain_app.py").write_text(APP.format(**PLAIN, setup=setup, extension="Migrate"))
        (folder / "safe_app.py").write_text(
            APP.format(**SAFE, setup=setup, extension="SafeMigrate")
        )
        migrations = migrations_folder(wheel, project, venv, folder)
        row: dict[str, Any] = {"project": project.requirement, "database": kind}
        with scratch() as plain_url, scratch() as safe_url:
            row["heads"] = heads(migrations)
            plain = _flask(
                venv, folder, "plain_app", migrations, plain_url, "db", "upgrade", project=project
            )
            row["plain_exit"] = plain.returncode
            row["plain_at"] = versions_of(plain_url)
            row["plain_error"] = "" if plain.returncode == 0 else _last_error(plain.stderr)
            safe = _flask(
                venv, folder, "safe_app", migrations, safe_url, "db", "safe-upgrade",
                "--format", "json", project=project,
            )  # fmt: skip
            row["safe_exit"] = safe.returncode
            row["safe_at"] = versions_of(safe_url)
            try:
                report = json.loads(safe.stdout)
            except json.JSONDecodeError:
                report = {"stage": "?", "problems": [], "error": _last_error(safe.stderr)}
            row["safe_stage"] = report.get("stage")
            row["refusals"] = [
                {k: p.get(k) for k in ("check", "code", "path", "line", "message")}
                for p in report.get("problems", [])
                if p.get("severity") == "error" and p.get("check") != "schema-drift"
            ]
            row["drift"] = sum(
                1 for p in report.get("problems", []) if p.get("check") == "schema-drift"
            )
            if report.get("error"):
                row["safe_error"] = report["error"]
    row["plain_head"] = row["plain_at"] == row["heads"]
    row["safe_head"] = row["safe_at"] == row["heads"]
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", action="append", choices=sorted(PROJECTS))
    parser.add_argument("--database", action="append", choices=["sqlite", "postgresql", "mariadb"])
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    parser.add_argument("--mysql-url", default=DEFAULT_MYSQL_URL)
    parser.add_argument("--json", type=Path, help="write every row here as JSON")
    args = parser.parse_args()
    projects = [PROJECTS[name] for name in args.project or sorted(PROJECTS)]
    kinds = args.database or ["sqlite", "postgresql", "mariadb"]
    rows = []
    worse = 0
    with tempfile.TemporaryDirectory(prefix="sm-real-sqlite-") as sqlite_dir:
        scratches: dict[str, Scratch | str] = {
            "sqlite": sqlite_scratch(Path(sqlite_dir)),
            "postgresql": server_scratch(make_url(args.postgres_url)),
            "mariadb": server_scratch(make_url(args.mysql_url)),
        }
        for project in projects:
            for kind in kinds:
                scratch = scratches[kind]
                if isinstance(scratch, str):
                    print(f"{project.requirement:22} {kind:10} skipped: {scratch}")
                    continue
                row = trial(project, kind, scratch)
                rows.append(row)
                worse += row["plain_head"] and not row["safe_head"]
                print(_line(row), flush=True)
    if args.json is not None:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    same = sum(r["plain_head"] == r["safe_head"] for r in rows)
    print(
        f"\n{same} of {len(rows)} pairs end alike; safe-upgrade short of head where plain"
        f" reached it: {worse}"
    )
    return 1 if worse else 0


def _line(row: dict[str, Any]) -> str:
    plain = "head" if row["plain_head"] else f"stopped at {','.join(row['plain_at']) or 'base'}"
    safe = "head" if row["safe_head"] else f"stopped at {','.join(row['safe_at']) or 'base'}"
    text = (
        f"{row['project']:22} {row['database']:10} plain: {plain} (exit {row['plain_exit']})"
        f"  safe-upgrade: {safe} (exit {row['safe_exit']}, stage {row['safe_stage']})"
    )
    if row["drift"]:
        text += f" [{row['drift']} drift lines: the trial app has no models]"
    if row["plain_error"]:
        text += f"\n    plain error: {row['plain_error']}"
    if row.get("safe_error"):
        text += f"\n    safe-upgrade error: {row['safe_error']}"
    for refusal in row["refusals"]:
        where = f"{Path(refusal['path']).name}:{refusal['line']}" if refusal.get("path") else ""
        text += f"\n    refused: {refusal['code'] or refusal['check']} {where} {refusal['message']}"
    return text


if __name__ == "__main__":
    sys.exit(main())
