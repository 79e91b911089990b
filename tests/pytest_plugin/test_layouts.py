"""The built-in tests whatever the layout of a project's own tests, and the app found where
``flask --app`` finds it (issue: a newcomer's project collected nothing, or could not import
``app:create_app`` from ``app.py`` at its root)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
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
    result = pytester.runpytest_inprocess(*QUIET, "-v", "-rs")
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
    result = pytester.runpytest_inprocess(*QUIET, "tests/unit")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "safemigrate: the 6 built-in tests did not run: this run collects tests/unit only,"
            " and they are collected with the tests folder, tests (run pytest, or pytest tests)"
        ]
    )
    result = pytester.runpytest_inprocess(*QUIET, "-k", "single or test_the")
    result.assert_outcomes(passed=2, deselected=5)
    result.stdout.fnmatch_lines(
        [
            "safemigrate: 5 of the 6 built-in tests (lint-pending, upgrade-from-base,"
            " models-match, roundtrip, seeded-roundtrip) did not run:"
            " deselected by -k 'single or test_the'"
        ]
    )
    result = pytester.runpytest_inprocess(
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
    result = pytester.runpytest_inprocess(*QUIET, "-rs")
    result.assert_outcomes(passed=5, skipped=1)
    assert result.ret == 0
    # The skip is reported at the built-in test, not at the plugin's line that raised it.
    result.stdout.fnmatch_lines(
        ["SKIPPED [[]1[]] tests::safemigrate::seeded-roundtrip: no rows declared: add ROWS*"]
    )
    assert "pytest_plugin" not in result.stdout.str()


def test_collected_with_xdist_in_a_tests_package(pytester: pytest.Pytester, stock: Path) -> None:
    """``tests/`` and ``tests/unit/`` as packages (``__init__.py``), two workers."""
    root = nested_project(pytester.path, stock)
    (root / "tests" / "__init__.py").write_text("")
    (root / "tests" / "unit" / "__init__.py").write_text("")
    result = pytester.runpytest_subprocess(*QUIET, "-n", "2", "-v", "-rs")
    result.assert_outcomes(passed=6, skipped=1)
    assert "did not run" not in result.stdout.str()
    result.stdout.fnmatch_lines(["SKIPPED [[]1[]] tests::safemigrate::seeded-roundtrip: no rows*"])
    for name in DEFAULT:
        assert f"tests::safemigrate::{name} " in result.stdout.str(), name


def console_pytest(root: Path, *args: str, flask_app: str = "") -> pytest.RunResult:
    """The ``pytest`` command as a team runs it: the console script, without PYTHONPATH.
    (``python -m pytest`` and pytester's subprocesses put the current directory on sys.path,
    which hides an import that works only from there.)"""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "FLASK_APP")}
    env.update({"FLASK_APP": flask_app} if flask_app else {})
    command = [str(Path(sys.executable).with_name("pytest")), *QUIET, *args]
    start = time.monotonic()
    done = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=600)
    print(done.stdout, done.stderr, sep="\n")  # shown when the test fails
    lines = done.stdout.splitlines(), done.stderr.splitlines()
    return pytest.RunResult(done.returncode, *lines, time.monotonic() - start)


def root_app_project(root: Path, stock: Path, ini: str) -> Path:
    """The passing project with ``app.py`` at its root, as ``flask --app app:create_app``
    runs it there (``wsgi.py`` removed: Flask's discovery would find that instead)."""
    write_project(root, PASSING, stock, ini)
    (root / "wsgi.py").unlink()
    (root / "app.py").write_text("from shop import create_app\n", encoding="utf-8")
    return root


TWO = ("-k", "single-head or models-match or test_the")


def test_the_app_is_found_where_flask_app_finds_it(pytester: pytest.Pytester, stock: Path) -> None:
    """``safemigrate_app = app:create_app`` with app.py at the root and no pythonpath."""
    root = root_app_project(pytester.path, stock, "safemigrate_app = app:create_app\n")
    result = console_pytest(root, *TWO, "-v")
    result.assert_outcomes(passed=3, deselected=4)
    result.stdout.fnmatch_lines(["*safemigrate::models-match PASSED*"])


def test_flask_app_is_used_when_safemigrate_app_is_not_set(
    pytester: pytest.Pytester, stock: Path
) -> None:
    """As ``flask`` reads FLASK_APP (Flask's own discovery, wsgi.py or app.py, ignores it)."""
    root = root_app_project(pytester.path, stock, "")
    (root / "app.py").unlink()
    result = console_pytest(root, *TWO, flask_app="shop:create_app")
    result.assert_outcomes(passed=3, deselected=4)
    result = console_pytest(root, *TWO, flask_app="shop.nowhere:create_app")
    result.assert_outcomes(passed=1, errors=2, deselected=4)
    result.stdout.fnmatch_lines(
        [
            f"safemigrate: FLASK_APP = 'shop.nowhere:create_app': no module 'shop.nowhere' in"
            f" {root} (where flask --app looks when run there) nor on sys.path",
            "  what to do: write the module's path from the folder of the ini file, dotted"
            " (shop/app.py is shop.app:create_app), or add the folder it is imported from to"
            " pythonpath in the ini (src layout: pythonpath = src)",
        ]
    )


def test_a_factory_called_with_arguments(pytester: pytest.Pytester, stock: Path) -> None:
    """``app:create_app("testing")``, as ``flask --app`` takes it (literal arguments only)."""
    root = root_app_project(pytester.path, stock, "safemigrate_app = app:create_app('testing')\n")
    (root / "app.py").write_text(
        "import shop\n\n\ndef create_app(config):\n"
        "    assert config == 'testing', config\n    return shop.create_app()\n",
        encoding="utf-8",
    )
    result = console_pytest(root, *TWO, "-v")
    result.assert_outcomes(passed=3, deselected=4)


@pytest.mark.parametrize(
    ("spec", "app_py", "said"),
    [
        (
            "app:make",
            "from shop import create_app\n",
            "safemigrate: safemigrate_app = 'app:make': app (app.py) has no 'make'",
        ),
        (
            "app:create_app",
            "import redis_is_not_installed\n",
            "safemigrate: safemigrate_app = 'app:create_app': importing app failed:"
            " ModuleNotFoundError: No module named 'redis_is_not_installed'",
        ),
        (
            "app:create_app",
            "def create_app():\n    raise KeyError('SECRET_KEY')\n",
            "safemigrate: safemigrate_app = 'app:create_app': create_app() raised KeyError:*",
        ),
        (
            "app:create_app(name)",
            "from shop import create_app\n",
            "safemigrate: safemigrate_app = 'app:create_app(name)': Failed to parse arguments"
            " as literal values: 'create_app(name)'.",
        ),
        (
            "app:create_app('x')",
            "def create_app(config):\n    raise KeyError(config)\n",
            "safemigrate: safemigrate_app = \"app:create_app('x')\": create_app('x') raised"
            " KeyError: 'x'",
        ),
    ],
    ids=["no-factory", "missing-dependency", "factory-raises", "not-literal", "call-raises"],
)
def test_an_app_that_cannot_be_made_says_what_to_check(
    pytester: pytest.Pytester, stock: Path, spec: str, app_py: str, said: str
) -> None:
    root = root_app_project(pytester.path, stock, f"safemigrate_app = {spec}\n")
    (root / "app.py").write_text(app_py, encoding="utf-8")
    result = console_pytest(root, "-k", "single-head")
    result.assert_outcomes(errors=1, deselected=6)
    result.stdout.fnmatch_lines([said, "  what to do: *"])
    assert "Traceback" not in result.stdout.str()
