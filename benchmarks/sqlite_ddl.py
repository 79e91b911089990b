"""What SQLite's DDL costs by table size: the figures behind ``--dry-run``'s SQLite impact.

Run from the repository root::

    .venv/bin/python benchmarks/sqlite_ddl.py [--rows 20000 200000] [--runs 3]

For each size it fills a fresh SQLite file with a four-column table (and one index) and
times one statement on it, committed, each on its own fresh copy: ``ADD COLUMN``, ``RENAME
COLUMN`` and ``RENAME TO`` (catalog changes: the same time at any size), ``DROP COLUMN``
(SQLite rewrites every row to purge the column), ``DROP INDEX`` and ``DROP TABLE`` (every
page freed). Wall and CPU time, best of ``--runs``; CPU time is the one to read on a loaded
machine (SQLite runs in this process). Filling the table is not timed. Not part of the test
suite; exits 0.
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
from pathlib import Path

STATEMENTS = {
    "add column": "ALTER TABLE user ADD COLUMN extra INTEGER",
    "rename column": "ALTER TABLE user RENAME COLUMN email TO mail",
    "rename table": "ALTER TABLE user RENAME TO members",
    "drop column": "ALTER TABLE user DROP COLUMN name",
    "drop index": "DROP INDEX ix_user_email",
    "drop table": "DROP TABLE user",
}


def _fill(path: Path, rows: int) -> None:
    path.unlink(missing_ok=True)
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE user (id INTEGER PRIMARY KEY, name VARCHAR(50), email VARCHAR(120),"
            " bio TEXT)"
        )
        conn.executemany(
            "INSERT INTO user (name, email, bio) VALUES (?, ?, ?)",
            ((f"name{i}", f"user{i}@example.com", "x" * 100) for i in range(rows)),
        )
        conn.execute("CREATE INDEX ix_user_email ON user (email)")
    conn.close()


def _timed(path: Path, sql: str) -> tuple[float, float]:
    conn = sqlite3.connect(path)
    try:
        wall, cpu = time.perf_counter(), time.process_time()
        conn.execute(sql)
        conn.commit()
        return time.perf_counter() - wall, time.process_time() - cpu
    finally:
        conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[20_000, 200_000])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(f"SQLite {sqlite3.sqlite_version}; best of {args.runs}, wall / CPU in ms")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "ddl.sqlite"
        for rows in args.rows:
            _fill(path, rows)
            size = path.stat().st_size // 1024
            cells = []
            for label, sql in STATEMENTS.items():
                runs = []
                for _ in range(args.runs):
                    _fill(path, rows)
                    runs.append(_timed(path, sql))
                wall = min(r[0] for r in runs) * 1000
                cpu = min(r[1] for r in runs) * 1000
                cells.append(f"{label} {wall:.1f} / {cpu:.1f}")
            print(f"{rows:>9,} rows ({size:,} KiB): " + "; ".join(cells))


if __name__ == "__main__":
    main()
