"""The Indexed Job manifest of docs/fleet.md, read from the page and run as Kubernetes would.

Kubernetes is not here, so its part is played by the test: one process per completion index
with the environment the manifest gives (``JOB_COMPLETIONS``) and the one Kubernetes adds
(``JOB_COMPLETION_INDEX``), running the manifest's own command (its ``flask --app`` swapped
for this fleet's app); one pod SIGKILLed mid-run (a node lost) and its index run again, as
``backoffLimitPerIndex`` does for an exit the failure policy does not name. Every target must
end at head with each revision applied once, and the policy's exit codes must be exactly the
ones the docs promise: retry on 3 and 5, never on 1, 2 and 4.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from flask_safemigrate.errors import ExitCode
from tests.support import fleet
from tests.support.databases import nullpool_engine, sqlite_url

pytestmark = pytest.mark.xdist_group("fleet")

FLEET_PAGE = Path(__file__).resolve().parents[2] / "docs" / "fleet.md"


def manifest() -> dict[str, Any]:
    """The one ``kind: Job`` YAML block of docs/fleet.md."""
    blocks = re.findall(r"^```yaml\n(.*?)^```", FLEET_PAGE.read_text(encoding="utf-8"), re.M | re.S)
    jobs = [doc for doc in map(yaml.safe_load, blocks) if doc.get("kind") == "Job"]
    assert len(jobs) == 1, f"expected one Job manifest in {FLEET_PAGE.name}, found {len(jobs)}"
    job: dict[str, Any] = jobs[0]
    return job


def container(job: dict[str, Any]) -> dict[str, Any]:
    (only,) = job["spec"]["template"]["spec"]["containers"]
    assert isinstance(only, dict)
    return only


def test_the_failure_policy_retries_exactly_the_retryable_exit_codes() -> None:
    job = manifest()
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed"
    assert spec["template"]["spec"]["restartPolicy"] == "Never"  # podFailurePolicy needs it
    env = {e["name"]: e["value"] for e in container(job)["env"]}
    assert env["JOB_COMPLETIONS"] == str(spec["completions"])
    actions: dict[str, set[int]] = {}
    for rule in spec["podFailurePolicy"]["rules"]:
        codes = rule["onExitCodes"]
        assert (codes["containerName"], codes["operator"]) == (container(job)["name"], "In")
        actions.setdefault(rule["action"], set()).update(codes["values"])
    retried = {ExitCode.PREFLIGHT, ExitCode.LOCK_TIMEOUT}
    assert actions == {
        "Count": retried,
        "FailIndex": {code for code in ExitCode if code is not ExitCode.OK} - retried,
    }


def _pod_command(job: dict[str, Any]) -> list[str]:
    """The manifest's command, run on this fleet's app."""
    command = [str(part) for part in container(job)["command"]]
    assert command[:4] == ["flask", "--app", "myapp:create_app", "db"], command
    return fleet.fleet_command(*command[4:])


def _start_pod(project: Path, env: dict[str, str], job: dict[str, Any], index: int) -> Any:
    pod_env = {e["name"]: str(e["value"]) for e in container(job)["env"]}
    return fleet.start(
        project, {**env, **pod_env, "JOB_COMPLETION_INDEX": str(index)}, _pod_command(job)
    )


def _upgrades(url: str) -> list[tuple[str, bool]]:
    engine = nullpool_engine(url)
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table("safemigrate_ledger"):
                return []
            rows = conn.exec_driver_sql(
                "SELECT revision, success FROM safemigrate_ledger"
                " WHERE direction = 'upgrade' ORDER BY id"
            )
            return [(str(r[0]), bool(r[1])) for r in rows]
    finally:
        engine.dispose()


def test_the_manifests_pods_migrate_every_target_once_with_one_pod_lost_and_retried(
    project: Path,
) -> None:
    job = manifest()
    completions = int(job["spec"]["completions"])
    files = [sqlite_url(project / f"tenant_{n:02d}.db") for n in range(4 * completions)]
    env = fleet.environment(project, sqlite_url(project / "app.db"), files)

    pods = {index: _start_pod(project, env, job, index) for index in range(completions)}
    # The node of pod 0 is lost while one of its targets runs: the pod, its fork server and
    # its targets (each in a session of its own) die at once.
    lost = pods[0]
    deadline = time.monotonic() + 120
    running: list[int] = []
    while not running and lost.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
        running = fleet.targets_of(lost.pid)
    assert running, "pod 0 ended before one of its targets was seen running"
    for pid in [lost.pid, *fleet.children_of(lost.pid), *running]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    lost.communicate(timeout=60)
    # -9 is not among the policy's codes: Kubernetes counts it and starts the index again.
    assert lost.returncode == -signal.SIGKILL
    pods[0] = _start_pod(project, env, job, 0)

    reports = {}
    for index, pod in pods.items():
        out, err = pod.communicate(timeout=600)
        assert pod.returncode == 0, f"pod {index}: exit {pod.returncode}\n{err[-3000:]}"
        reports[index] = json.loads(out)

    assert [reports[i]["shard"] for i in range(completions)] == [
        f"{i}/{completions}" for i in range(completions)
    ]
    covered = [t["target"] for i in range(completions) for t in reports[i]["targets"]]
    assert sorted(covered) == sorted(files), "each target belongs to exactly one shard"
    for url in files:
        assert _upgrades(url) == [(rev, True) for rev in fleet.REVISIONS], url
