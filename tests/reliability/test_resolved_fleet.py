"""``--resolved REV`` run by a whole fleet of replicas at once, after the repair (issue #13 item 7).

A revision failed (exit 4); the fix is deployed and all sixteen replicas run the same
``flask db safe-upgrade --resolved REV``. One records the repair and applies the rest; the
others find the failure already resolved (at pre-flight or under the lock) and the database at
head: every replica exits 0, the ledger holds one ``resolve`` row, and each revision is applied
once. ``--resolved`` of a revision that never failed stays a usage error (exit 2), and its JSON
keeps safe-upgrade's documented shape.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

from tests.reliability.history import HEAD, REVISIONS, Seed, revisions_between
from tests.reliability.invariants import current_revision
from tests.reliability.processes import ERROR_TEXT, Workspace, run, start
from tests.support.timing import TIMING
from tests.upgrade.histories import ledger_rows

pytestmark = TIMING

REPLICAS = 16
FAILING = REVISIONS[9]
LOCK_WAIT = 240
#: Every key of safe-upgrade's JSON (docs/architecture.md), errors included.
SHAPE = {"ok", "stage", "from", "to", "current", "applied", "problems", "backup", "summary"}


def test_sixteen_replicas_resolving_the_same_failure_all_exit_0(
    database_url: str,
    migrations: Path,
    seeded: Seed,
    tmp_path: Path,
    summary: Callable[[str], None],
) -> None:
    work = Workspace(database_url, migrations, tmp_path)
    failed = run(work, "--format", "json", name="failing", env=work.env(SM_FAIL_AT=FAILING))
    assert failed.code == 4, str(failed)
    before = current_revision(database_url)
    assert before == REVISIONS[REVISIONS.index(FAILING) - 1]

    env = work.env(SM_LOCK_WAIT=str(LOCK_WAIT))
    began = time.monotonic()
    running = [
        start(work, "--format", "json", "--resolved", FAILING, name=f"replica{i:02d}", env=env)
        for i in range(REPLICAS)
    ]
    results = [process.finish(timeout=LOCK_WAIT + 120) for process in running]
    wall = time.monotonic() - began
    summary(
        f"{REPLICAS} replicas with --resolved {FAILING}: wall {wall:.1f}s;"
        f" exit codes {sorted(r.code for r in results)}"
    )
    for result in results:
        assert result.code == 0, str(result)
        for text in ERROR_TEXT:
            assert text not in result.stdout + result.stderr, str(result)
        data = result.json()
        assert set(data) >= SHAPE and data["ok"] is True and data["to"] == [HEAD], data
    applied = [step["revision"] for r in results for step in r.json()["applied"]]
    assert sorted(applied) == sorted(revisions_between(before, HEAD)), applied
    assert current_revision(database_url) == HEAD
    rows = ledger_rows(database_url)
    resolves = [r for r in rows if r["direction"] == "resolve"]
    assert [r["revision"] for r in resolves] == [FAILING], resolves
    # The resolve row comes before the revision's successful upgrade: verify's
    # edited-after-apply check keeps looking at the upgrade's checksum.
    last = [r for r in rows if r["revision"] == FAILING][-1]
    assert (last["direction"], bool(last["success"])) == ("upgrade", True), last

    # A replica that starts late, after everything: still 0, and it says why.
    late = run(work, "--resolved", FAILING, name="late", env=env)
    assert late.code == 0, str(late)
    assert re.search(rf"--resolved {FAILING}: its failure was already resolved by \S+", late.stdout)
    assert [r["direction"] for r in ledger_rows(database_url)].count("resolve") == 1


def test_resolved_without_any_failure_is_exit_2_in_the_documented_shape(
    database_url: str, migrations: Path, seeded: Seed, tmp_path: Path
) -> None:
    work = Workspace(database_url, migrations, tmp_path)
    never_failed = REVISIONS[-1]
    before = current_revision(database_url)
    ran = run(work, "--format", "json", "--resolved", never_failed, name="typo")
    assert ran.code == 2, str(ran)
    data = ran.json()
    assert set(data) >= SHAPE, data
    assert data["ok"] is False and data["stage"] == "preflight" and data["applied"] == []
    (problem,) = data["problems"]
    assert problem["check"] == "usage-error"
    assert problem["message"] == (
        f"--resolved {never_failed}: the ledger has no failure of that revision"
    )
    assert current_revision(database_url) == before
    assert "resolve" not in [r["direction"] for r in ledger_rows(database_url)]
    # Text output: the one usual line.
    text = run(work, "--resolved", never_failed, name="typo-text")
    assert text.code == 2 and text.stderr.startswith(f"Error: --resolved {never_failed}"), str(text)
