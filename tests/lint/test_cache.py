"""The lint cache (``lint.cache``): a cached run reports what a fresh one does, and an edit to
anything a script's findings depend on (its text, ``env.py``, the configuration) is linted
again, never answered from the cache."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from flask_safemigrate.lint import LintConfig, engine
from flask_safemigrate.lint.cache import FILE_GLOB
from flask_safemigrate.report import Report
from tests.support.revisions import write_users_then_drop_email

FIRST, SECOND = "c1c1c1c1c1c1", "d2d2d2d2d2d2"
POSTGRES = LintConfig(dialect="postgresql")


@pytest.fixture
def versions(tmp_path: Path) -> Path:
    """``FIRST`` creates a table; ``SECOND`` drops a column of it (SM102, an error)."""
    return write_users_then_drop_email(tmp_path / "migrations", FIRST, SECOND)


def run(versions: Path, cache: Path | None, config: LintConfig = POSTGRES) -> Report:
    """``--since FIRST``: ``SECOND`` alone is judged (``FIRST`` is read for its revision), and
    ``users`` is a table released before, so its column's drop is reported."""
    return engine.lint([versions], config, only_revisions={SECOND}, cache_dir=cache)


def shape(report: Report) -> object:
    return report.to_dict()


def doctor(cache: Path, message: str) -> int:
    """Rewrite every cached finding's message to ``message``; how many were rewritten."""
    count = 0
    for path in cache.glob(FILE_GLOB):  # one file per configuration
        section = json.loads(path.read_text(encoding="utf-8"))
        for entry in section["entries"].values():  # [revision, findings, silenced, script]
            for finding in entry[1] or ():  # [rule, severity, message, ...]
                finding[2] = message
                count += 1
        path.write_text(json.dumps(section), encoding="utf-8")
    return count


def test_a_cached_run_reports_what_a_fresh_run_does(versions: Path, tmp_path: Path) -> None:
    cache = tmp_path / "instance"
    fresh = run(versions, None)
    assert any(f.rule == "drop-column" for f in fresh.findings)
    first = run(versions, cache)
    assert len(list(cache.glob(FILE_GLOB))) == 1
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
    run(versions, cache)
    for path in cache.glob(FILE_GLOB):
        path.write_text("{not json", encoding="utf-8")
    assert shape(run(versions, cache)) == fresh
    blocked = tmp_path / "a-file"
    blocked.write_text("", encoding="utf-8")  # the cache folder cannot be made below a file
    assert shape(run(versions, blocked / "instance")) == fresh
    assert shape(run(versions, blocked / "instance")) == fresh


# ------------------------------------------------------------------ the whole history, as
# `safemigrate lint` runs it: every script's findings and the history rules


def run_all(versions: Path, cache: Path | None, config: LintConfig = POSTGRES) -> Report:
    return engine.lint([versions], config, cache_dir=cache)


