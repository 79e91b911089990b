"""Whole fleets through real child processes: mixed databases, canary, isolation, resume,
shards. Each run is the real ``python -m flask db safe-upgrade --fleet`` in a process of
its own (the children are real processes too), on real servers."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL

from tests.support import fleet
from tests.support.databases import execute, nullpool_engine, sqlite_url

HEAD = fleet.REVISIONS[-1]
pytestmark = pytest.mark.xdist_group("fleet")


def _ledger(url: str | URL, schema: str | None = None) -> list[tuple[str, bool]]:
    """(revision, success) of every upgrade row of a target's ledger."""
    table = f'"{schema}".safemigrate_ledger' if schema else "safemigrate_ledger"
    engine = nullpool_engine(url)
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table("safemigrate_ledger", schema=schema):
                return []
            rows = conn.exec_driver_sql(
                f"SELECT revision, success FROM {table} WHERE direction = 'upgrade' ORDER BY id"
            )
            return [(str(r[0]), bool(r[1])) for r in rows]
    finally:
        engine.dispose()


def _applied_once(url: str | URL, schema: str | None = None) -> bool:
    return _ledger(url, schema) == [(rev, True) for rev in fleet.REVISIONS]


def _schemas(url: URL, names: list[str]) -> None:
    execute(url, *(f"CREATE SCHEMA {name}" for name in names))


