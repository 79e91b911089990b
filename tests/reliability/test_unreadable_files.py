"""Fault injection: entries of ``versions/`` that are not regular files (issue #13, item 11).

Alembic tries to load every ``*.py`` entry that is not a directory: a symlink loop or a dangling
link fails the load after safe-upgrade had started (and a failure used to be recorded against a
revision that never ran); a FIFO blocks the load, and every reader, forever. Each command runs
in a real ``flask`` process with a time limit, so a regression fails the test instead of hanging
it: pre-flight must stop with exit 3 naming the entry, verify must fail (exit 1), and the
database and its ledger must be exactly as they were.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.bad_inputs import APP_SPEC
from tests.reliability.test_hostile_ids import deployed, state_of
from tests.support.cli import run_flask

__all__ = ["deployed"]  # the fixture, imported for pytest

#: A hang must fail the test, not the CI job: every command gets this long.
LIMIT = 90.0


def loop(path: Path) -> None:
    path.symlink_to(path.name)  # a link to itself: ELOOP


def dangling(path: Path) -> None:
    path.symlink_to("gone_away.py")


def fifo(path: Path) -> None:
    os.mkfifo(path)


FAULTS: dict[str, Callable[[Path], None]] = {"loop": loop, "dangling": dangling, "fifo": fifo}


def run(app_env: dict[str, str], *args: str) -> tuple[int, dict[str, Any], str]:
    result = run_flask(["db", *args, "--format", "json"], app=APP_SPEC, env=app_env, timeout=LIMIT)
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, json.loads(result.stdout), result.stderr


def env_of(app: Any, url: str, migrations: Path) -> dict[str, str]:
    return {
        "SM_DATABASE_URL": url,
        "SM_MIGRATIONS": str(migrations),
        "SM_INSTANCE": app.instance_path,
    }


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_unreadable_entry_stops_preflight(deployed: tuple[Any, Path, str], fault: str) -> None:
    app, migrations, url = deployed
    entry = migrations / "versions" / f"c3_{fault}.py"
    FAULTS[fault](entry)
    before = state_of(url)
    env = env_of(app, url, migrations)

    code, data, _ = run(env, "safe-upgrade")
    assert code == 3, data
    assert data["stage"] == "preflight" and data["applied"] == []
    [problem] = [p for p in data["problems"] if p["check"] == "unparseable-script"]
    assert problem["path"].endswith(entry.name)

    code, data, _ = run(env, "verify")
    assert code == 1, data
    assert any(
        p["check"] == "unparseable-script" and p["path"].endswith(entry.name)
        for p in data["problems"]
    )
    after = state_of(url)
    assert after == before  # no ledger row for a revision that never started, nothing else


def test_directory_named_py_is_skipped_as_alembic_skips_it(
    deployed: tuple[Any, Path, str],
) -> None:
    app, migrations, url = deployed
    (migrations / "versions" / "c3_package.py").mkdir()
    code, data, _ = run(env_of(app, url, migrations), "safe-upgrade")
    assert code == 0, data


SAFEMIGRATE = Path(sys.executable).parent / "safemigrate"


@pytest.mark.parametrize(
    "db_kind", [pytest.param("sqlite", marks=pytest.mark.sqlite)], indirect=True
)
def test_lint_reports_each_entry_and_never_hangs(deployed: tuple[Any, Path, str]) -> None:
    """Both lint commands, in real processes with a time limit: one finding per entry."""
    app, migrations, url = deployed
    versions = migrations / "versions"
    for fault, make in FAULTS.items():
        make(versions / f"c3_{fault}.py")
    (versions / "c3_package.py").mkdir()
    runs = {
        "flask db lint": run_flask(
            ["db", "lint", "--format", "json"],
            app=APP_SPEC,
            env=env_of(app, url, migrations),
            timeout=LIMIT,
        ),
        "safemigrate lint": subprocess.run(
            [str(SAFEMIGRATE), "lint", "--format", "json", str(migrations)],
            capture_output=True,
            text=True,
            timeout=LIMIT,
            check=False,
        ),
    }
    for command, result in runs.items():
        assert "Traceback" not in result.stderr, (command, result.stderr)
        assert result.returncode == 1, (command, result.stdout, result.stderr)
        unreadable = {
            Path(f["path"]).name: f["message"]
            for f in json.loads(result.stdout)["findings"]
            if f["rule"] == "unparseable-script"
        }
        assert set(unreadable) == {
            "c3_loop.py",
            "c3_dangling.py",
            "c3_fifo.py",
            "c3_package.py",
        }, command
        assert "named pipe" in unreadable["c3_fifo.py"]
        assert "directory" in unreadable["c3_package.py"]
