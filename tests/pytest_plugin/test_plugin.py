"""The plugin's switches and edges: inert until turned on, narrowed by ``safemigrate_tests``,
``migration_runner`` in a project's own test, and one clear line for bad settings."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.support.databases import ServerKind, require_server, server_url
from tests.support.plugin_projects import PASSING, R1, R2, R3, stock_migrations, write_project

#: Hypothesis (installed for other tests) costs each process 0.8 s of CPU to import.
QUIET = ("-p", "no:cacheprovider", "-p", "no:hypothesispytest")

RUNNER_TEST = f"""\
def test_email_keeps_the_users(migration_runner):
    assert migration_runner.current() == ()
    assert migration_runner.upgrade("{R2}") == ("{R1}", "{R2}")
    migration_runner.insert("users", [{{"id": 7, "name": "eve"}}])
    assert migration_runner.upgrade() == ("{R3}",)
    assert migration_runner.rows("users") == [{{"id": 7, "name": "eve", "email": None}}]
    assert migration_runner.downgrade("{R1}") == ("{R3}", "{R2}")
    assert migration_runner.current() == ("{R1}",)
"""


@pytest.fixture(scope="module")
def stock(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return stock_migrations(tmp_path_factory.mktemp("stock"))


def write_ini(root: Path, text: str) -> None:
    (root / "pytest.ini").write_text("[pytest]\n" + textwrap.dedent(text), encoding="utf-8")


def test_importing_the_plugin_needs_no_database_no_xdist_and_imports_nothing_heavy() -> None:
    code = textwrap.dedent(
        """
        import sys
        sys.modules["xdist"] = None  # as if pytest-xdist were not installed
        import flask_safemigrate.pytest_plugin
        heavy = [m for m in ("flask", "sqlalchemy", "alembic") if m in sys.modules]
        assert not heavy, heavy
        import flask_safemigrate.pytest_plugin.items
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_inert_until_turned_on(pytester: pytest.Pytester, stock: Path) -> None:
    """Installed but not turned on: no built-in tests, no fixtures (a project's test that
    asks for one errors as for any unknown fixture)."""
    root = write_project(pytester.path, PASSING, stock)
    write_ini(root, "")
    (root / "tests" / "test_runner.py").write_text(RUNNER_TEST, encoding="utf-8")
    result = pytester.runpytest_inprocess(*QUIET, "-rA")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*fixture 'migration_runner' not found*"])
    assert "safemigrate::" not in result.stdout.str()


def test_turned_on_from_the_command_line_and_narrowed(
    pytester: pytest.Pytester, stock: Path
) -> None:
    """``--safemigrate``, the app named in the ini, two built-in tests, and a project test of
    its own on ``migration_runner``."""
    root = write_project(pytester.path, PASSING, stock)
    write_ini(
        root,
        """
        safemigrate_app = shop:create_app
        safemigrate_tests = single-head, roundtrip
        """,
    )
    (root / "tests" / "test_runner.py").write_text(RUNNER_TEST, encoding="utf-8")
    result = pytester.runpytest_inprocess(*QUIET, "--safemigrate", "-v")
    result.stdout.fnmatch_lines(
        [
            "tests::safemigrate::single-head PASSED*",
            "tests::safemigrate::roundtrip PASSED*",
            "tests/test_own.py::test_the_project_own_test PASSED*",
            "tests/test_runner.py::test_email_keeps_the_users PASSED*",
        ]
    )
    result.assert_outcomes(passed=4)
    assert result.ret == 0


def test_an_unknown_built_in_test_is_one_usage_line(pytester: pytest.Pytester) -> None:
    write_ini(pytester.path, "safemigrate = true\nsafemigrate_tests = roundtrip nope\n")
    pytester.mkdir("tests")
    result = pytester.runpytest_inprocess(*QUIET)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*safemigrate_tests: unknown built-in test nope (known: *"])
    assert "Traceback" not in result.stderr.str()


def test_an_app_that_cannot_be_made_fails_each_test_with_what_to_do(
    pytester: pytest.Pytester, stock: Path
) -> None:
    root = write_project(pytester.path, PASSING, stock)
    write_ini(root, "safemigrate = true\nsafemigrate_app = nowhere:create_app\n")
    result = pytester.runpytest_inprocess(*QUIET, "-k", "single-head")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*safemigrate: safemigrate_app = 'nowhere:create_app': no module 'nowhere' in"
            f" {root} (where flask --app looks when run there) nor on sys.path",
            "*what to do: write the module's path from the folder of the ini file*",
        ]
    )


def test_rows_without_rows_are_one_clear_error(pytester: pytest.Pytester, stock: Path) -> None:
    root = write_project(pytester.path, PASSING, stock)
    write_ini(root, "safemigrate = true\nsafemigrate_tests = seeded-roundtrip\n")
    (root / "tests" / "migration_data.py").write_text("DATA = {}\n", encoding="utf-8")
    result = pytester.runpytest_inprocess(*QUIET)
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*safemigrate: tests/migration_data.py defines no ROWS*"])


@pytest.mark.parametrize(
    "kind",
    [
        pytest.param("postgresql", marks=pytest.mark.postgresql),
        pytest.param("mysql", marks=pytest.mark.mysql),
    ],
)
def test_a_refused_login_says_so_as_the_cli_does_without_its_password(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, stock: Path, kind: ServerKind
) -> None:
    """A wrong password (MariaDB) or login (PostgreSQL here trusts every password, so the
    role does not exist): the server is up and said no, worded as ``flask db verify`` words
    it, not "check that the server is up"."""
    admin = server_url(kind)
    require_server(kind, admin)
    wrong = (
        admin.set(password="sm-Wr0ng-secret")
        if kind == "mysql"
        else admin.set(username="sm_no_such_role", password="sm-Wr0ng-secret")
    )
    root = write_project(pytester.path, PASSING, stock)
    write_ini(root, "safemigrate = true\n")
    monkeypatch.setenv("SAFEMIGRATE_TEST_DATABASE_URL", wrong.render_as_string(hide_password=False))
    result = pytester.runpytest_inprocess(*QUIET, "-k", "upgrade-from-base")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "safemigrate: cannot create a scratch database on *:***@127.0.0.1:*",
            "  what to do: the server is up and refused the login: check the user, the password"
            " and the database name *, or name another in safemigrate_database_url"
            " (SAFEMIGRATE_TEST_DATABASE_URL wins)",
        ]
    )
    output = result.stdout.str() + result.stderr.str()
    assert "Wr0ng" not in output
    assert "check that the server is up" not in output


def test_an_unreachable_server_is_one_error_without_its_password(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, stock: Path
) -> None:
    root = write_project(pytester.path, PASSING, stock)
    write_ini(root, "safemigrate = true\n")
    unused_port = "postgresql+psycopg://postgres:sm-secret@127.0.0.1:1/postgres"
    monkeypatch.setenv("SAFEMIGRATE_TEST_DATABASE_URL", unused_port)
    result = pytester.runpytest_inprocess(*QUIET, "-k", "upgrade-from-base")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "safemigrate: cannot create a scratch database on"
            " postgresql+psycopg://postgres:***@127.0.0.1:1/postgres: *",
            "  what to do: check that the server is up, or name another in"
            " safemigrate_database_url (SAFEMIGRATE_TEST_DATABASE_URL wins)",
        ]
    )
    assert "sm-secret" not in result.stdout.str() + result.stderr.str()
    assert "During handling" not in result.stdout.str()
