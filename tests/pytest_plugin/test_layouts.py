"""The built-in tests whatever the layout of a project's own tests, and the app found where
``flask --app`` finds it (issue: a newcomer's project collected nothing, or could not import
``app:create_app`` from ``app.py`` at its root)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from flask_safemigrate.pytest_plugin.options import BUILTIN_NAMES, OPT_IN
from tests.support.plugin_projects import PASSING, stock_migrations, write_project

QUIET = ("-p", "no:cacheprovider", "-p", "no:hypothesispytest")
DEFAULT = [name for name in BUILTIN_NAMES if name not in OPT_IN]


@pytest.fixture(scope="module")
def stock(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return stock_migrations(tmp_path_factory.mktemp("stock"))


def nested_project(root: Path, stock: Path, ini: str = "") -> Path:
    """The passing project with its own test in ``tests/unit/`` and nothing directly in
    ``tests/`` (no conftest.py, no rows file: ``seeded-roundtrip`` skips)."""
    write_project(root, PASSING, stock, ini)
    tests = root / "tests"
    for name in ("conftest.py", "migration_data.py"):
        (tests / name).unlink()
    (tests / "unit").mkdir()
    (tests / "test_own.py").rename(tests / "unit" / "test_a.py")
    return root


def test_collected_when_the_project_tests_are_only_in_subfolders(
    pytester: pytest.Pytester, stock: Path
) -> None:
    nested_project(pytester.path, stock, "safemigrate_app = shop:create_app\n")
    result = pytester.runpytest_subprocess(*QUIET, "-v", "-rs")
    result.assert_outcomes(passed=6, skipped=1)
    result.stdout.fnmatch_lines(
        [
            "tests::safemigrate::single-head PASSED*",
            "*tests/unit/test_a.py::test_the_project_own_test PASSED*",
        ]
    )
    for name in DEFAULT:
        assert f"tests::safemigrate::{name} " in result.stdout.str(), name
    assert "did not run" not in result.stdout.str()


def test_a_run_without_them_says_why(pytester: pytest.Pytester, stock: Path) -> None:
    """Not collected (other paths named) or deselected: one line at the end says so."""
    nested_project(pytester.path, stock)
    result = pytester.runpytest_subprocess(*QUIET, "tests/unit")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "safemigrate: the 6 built-in tests did not run: this run collects tests/unit only,"
            " and they are collected with the tests folder, tests (run pytest, or pytest tests)"
        ]
    )
    result = pytester.runpytest_subprocess(*QUIET, "-k", "single or test_the")
    result.assert_outcomes(passed=2, deselected=5)
    result.stdout.fnmatch_lines(
        [
            "safemigrate: 5 of the 6 built-in tests (lint-pending, upgrade-from-base,"
            " models-match, roundtrip, seeded-roundtrip) did not run:"
            " deselected by -k 'single or test_the'"
        ]
    )
    result = pytester.runpytest_subprocess(
        *QUIET, "--deselect", "tests::safemigrate::seeded-roundtrip", "-m", "not slow"
    )
    result.assert_outcomes(passed=6, deselected=1)
    result.stdout.fnmatch_lines(
        [
            "safemigrate: 1 of the 6 built-in tests (seeded-roundtrip) did not run:"
            " deselected by -m 'not slow', --deselect"
        ]
    )


def test_collected_with_an_empty_tests_folder(pytester: pytest.Pytester, stock: Path) -> None:
    root = nested_project(pytester.path, stock)
    shutil.rmtree(root / "tests" / "unit")
    result = pytester.runpytest_subprocess(*QUIET, "-rs")
    result.assert_outcomes(passed=5, skipped=1)
    assert result.ret == 0


def test_collected_with_xdist_in_a_tests_package(pytester: pytest.Pytester, stock: Path) -> None:
    """``tests/`` and ``tests/unit/`` as packages (``__init__.py``), two workers."""
    root = nested_project(pytester.path, stock)
    (root / "tests" / "__init__.py").write_text("")
    (root / "tests" / "unit" / "__init__.py").write_text("")
    result = pytester.runpytest_subprocess(*QUIET, "-n", "2", "-v")
    result.assert_outcomes(passed=6, skipped=1)
    assert "did not run" not in result.stdout.str()
    for name in DEFAULT:
        assert f"tests::safemigrate::{name} " in result.stdout.str(), name
