"""A fleet's targets are forked from one server that has imported the libraries
(:mod:`flask_safemigrate.forking`), and a fleet whose server cannot start, or that is told not
to fork, runs each target as a fresh process and reaches the same end.

Which process ran a target is read from the targets themselves: ``fleetapp.py`` writes, when
imported, its pid, its parent and its parent's command line (``FLEET_PROBE``)."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support import fleet
from tests.support.databases import sqlite_url

HEAD = fleet.REVISIONS[-1]
SERVER = "flask_safemigrate.forking.server"
pytestmark = pytest.mark.xdist_group("fleet")


def _probes(folder: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The fleet parent's record and its targets' records."""
    records = [json.loads(p.read_text()) for p in folder.glob("*.json")]
    (parent,) = [r for r in records if "--fleet" in r["cmdline"]]
    return parent, [r for r in records if r is not parent]


def _run(project: Path, files: list[str], **extra: str) -> tuple[dict[str, Any], Path]:
    probe = project / "probe"
    probe.mkdir()
    env = fleet.environment(
        project, sqlite_url(project / "app.db"), files, FLEET_PROBE=str(probe), **extra
    )
    code, report, stderr = fleet.run_fleet(project, env, "--parallel", "2")
    assert code == 0, stderr[-3000:]
    assert report["counts"] == {"ok": len(files)}
    assert all(t["to"] == HEAD for t in report["targets"])
    return report, probe


def test_each_target_is_forked_from_one_server_that_preloaded_the_libraries(
    project: Path,
) -> None:
    files = [sqlite_url(project / f"t{n}.db") for n in range(4)]

    _, probe = _run(project, files)

    parent, targets = _probes(probe)
    assert len(targets) == 4
    servers = {t["parent"] for t in targets}
    assert len(servers) == 1  # one server for the whole run...
    (server,) = servers
    assert server != parent["pid"]
    for target in targets:
        # ...started by the fleet parent, running the server module: the target was forked
        # from it, never started as `python -m flask` (a fork keeps the server's command line)
        assert target["grandparent"] == parent["pid"]
        assert target["parent_cmdline"][1:3] == ["-m", SERVER]
        assert target["cmdline"] == target["parent_cmdline"]


def _broken_driver(folder: Path) -> Path:
    """A ``psycopg2`` whose import kills the interpreter, as a driver built for another
    ABI can: the server imports installed drivers and dies of it; a SQLite target never
    imports it."""
    site = folder / "broken_site"
    (site / "psycopg2").mkdir(parents=True)
    (site / "psycopg2" / "__init__.py").write_text("import os\nos._exit(70)\n")
    return site


@pytest.mark.parametrize("why", ["the server cannot start", "SAFEMIGRATE_FLEET_FORK=false"])
def test_without_a_fork_server_each_target_is_a_fresh_process_and_reaches_head(
    project: Path, why: str
) -> None:
    files = [sqlite_url(project / f"t{n}.db") for n in range(3)]
    if why == "the server cannot start":
        extra = {"PYTHONPATH": f"{_broken_driver(project)}:{project}"}
    else:
        extra = {"FLEET_FORK": "false"}

    _, probe = _run(project, files, **extra)

    parent, targets = _probes(probe)
    assert len(targets) == 3
    for target in targets:
        assert target["parent"] == parent["pid"]
        assert target["cmdline"][1:3] == ["-m", "flask"]
        assert "--fleet-target" in target["cmdline"]


def test_a_fork_server_killed_mid_run_costs_the_running_target_its_status_only(
    project: Path,
) -> None:
    """Only the server can read its children's exit statuses: killed, it takes the running
    target's with it (that target goes on and ends; it is reported ``crashed``, retryable),
    and the targets after it start as fresh processes."""
    files = [sqlite_url(project / f"t{n}.db") for n in range(5)]
    env = fleet.environment(project, sqlite_url(project / "app.db"), files)
    parent = fleet.start(
        project, env, fleet.fleet_command("safe-upgrade", "--fleet", "--format", "json")
    )
    deadline = time.monotonic() + 300
    servers: list[int] = []
    while time.monotonic() < deadline and parent.poll() is None:
        servers = fleet.fork_servers_of(parent.pid)
        if servers and fleet.children_of(servers[0]):
            break
        time.sleep(0.01)
    assert parent.poll() is None and servers, "no forked target ran"
    os.kill(servers[0], signal.SIGKILL)
    stdout, stderr = parent.communicate(timeout=300)

    assert parent.returncode == 3, stderr[-3000:]
    report = json.loads(stdout)
    assert report["counts"] == {"crashed": 1, "ok": 4}
    crashed = report["targets"][0]
    assert crashed["error"].startswith("its exit status was lost: the fork server ended")
    # It was not stopped: it ran to the end, and the next run finds every target at head.
    code, again, _ = fleet.run_fleet(project, env)
    assert code == 0
    assert again["counts"] == {"current": 5}
