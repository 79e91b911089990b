"""The lint cache (``lint.cache``): a cached run reports what a fresh one does, and an edit to
anything a script's findings depend on (its text, ``env.py``, the configuration) is linted
again, never answered from the cache."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flask_safemigrate.lint import LintConfig, engine
from flask_safemigrate.lint.cache import FILE_NAME
from flask_safemigrate.report import Report
from tests.support.revisions import write_users_then_drop_email

FIRST, SECOND = "c1c1c1c1c1c1", "d2d2d2d2d2d2"
POSTGRES = LintConfig(dialect="postgresql")


@pytest.fixture
def versions(tmp_path: Path) -> Path:
    """``FIRST`` creates a table; ``SECOND`` drops a column of it (SM102, an error)."""
    return write_users_then_drop_email(tmp_path / "migrations", FIRST, SECOND)


def run(versions: Path, cache: Path | None, config: LintConfig = POSTGRES) -> Report:
    return engine.lint([versions], config, only_revisions={FIRST, SECOND}, cache_dir=cache)


def shape(report: Report) -> object:
    return report.to_dict()


def doctor(cache: Path, message: str) -> int:
    """Rewrite every cached finding's message to ``message``; how many were rewritten."""
    path = cache / FILE_NAME
    data = json.loads(path.read_text(encoding="utf-8"))
    count = 0
    for section in data["sections"].values():
        for entry in section["entries"].values():
            for finding in entry["findings"] or ():
                finding["message"] = message
                count += 1
    path.write_text(json.dumps(data), encoding="utf-8")
    return count


def test_a_cached_run_reports_what_a_fresh_run_does(versions: Path, tmp_path: Path) -> None:
    cache = tmp_path / "instance"
    fresh = run(versions, None)
    assert any(f.rule == "drop-column" for f in fresh.findings)
    first = run(versions, cache)
    assert (cache / FILE_NAME).is_file()
    second = run(versions, cache)
    assert shape(first) == shape(fresh)
    assert shape(second) == shape(fresh)


def test_the_cache_is_read(versions: Path, tmp_path: Path) -> None:
    """A doctored entry comes back: the second run answered from the file, not by linting."""
    cache = tmp_path / "instance"
    run(versions, cache)
    assert doctor(cache, "from the cache") > 0
    assert {f.message for f in run(versions, cache).findings} == {"from the cache"}


def test_an_edited_script_is_linted_again(versions: Path, tmp_path: Path) -> None:
    cache = tmp_path / "instance"
    run(versions, cache)
    doctor(cache, "from the cache")
    (script,) = versions.glob(f"{SECOND}*.py")
    script.write_text(
        script.read_text(encoding="utf-8").replace('"email")', '"email")  # edited'),
        encoding="utf-8",
    )
    findings = run(versions, cache).findings
    edited = [f for f in findings if f.path is not None and SECOND in f.path]
    assert any(f.rule == "drop-column" for f in edited)
    assert all(f.message != "from the cache" for f in edited)


def test_another_configuration_or_env_py_is_linted_again(versions: Path, tmp_path: Path) -> None:
    cache = tmp_path / "instance"
    run(versions, cache)
    doctor(cache, "from the cache")
    sqlite = run(versions, cache, LintConfig(dialect="sqlite"))
    assert sqlite.findings
    assert all(f.message != "from the cache" for f in sqlite.findings)
    (versions.parent / "env.py").write_text("# another env.py\n", encoding="utf-8")
    again = run(versions, cache)
    assert any(f.rule == "drop-column" for f in again.findings)
    assert all(f.message != "from the cache" for f in again.findings)


def test_a_broken_or_unwritable_cache_is_not_used(versions: Path, tmp_path: Path) -> None:
    fresh = shape(run(versions, None))
    cache = tmp_path / "instance"
    cache.mkdir()
    (cache / FILE_NAME).write_text("{not json", encoding="utf-8")
    assert shape(run(versions, cache)) == fresh
    blocked = tmp_path / "a-file"
    blocked.write_text("", encoding="utf-8")  # the cache folder cannot be made below a file
    assert shape(run(versions, blocked / "instance")) == fresh
    assert shape(run(versions, blocked / "instance")) == fresh
