"""A fleet's wall time against its targets run one by one, measured in one run.

    python benchmarks/fleet.py [--schemas 200] [--files 50] [--revisions 20] [--parallel 4]
                               [--forked-sum]

Builds a project (``tests/support/fleet.py``'s ``fleetapp.py``, a history of ``--revisions``
revisions) with ``--schemas`` PostgreSQL schemas on a scratch database and ``--files`` SQLite
files, then:

1. **single**: ``flask db safe-upgrade --fleet`` with ``--parallel 1`` and
   ``SAFEMIGRATE_FLEET_FORK=false`` on a fresh copy of the fleet; the sum of the per-target
   seconds it reports is the sum of single-target runs (each target is exactly one fresh
   ``python -m flask db safe-upgrade`` process, as run by hand);
2. with ``--forked-sum``, the same with the targets forked (the default): the sum of the
   single-target runs without their imports;
3. **fleet**: the same fleet, fresh again, with ``--parallel N`` (forked, the default); its
   wall time is compared with ``sum`` and with the ideal ``sum / N``.

The ratio ``fleet / (sum / N)`` is what the issue bounds (<= 1.3): the overhead of the
parent, the process starts and the shared database, against targets run by hand. It depends
on the cores: with fewer cores than ``N`` the children compete for CPU and the ratio grows,
so the core count and the load average are printed with the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._support import DEFAULT_POSTGRES_URL
from tests.support import fleet


def _fresh_fleet(
    folder: Path, server: sa.URL, name: str, schemas: int, files: int
) -> tuple[str, list[str]]:
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    admin.dispose()
    url = server.set(database=name)
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    names = [f"tenant_{n:03d}" for n in range(schemas)]
    with engine.begin() as conn:
        for schema in names:
            conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    engine.dispose()
    sqlite_dir = folder / name
    sqlite_dir.mkdir()
    paths = [fleet.sqlite_url_of(sqlite_dir / f"tenant_{n:03d}.db") for n in range(files)]
    return url.render_as_string(hide_password=False), names + paths


def _run(
    folder: Path, app_url: str, targets: list[str], parallel: int, *, fork: bool = True
) -> tuple[float, dict]:
    env = fleet.environment(folder, app_url, targets, FLEET_FORK=str(fork).lower())
    began = time.perf_counter()
    done = subprocess.run(
        fleet.fleet_command(
            "safe-upgrade", "--fleet", "--format", "json", "--parallel", str(parallel)
        ),
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - began
    report = json.loads(done.stdout)
    if done.returncode != 0:
        raise SystemExit(f"fleet run failed (exit {done.returncode}): {report.get('summary')}")
    return wall, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schemas", type=int, default=200)
    parser.add_argument("--files", type=int, default=50)
    parser.add_argument("--revisions", type=int, default=20)
    parser.add_argument("--parallel", type=int, default=4)
    parser.add_argument("--forked-sum", action="store_true", help="also the forked --parallel 1")
    args = parser.parse_args()
    server = sa.make_url(DEFAULT_POSTGRES_URL)
    with tempfile.TemporaryDirectory(prefix="sm_fleet_bench_") as tmp:
        folder = Path(tmp)
        fleet.write_project(folder, revisions=args.revisions)
        suffix = os.urandom(4).hex()
        single_db, fleet_db = f"sm_bench_single_{suffix}", f"sm_bench_fleet_{suffix}"
        forked_db = f"sm_bench_forked_{suffix}"
        forked: tuple[float, dict] | None = None
        try:
            url, targets = _fresh_fleet(folder, server, single_db, args.schemas, args.files)
            single_wall, single = _run(folder, url, targets, 1, fork=False)
            if args.forked_sum:
                url, targets = _fresh_fleet(folder, server, forked_db, args.schemas, args.files)
                forked = _run(folder, url, targets, 1)
            url, targets = _fresh_fleet(folder, server, fleet_db, args.schemas, args.files)
            fleet_wall, parallel = _run(folder, url, targets, args.parallel)
        finally:
            admin = sa.create_engine(
                server, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool
            )
            with admin.connect() as conn:
                for name in (single_db, forked_db, fleet_db):
                    conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            admin.dispose()
    total = sum(t["seconds"] for t in single["targets"])
    ideal = total / args.parallel
    print(
        f"cores: {os.cpu_count()}  targets: {len(targets)} ({args.schemas} PostgreSQL schemas,"
        f" {args.files} SQLite files)  revisions: {args.revisions}"
        f"  load average at the end: {' '.join(f'{n:.1f}' for n in os.getloadavg())}"
    )
    print(f"sum of single-target runs:     {total:8.1f} s  (--parallel 1 wall {single_wall:.1f} s)")
    if forked is not None:
        forked_total = sum(t["seconds"] for t in forked[1]["targets"])
        print(
            f"  the same, forked:            {forked_total:8.1f} s  (--parallel 1 wall"
            f" {forked[0]:.1f} s; fleet / (this / {args.parallel}):"
            f" {fleet_wall / (forked_total / args.parallel):.2f})"
        )
    print(
        f"fleet --parallel {args.parallel} wall time:  {fleet_wall:8.1f} s"
        f"  (effective parallel {parallel['parallel']})"
    )
    print(f"fleet / sum:                   {fleet_wall / total:8.2f}")
    print(f"fleet / (sum / {args.parallel}):            {fleet_wall / ideal:8.2f}")


if __name__ == "__main__":
    main()