def _status(folder: Path, env: dict[str, str]) -> tuple[int, dict[str, object]]:
    done = subprocess.run(
        fleet.fleet_command("fleet-status", "--format", "json"),
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.returncode, json.loads(done.stdout)


@pytest.mark.postgresql
@pytest.mark.mysql
def test_schemas_sqlite_files_and_mariadb_databases_reach_head(
    project: Path, server_databases: Callable[[str, int], list[URL]]
) -> None:
    (pg,) = server_databases("postgresql", 1)
    mariadb = server_databases("mysql", 10)
    schemas = [f"tenant_{n:02d}" for n in range(50)]
    _schemas(pg, schemas)
    files = [sqlite_url(project / f"tenant_{n:02d}.db") for n in range(20)]
    urls = [u.render_as_string(hide_password=False) for u in mariadb]
    env = fleet.environment(
        project, pg.render_as_string(hide_password=False), schemas + files + urls
    )

    code, report, stderr = fleet.run_fleet(project, env, "--parallel", "4")

    assert code == 0, stderr[-3000:]
    assert report["counts"] == {"ok": 80}
    assert report["parallel"] == 4
    assert all(t["to"] == HEAD and t["exit_code"] == 0 for t in report["targets"])
    assert all(_applied_once(pg, schema) for schema in schemas)
    assert all(_applied_once(url) for url in files + urls)
    # One line per finished target on stderr (the report is on stdout).
    assert stderr.count(f"ok base -> {HEAD}") == 80
    # The app's own schema got the fleet table only, no migration.
    assert _ledger(pg) == []
    status_code, status = _status(project, env)
    assert status_code == 0
    assert status["counts"] == {"ok": 80}
    assert status["revisions"] == {HEAD: 80}


def test_a_failing_canary_stops_the_fleet_with_nothing_applied_to_the_rest(
    project: Path,
) -> None:
    fleet.write_history(project / "migrations", fail_marker=True)
    files = [sqlite_url(project / f"t{n}.db") for n in range(6)]
    execute(files[1], "CREATE TABLE fail_here (id INTEGER)")
    env = fleet.environment(project, sqlite_url(project / "app.db"), files)

    code, report, stderr = fleet.run_fleet(project, env, "--canary", "3", "--parallel", "2")

    assert code == 4, stderr[-3000:]
    by_target = {t["target"]: t for t in report["targets"]}
    assert by_target[files[0]]["status"] == "ok"
    assert by_target[files[1]]["status"] == "failed"
    assert by_target[files[1]]["exit_code"] == 4
    assert "refuses the revision" in by_target[files[1]]["error"]
    assert report["stopped_at"] == files[1]
    for url in files[2:]:
        assert by_target[url]["status"] == "skipped"
        assert _ledger(url) == []
        assert not Path(url.removeprefix("sqlite:///")).exists() or _ledger(url) == []
    # Failures come first in the report.
    assert report["targets"][0]["target"] == files[1]


def test_a_failure_in_the_parallel_stage_is_isolated_and_reported(project: Path) -> None:
    fleet.write_history(project / "migrations", fail_marker=True)
    files = [sqlite_url(project / f"t{n}.db") for n in range(6)]
    execute(files[3], "CREATE TABLE fail_here (id INTEGER)")
    env = fleet.environment(project, sqlite_url(project / "app.db"), files)

    code, report, stderr = fleet.run_fleet(
        project, env, "--parallel", "3", "--on-error", "continue", "--log-format", "json"
    )

    assert code == 4
    assert report["counts"] == {"failed": 1, "ok": 5}
    failed = report["targets"][0]
    assert failed["target"] == files[3]
    assert failed["status"] == "failed"
    assert failed["from"] == "base"
    assert failed["to"] == fleet.REVISIONS[0]  # the first revision went in, the second failed
    assert all(_applied_once(url) for n, url in enumerate(files) if n != 3)
    # --log-format json: the parent's progress is one record per event, as safe-upgrade's is.
    records = [json.loads(line) for line in stderr.splitlines()]
    kinds = [r["event"] for r in records]
    assert kinds[0] == "fleet_planned" and records[0]["pending"] == 6
    assert kinds.count("target_started") == 6 and kinds.count("target_finished") == 6
    finished = {r["target"]: r for r in records if r["event"] == "target_finished"}
    assert (finished[files[3]]["status"], finished[files[3]]["level"]) == ("failed", "error")
    assert {r["status"] for t, r in finished.items() if t != files[3]} == {"ok"}
    assert max(r["done"] for r in finished.values()) == 6
    status_code, status = _status(project, env)
    assert status_code == 1
    targets = status["targets"]
    assert isinstance(targets, list)
    assert targets[0]["target"] == files[3]
    assert targets[0]["status"] == "failed"


def test_a_crashed_target_process_is_one_crashed_target(project: Path) -> None:
    fleet.write_history(project / "migrations", crash_marker=True)
    files = [sqlite_url(project / f"t{n}.db") for n in range(3)]
    execute(files[1], "CREATE TABLE die_here (id INTEGER)")
    env = fleet.environment(project, sqlite_url(project / "app.db"), files)

    code, report, _ = fleet.run_fleet(project, env, "--parallel", "2")

    assert code == 3  # retryable: a pod failure policy retries it
    assert report["counts"] == {"crashed": 1, "ok": 2}
    crashed = report["targets"][0]
    assert crashed["target"] == files[1]
    assert crashed["exit_code"] == -9
    assert crashed["error"].startswith("killed by signal 9")
    assert all(_applied_once(url) for n, url in enumerate(files) if n != 1)


def test_on_error_stop_starts_no_more_targets(project: Path) -> None:
    fleet.write_history(project / "migrations", fail_marker=True)
    files = [sqlite_url(project / f"t{n}.db") for n in range(5)]
    execute(files[0], "CREATE TABLE fail_here (id INTEGER)")
    env = fleet.environment(project, sqlite_url(project / "app.db"), files)

    code, report, _ = fleet.run_fleet(project, env, "--on-error", "stop")

    assert code == 4
    assert report["counts"] == {"failed": 1, "skipped": 4}
    assert all(_ledger(url) == [] for url in files[1:])


@pytest.mark.postgresql
def test_a_sigkilled_fleet_run_resumes_and_applies_each_revision_once(
    project: Path, server_databases: Callable[[str, int], list[URL]]
) -> None:
    (pg,) = server_databases("postgresql", 1)
    # Enough targets that the run is still going after three: a forked target takes about
    # half a second, so nine left at --parallel 2 are a few seconds more.
    schemas = [f"tenant_{n:02d}" for n in range(12)]
    _schemas(pg, schemas)
    env = fleet.environment(project, pg.render_as_string(hide_password=False), schemas)
    parent = subprocess.Popen(
        fleet.fleet_command("safe-upgrade", "--fleet", "--parallel", "2"),
        cwd=project,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    engine = nullpool_engine(pg)
    try:
        deadline = time.monotonic() + 300
        finished = 0
        children: list[int] = []
        while not children and time.monotonic() < deadline and parent.poll() is None:
            time.sleep(0.05)
            with engine.connect() as conn:
                if sa.inspect(conn).has_table("safemigrate_fleet"):
                    finished = conn.exec_driver_sql(
                        "SELECT count(*) FROM safemigrate_fleet WHERE status = 'ok'"
                    ).scalar_one()
            if finished >= 3:
                children = fleet.targets_of(parent.pid)
        assert parent.poll() is None, "the fleet finished before it could be killed"
        assert children, "no target was running when the fleet was killed"
        # The pod dies: the parent, its fork server and the targets it runs (each in a
        # session of its own).
        for pid in [parent.pid, *fleet.children_of(parent.pid), *children]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        parent.wait()
        with engine.connect() as conn:
            left = conn.exec_driver_sql(
                "SELECT count(*) FROM safemigrate_fleet WHERE status = 'running'"
            ).scalar_one()
        assert left >= 1  # the killed run left targets it did not finish
    finally:
        engine.dispose()

    code, report, stderr = fleet.run_fleet(project, env, "--parallel", "2")

    assert code == 0, stderr[-3000:]
    counts = report["counts"]
    assert counts.get("current", 0) >= 3
    assert counts.get("current", 0) + counts.get("ok", 0) == len(schemas)
    for schema in schemas:
        assert _applied_once(pg, schema), (schema, _ledger(pg, schema))


def test_two_shards_at_once_cover_every_target_exactly_once(project: Path) -> None:
    files = [sqlite_url(project / f"t{n}.db") for n in range(10)]
    env = fleet.environment(project, sqlite_url(project / "app.db"), files)
    pods = [
        fleet.start(
            project,
            {**env, "JOB_COMPLETION_INDEX": str(index), "JOB_COMPLETIONS": "2"},
            fleet.fleet_command("safe-upgrade", "--fleet", "--format", "json", "--shard", "auto"),
        )
        for index in range(2)
    ]
    reports = []
    for pod in pods:
        out, err = pod.communicate(timeout=600)
        assert pod.returncode == 0, err[-3000:]
        reports.append(json.loads(out))

    covered = [t["target"] for report in reports for t in report["targets"]]
    assert sorted(covered) == sorted(files)
    assert all(report["targets"] for report in reports)  # both shards had work
    assert [r["shard"] for r in reports] == ["0/2", "1/2"]
    assert all(_applied_once(url) for url in files)


@pytest.mark.postgresql
def test_the_connection_budget_caps_parallel_on_a_server_and_a_control_url_is_used(
    project: Path, server_databases: Callable[[str, int], list[URL]]
) -> None:
    pg, control = server_databases("postgresql", 2)
    schemas = ["tenant_a", "tenant_b", "tenant_c"]
    _schemas(pg, schemas)
    env = fleet.environment(
        project,
        pg.render_as_string(hide_password=False),
        schemas,
        FLEET_CONNECTIONS="5",  # 5 // 4 connections per target: one target at a time
        FLEET_CONTROL_URL=control.render_as_string(hide_password=False),
    )

    code, report, _ = fleet.run_fleet(project, env, "--parallel", "3")

    assert code == 0
    assert report["parallel"] == 1
    assert report["counts"] == {"ok": 3}
    engine = nullpool_engine(control)
    try:
        with engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT target, status, attempts, exit_code FROM safemigrate_fleet ORDER BY target"
            ).all()
    finally:
        engine.dispose()
    assert [tuple(r) for r in rows] == [(s, "ok", 1, 0) for s in schemas]
    with nullpool_engine(pg).connect() as conn:
        assert not sa.inspect(conn).has_table("safemigrate_fleet")


def test_verify_fleet_checks_every_target_and_names_the_one_with_problems(
    project: Path,
) -> None:
    files = [sqlite_url(project / f"t{n}.db") for n in range(3)]
    env = fleet.environment(project, sqlite_url(project / "app.db"), files)
    code, _, _ = fleet.run_fleet(project, env, "--parallel", "2")
    assert code == 0
    execute(files[2], "ALTER TABLE items ADD COLUMN surprise INTEGER")  # drift on one tenant

    done = subprocess.run(
        fleet.fleet_command("verify", "--fleet", "--parallel", "2", "--format", "json"),
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )

    assert done.returncode == 1, done.stderr[-3000:]
    report = json.loads(done.stdout)
    assert report["counts"] == {"failed": 1, "ok": 2}
    first = report["targets"][0]
    assert first["target"] == files[2]
    assert "surprise" in first["error"]
    assert report["summary"].endswith("3 target(s): 2 verified, 1 with problems")


@pytest.mark.postgresql
def test_a_missing_schema_is_named_and_nothing_is_created(
    project: Path, server_databases: Callable[[str, int], list[URL]]
) -> None:
    (pg,) = server_databases("postgresql", 1)
    env = fleet.environment(project, pg.render_as_string(hide_password=False), ["tenant_gone"])

    code, report, _ = fleet.run_fleet(project, env)

    assert code == 3
    (target,) = report["targets"]
    assert target["status"] == "failed"
    assert target["error"].startswith("schema 'tenant_gone' (a target of SAFEMIGRATE_TARGETS)")
    with nullpool_engine(pg).connect() as conn:
        assert "tenant_gone" not in sa.inspect(conn).get_schema_names()


def test_sigterm_stops_the_running_targets_records_them_and_exits_143(project: Path) -> None:
    files = [sqlite_url(project / f"t{n}.db") for n in range(6)]
    control = project / "control.db"
    release = project / "release-the-targets"
    fleet.write_history(project / "migrations", hold_until=release)  # targets wait mid-run
    env = fleet.environment(
        project, sqlite_url(project / "app.db"), files, FLEET_CONTROL_URL=sqlite_url(control)
    )
    parent = fleet.start(
        project, env, fleet.fleet_command("safe-upgrade", "--fleet", "--parallel", "2")
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and parent.poll() is None:
        time.sleep(0.1)
        if "running" in _statuses(control) and fleet.targets_of(parent.pid):
            break  # a target is held mid-revision: it is surely running at the signal
    assert parent.poll() is None and fleet.targets_of(parent.pid)
    parent.send_signal(signal.SIGTERM)
    try:
        _, stderr = parent.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        release.touch()  # let the held targets end, so nothing outlives the test
        parent.communicate(timeout=120)
        pytest.fail("the fleet parent did not stop its held targets within 120 s of SIGTERM")
    release.touch()

    assert parent.returncode == 143
    assert "fleet run interrupted" in stderr
    statuses = _statuses(control)
    assert "running" not in statuses  # every started target has its outcome
    assert "interrupted" in statuses  # the targets it was running when the signal came
    # The same command resumes and finishes.
    code, _, _ = fleet.run_fleet(project, env, "--parallel", "2")
    assert code == 0
    assert all(_applied_once(url) for url in files)


def _statuses(control: Path) -> list[str]:
    """The fleet table's statuses in the control database, read without creating the file
    or the table (``[]`` until the run has made them)."""
    if not control.exists():
        return []
    with contextlib.closing(sqlite3.connect(f"file:{control}?mode=ro", uri=True)) as conn:
        try:
            return [row[0] for row in conn.execute("SELECT status FROM safemigrate_fleet")]
        except sqlite3.OperationalError:  # the table is not made yet
            return []


@pytest.mark.mysql
def test_mariadb_targets_are_named_as_written(
    project: Path, server_databases: Callable[[str, int], list[URL]]
) -> None:
    """A MariaDB target's URL without a charset is reported as written, as the app's own is
    (docs/exit-codes.md): the child gives its engine Flask-SQLAlchemy's ``charset=utf8mb4``,
    which its messages once showed (``cannot connect to ...nc_my2?charset=utf8mb4``)."""
    (mariadb,) = server_databases("mysql", 1)
    good = mariadb.render_as_string(hide_password=False)
    refused = mariadb.set(password="wrong-pw").render_as_string(hide_password=False)
    assert "charset" not in good
    env = fleet.environment(project, sqlite_url(project / "app.db"), [good, refused])

    code, report, stderr = fleet.run_fleet(project, env)

    assert code == 3, stderr[-3000:]
    assert report["counts"] == {"ok": 1, "failed": 1}, report
    (failed,) = [t for t in report["targets"] if t["status"] == "failed"]
    assert "cannot connect to" in failed["error"], failed
    assert "wrong-pw" not in json.dumps(report) + stderr
    assert "charset" not in json.dumps(report) + stderr, stderr