def test_a_whole_run_from_the_cache_reports_what_a_fresh_run_does(
    versions: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "instance"
    fresh = run_all(versions, None)
    assert shape(run_all(versions, cache)) == shape(fresh)
    assert shape(run_all(versions, cache)) == shape(fresh)
    assert doctor(cache, "from the cache") > 0
    assert {f.message for f in run_all(versions, cache).findings if f.code == "SM102"} == {
        "from the cache"
    }


def test_the_history_rules_judge_the_graph_of_this_run(versions: Path, tmp_path: Path) -> None:
    """Every script left hits, yet the graph is read again: removing the first revision
    leaves the second with a missing parent."""
    cache = tmp_path / "instance"
    run_all(versions, cache)
    (first,) = versions.glob(f"{FIRST}*.py")
    first.unlink()
    cached = run_all(versions, cache)
    assert "missing-parent" in {f.rule for f in cached.findings}
    assert shape(cached) == shape(run_all(versions, None))


def test_another_rule_selection_or_version_of_the_tool_is_linted_again(
    versions: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "instance"
    run_all(versions, cache)
    doctor(cache, "from the cache")
    for config in (
        LintConfig(dialect="postgresql", ignore=("SM101",)),
        LintConfig(dialect="postgresql", select=("ALL",)),
        LintConfig(dialect="postgresql", report_unused_ignores=True),
        LintConfig(dialect="postgresql", sqlalchemy="1.4"),
    ):
        again = run_all(versions, cache, config)
        assert any(f.rule == "drop-column" for f in again.findings), config
        assert all(f.message != "from the cache" for f in again.findings), config
    from flask_safemigrate import code_fingerprint

    monkeypatch.setattr(code_fingerprint, "__version__", "999.0")
    code_fingerprint.code_fingerprint.cache_clear()
    try:
        again = run_all(versions, cache)
    finally:
        code_fingerprint.code_fingerprint.cache_clear()
    assert any(f.rule == "drop-column" for f in again.findings)
    assert all(f.message != "from the cache" for f in again.findings)


def cli(tmp_path: Path, *args: str, cache: Path) -> tuple[int, str, str]:
    """``safemigrate lint`` in this process, with ``cache`` as ``XDG_CACHE_HOME``."""
    from click.testing import CliRunner

    from flask_safemigrate.console import main

    done = CliRunner().invoke(main, ["lint", *args], env={"XDG_CACHE_HOME": str(cache)})
    return done.exit_code, done.stdout, done.stderr


def test_safemigrate_lint_keeps_results_in_the_user_cache(versions: Path, tmp_path: Path) -> None:
    xdg = tmp_path / "xdg"
    args = ("--dialect", "postgresql", "--format", "json", str(versions))
    first = cli(tmp_path, *args, cache=xdg)
    assert first[0] == 1 and "drop-column" in first[1]
    assert cli(tmp_path, *args, cache=xdg) == first
    assert doctor(xdg / "flask-safemigrate", "from the cache") > 0
    assert "from the cache" in cli(tmp_path, *args, cache=xdg)[1]
    assert cli(tmp_path, "--no-cache", *args, cache=xdg) == first


def test_safemigrate_lint_with_a_broken_cache_says_nothing_of_it(
    versions: Path, tmp_path: Path
) -> None:
    args = ("--dialect", "postgresql", str(versions))
    fresh = cli(tmp_path, "--no-cache", *args, cache=tmp_path / "unused")
    assert fresh[0] == 1 and "SM102" in fresh[1]
    corrupt = tmp_path / "corrupt"
    assert cli(tmp_path, *args, cache=corrupt) == fresh
    (path,) = (corrupt / "flask-safemigrate").glob(FILE_GLOB)
    good = json.loads(path.read_text(encoding="utf-8"))
    some_entry = next(iter(good["entries"]))
    for content in (
        "{not json",
        "[]",
        json.dumps({**good, "entries": {some_entry: {"findings": 3}}}),
        json.dumps({**good, "entries": {some_entry: [*good["entries"][some_entry][:3], 1]}}),
        json.dumps({**good, "key": "another"}),
        json.dumps({**good, "rules_run": "drop-column", "graph_modules": ["os"]}),
    ):
        path.write_text(content, encoding="utf-8")
        assert cli(tmp_path, *args, cache=corrupt) == fresh, content[:80]
    blocked = tmp_path / "a-file"
    blocked.write_text("", encoding="utf-8")  # the cache folder cannot be made below a file
    assert cli(tmp_path, *args, cache=blocked) == fresh
    assert cli(tmp_path, *args, cache=blocked) == fresh


def test_the_installed_sqlalchemy_is_read_from_its_folder_name_as_metadata_reads_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cache is keyed by the SQLAlchemy rules judge for, read without importlib.metadata."""
    import importlib.metadata

    from flask_safemigrate.lint import model

    assert model.listed_sqlalchemy() == importlib.metadata.version("sqlalchemy")
    site = tmp_path / "site"
    (site / "SQLAlchemy-1.4.52.dist-info").mkdir(parents=True)
    monkeypatch.setattr("sys.path", [str(tmp_path / "missing"), str(site)])
    assert model.listed_sqlalchemy() == "1.4.52"
    (site / "SQLAlchemy-1.4.52.dist-info").rmdir()
    (site / "SQLAlchemy-1.3.0-py3.11.egg-info").mkdir()  # not plain: metadata answers
    assert model.listed_sqlalchemy() is None


def test_each_configuration_has_a_file_and_the_least_recently_used_go(
    versions: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flask_safemigrate.lint import cache as cache_module

    cache = tmp_path / "instance"
    configs = {code: LintConfig(dialect="postgresql", select=(code,)) for code in ("SM1", "SM2")}
    files = {code: cache_module.LintCache(cache, c).path for code, c in configs.items()}
    for config in configs.values():
        run_all(versions, cache, config)
    assert sorted(cache.glob(FILE_GLOB)) == sorted(files.values())
    for number, path in enumerate(files.values()):  # SM1's the oldest, SM2's the newest
        os.utime(path, ns=(number * 10**9, number * 10**9))
    run_all(versions, cache, configs["SM1"])  # answered from the cache: now the newest
    monkeypatch.setattr(cache_module, "_SECTIONS", 2)
    sm3 = LintConfig(dialect="postgresql", select=("SM3",))
    run_all(versions, cache, sm3)
    assert sorted(cache.glob(FILE_GLOB)) == sorted(
        [files["SM1"], cache_module.LintCache(cache, sm3).path]
    )


@pytest.mark.parametrize(
    ("extra", "kept"),
    [
        ({"only-on": ["mysql", "sqlite"], "rows": 3, "ratio": 0.5, "n": None}, True),
        ({"nested": {"a": [1, {"b": True}]}}, True),
        ({"dialects": ("mysql",)}, False),  # would come back a list
        ({"ratio": float("nan")}, False),  # unequal to itself
        ({1: "int key"}, False),  # would come back "1"
    ],
)
def test_an_entry_is_kept_only_if_it_reads_back_as_it_was(
    tmp_path: Path, extra: dict[object, object], kept: bool
) -> None:
    from flask_safemigrate.lint.cache import Cached, LintCache
    from flask_safemigrate.report import Finding, Severity

    finding = Finding("drop-column", Severity.ERROR, "drops", "SM102", "a.py", 1, 1, extra=extra)
    script = tmp_path / "a.py"
    cache = LintCache(tmp_path / "cache", POSTGRES)
    key = cache.entry_key(script, b"x")
    cache.put(key, script, Cached("a1", [finding], 0))
    cache.rules_run, cache.graph_modules = [], []
    cache.save()
    found = LintCache(tmp_path / "cache", POSTGRES).get(key, script)
    if kept:
        assert found is not None and found.findings == [finding]
    else:
        assert found is None
