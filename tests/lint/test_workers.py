"""Linting in forked workers gives exactly the findings of linting in one process."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from flask_safemigrate.lint import workers
from flask_safemigrate.lint.engine import LintConfig, Migration, Rule, Violation, lint, lint_files
from flask_safemigrate.lint.reading import ReadScript, read_script

FIXTURES = Path(__file__).parent / "fixtures"


def _history(root: Path, copies: int) -> Path:
    """Every rule fixture script, ``copies`` times, chained into one (forked) history."""
    versions = root / "versions"
    versions.mkdir()
    scripts = sorted(FIXTURES.glob("*.py"))
    down = None
    for copy in range(copies):
        for number, script in enumerate(scripts):
            rev = f"r{copy:03d}{number:03d}"
            text = script.read_text(encoding="utf-8")
            # Each copy is a revision of one history, so the graph rules see all of them.
            header = f"revision = {rev!r}\ndown_revision = {down!r}\n"
            (versions / f"{rev}_{script.stem.replace('-', '_')}.py").write_text(
                text + "\n" + header, encoding="utf-8"
            )
            down = rev
    (versions / "zz_broken.py").write_bytes(b"def upgrade(:\n")
    (versions / "zz_latin1.py").write_bytes(b"# caf\xe9\nrevision = 'x'\n")
    return versions


def _as_rows(report: object) -> list[tuple[object, ...]]:
    return [
        (f.path, f.line, f.col, f.code, f.message, f.help)
        for f in report.findings  # type: ignore[attr-defined]
    ]


@pytest.mark.parametrize("jobs", [2, 3])
def test_workers_find_what_one_process_finds(tmp_path: Path, jobs: int) -> None:
    versions = _history(tmp_path, copies=4)
    config = LintConfig(report_unused_ignores=True)

    alone = lint([versions], config, jobs=1)
    forked = lint([versions], config, jobs=jobs)

    assert len(alone.findings) > 100
    assert {f.rule for f in alone.findings} >= {"unparseable-script", "drop-column"}
    assert _as_rows(forked) == _as_rows(alone)
    assert forked.facts == alone.facts


def test_workers_respect_only_revisions(tmp_path: Path) -> None:
    versions = _history(tmp_path, copies=2)
    only = {"r001000", "r001005"}

    alone = lint([versions], LintConfig(), only_revisions=only, jobs=1)
    forked = lint([versions], LintConfig(), only_revisions=only, jobs=2)

    # The two revisions, and every script whose revision cannot be read (never left out).
    unknown = [
        path
        for path in versions.glob("*.py")
        if not isinstance(read := read_script(path), ReadScript) or read.info is None
    ]
    assert "zz_broken.py" in {path.name for path in unknown}
    assert alone.facts["files"] == 2 + len(unknown)
    assert _as_rows(forked) == _as_rows(alone)


def test_short_histories_and_threaded_callers_stay_in_process(tmp_path: Path) -> None:
    assert workers.worker_count(workers.FILES_PER_WORKER - 1) == 1
    release = threading.Event()
    thread = threading.Thread(target=release.wait)
    thread.start()
    try:
        # Forking while another thread may hold a lock could leave the child stuck on it.
        assert workers.worker_count(100 * workers.FILES_PER_WORKER) == 1
    finally:
        release.set()
        thread.join()


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="Linux scheduling only")
def test_workers_start_only_on_idle_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    if threading.active_count() > 1:
        pytest.skip("another thread is alive: no worker ever starts")
    long_history = 100 * workers.FILES_PER_WORKER
    usable = len(os.sched_getaffinity(0))
    monkeypatch.setattr(os, "cpu_count", lambda: usable)

    monkeypatch.setattr(os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    assert workers.worker_count(long_history) == usable
    # One core kept busy by another process: the rest, and never fewer than this process.
    monkeypatch.setattr(os, "getloadavg", lambda: (1.0, 0.0, 0.0))
    assert workers.worker_count(long_history) == max(1, usable - 1)
    # A saturated machine: a worker would only run in turns with this process.
    monkeypatch.setattr(os, "getloadavg", lambda: (4.0 * usable, 0.0, 0.0))
    assert workers.worker_count(long_history) == 1

    def unknown() -> tuple[float, float, float]:
        raise OSError("no load average here")

    monkeypatch.setattr(os, "getloadavg", unknown)
    assert workers.worker_count(long_history) == usable


class _KillsItsWorker(Rule):
    """A rule that takes its worker process down, as an out-of-memory kill would."""

    code = "SM999"
    name = "kills-its-worker"

    def check(self, migration: Migration) -> Iterator[Violation]:
        os._exit(3)
        yield Violation("unreachable")


def test_a_worker_that_dies_makes_the_caller_lint_alone(tmp_path: Path) -> None:
    versions = _history(tmp_path, copies=1)
    files = sorted(versions.glob("*.py"))

    assert (
        workers.lint_in_workers(lint_files, files, [_KillsItsWorker], LintConfig(), None, 2) is None
    )
