"""What the benchmarks share: scratch databases, the real ``flask`` command, the stock env.py.

Each benchmark measures our path against the plain Flask-Migrate one in the same run, on the
same fresh databases; these helpers keep that set-up identical between them.
"""

from __future__ import annotations

import contextlib
import os
import resource
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import URL
from sqlalchemy.pool import NullPool

REPO_ROOT = Path(__file__).resolve().parent.parent
FLASK = Path(sys.executable).parent / "flask"
DEFAULT_POSTGRES_URL = os.environ.get(
    "SAFEMIGRATE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
DEFAULT_MYSQL_URL = os.environ.get(
    "SAFEMIGRATE_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test"
)


Scratch = Callable[[], contextlib.AbstractContextManager[str]]


def sqlite_scratch(folder: Path) -> Scratch:
    @contextlib.contextmanager
    def scratch() -> Iterator[str]:
        path = folder / f"{secrets.token_hex(6)}.db"
        try:
            yield f"sqlite:///{path}"
        finally:
            path.unlink(missing_ok=True)

    return scratch


def server_scratch(server: URL) -> Scratch | str:
    """Fresh databases on the server, or why the server cannot be used."""
    admin = sa.create_engine(
        server,
        isolation_level="AUTOCOMMIT",
        poolclass=NullPool,
        connect_args={"connect_timeout": 3},
    )
    try:
        with admin.connect():
            pass
    except sa.exc.OperationalError as exc:
        admin.dispose()
        return str(exc.orig).strip().splitlines()[0]
    quote = admin.dialect.identifier_preparer.quote
    force = " WITH (FORCE)" if server.get_backend_name() == "postgresql" else ""

    @contextlib.contextmanager
    def scratch() -> Iterator[str]:
        name = f"sm_bench_{secrets.token_hex(6)}"
        with admin.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {quote(name)}")
        try:
            yield server.set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {quote(name)}{force}")

    return scratch


def copy_stock_env(migrations: Path) -> None:
    """The example app's stock ``env.py``, ``alembic.ini`` and template, into ``migrations``."""
    template = REPO_ROOT / "example_app" / "migrations"
    (migrations / "versions").mkdir(parents=True, exist_ok=True)
    for name in ("env.py", "alembic.ini", "script.py.mako"):
        (migrations / name).write_bytes((template / name).read_bytes())


def run_flask(
    folder: Path, url: str, *args: str, app: str = "bench_app"
) -> tuple[float, subprocess.CompletedProcess[str]]:
    """``flask --app APP ARGS`` in a fresh process with ``DATABASE_URL``; seconds and result."""
    seconds, _, done = timed_flask(folder, url, *args, app=app)
    return seconds, done


def timed_flask(
    folder: Path, url: str, *args: str, app: str = "bench_app"
) -> tuple[float, float, subprocess.CompletedProcess[str]]:
    """:func:`run_flask` with the process's CPU time (user + system) after its wall time.

    On a machine shared with other work, wall time measures the queue for the cores as much
    as the command; the CPU time the process used is what the command itself costs.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), str(folder)])),
    }
    start = time.perf_counter()
    done = subprocess.run(
        [str(FLASK), "--app", app, *args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done
