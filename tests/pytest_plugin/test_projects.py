"""The pytest plugin drives complete example projects (:mod:`tests.support.plugin_projects`).

Each case writes a project into pytester's folder and runs its pytest (the plugin is found
through its ``pytest11`` entry point, as in a team's virtualenv): the passing project on
SQLite, PostgreSQL and MariaDB, and one project per failure kind, each failing the built-in
test it should, with a titled block naming the revision. Runs with ``-n 2`` (pytest-xdist,
in a subprocess with its workers) must give the same outcomes; the others run in this
process (pytester's in-process run: a second of imports fewer each, see ``conftest.py``); on
a server, every scratch database the project's tests were given must be gone afterwards.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from flask_safemigrate.pytest_plugin.options import BUILTIN_NAMES, DATABASE_URL_ENV, OPT_IN
from flask_safemigrate.verify.suite import BUILTIN_TESTS
from tests.support.cli import invoke
from tests.support.databases import (
    DB_KINDS,
    SERVER_KINDS,
    DbKind,
    database_exists,
    require_server,
    server_url,
)
from tests.support.plugin_projects import (
    PASSING,
    R3,
    VARIANTS,
    Variant,
    project_app,
    stock_migrations,
    write_project,
)
from tests.support.revisions import revision_script, write_revision

OWN_TEST = "tests/test_own.py::test_the_project_own_test"

#: The projects that run on the servers too: their databases matter (the others, a second
#: head and drift, are found the same way whatever the database: SQLite only).
ON_SERVERS = ("passing", "downgrade-leaves-table", "leftover-row", "seeded-row-lost")
#: The cases run under ``-n 2``: the passing project everywhere, and a failing one per server.
WITH_XDIST = {
    ("passing", "sqlite"),
    ("passing", "postgresql"),
    ("passing", "mysql"),
    ("leftover-row", "postgresql"),
    ("seeded-row-lost", "mysql"),
}


def _cases() -> list[object]:
    """(project, database, xdist workers); the passing project on SQLite runs both ways."""
    cases = []
    for kind in DB_KINDS:
        for name in VARIANTS if kind == "sqlite" else ON_SERVERS:
            runs = [2] if (name, kind) in WITH_XDIST else [0]
            if kind == "sqlite" and name == PASSING.name:
                runs = [0, 2]
            cases += [
                pytest.param(
                    name,
                    kind,
                    workers,
                    marks=getattr(pytest.mark, kind),
                    id=f"{name}-{kind}-n{workers}",
                )
                for workers in runs
            ]
    return cases


CASES = _cases()


@pytest.fixture(scope="session")
def stock(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``flask db init``'s migrations directory, written once and copied into each project."""
    return stock_migrations(tmp_path_factory.mktemp("stock"))


def expected_outcomes(variant: Variant) -> dict[str, str]:
    outcomes = {
        f"tests::safemigrate::{name}": "passed" for name in BUILTIN_NAMES if name not in OPT_IN
    }
    outcomes.update({f"tests::safemigrate::{name}": "failed" for name in variant.failed})
    outcomes.update({f"tests::safemigrate::{name}": "skipped" for name in variant.skipped})
    outcomes[OWN_TEST] = "passed"
    return outcomes


def read_outcomes(root: Path) -> dict[str, str]:
    """Each test's outcome as the project's conftest recorded it (worst phase wins)."""
    rank = {"passed": 0, "skipped": 1, "failed": 2, "error": 3}
    outcomes: dict[str, str] = {}
    for line in (root / "outcomes.txt").read_text(encoding="utf-8").splitlines():
        nodeid, when, outcome = line.split("\t")
        if outcome == "failed" and when != "call":
            outcome = "error"
        if outcome == "passed" and when != "call":
            continue
        if rank[outcome] >= rank[outcomes.get(nodeid, "passed")]:
            outcomes[nodeid] = outcome
    return outcomes


def failure_block(output: str, name: str) -> str:
    """The failure section pytest printed for ``safemigrate::name``."""
    found = re.search(
        rf"^_+ safemigrate::{re.escape(name)} _+\n(.*?)(?=^_{{3,}} |^={{3,}} |^-{{3,}} Captured)",
        output,
        re.MULTILINE | re.DOTALL,
    )
    assert found is not None, f"no failure section for safemigrate::{name} in:\n{output}"
    return re.sub(r"^\[gw\d+\] .*\n", "", found.group(1))  # the xdist worker's line


def verify_messages(root: Path) -> set[str]:
    """The errors ``flask db verify --roundtrip --rows`` gives for the project (its own
    database is not read: ``--no-db``, as the plugin never reads it). The command runs in this
    process, on the project's app (what it reports does not depend on the process)."""
    command = ["db", "verify", "--no-db", "--roundtrip", "--rows", "tests/migration_data.py"]
    with project_app(root) as app:
        done = invoke(app, *command, "--format", "json")
    report = json.loads(done.stdout)
    assert done.exit_code == (1 if report["problems"] else 0), done.output
    return {p["message"] for p in report["problems"] if p["severity"] == "error"}


def plugin_messages(output: str, variant: Variant) -> set[str]:
    """What the built-in tests that ``flask db verify`` also makes said failed."""
    return {
        message
        for test in variant.failed
        if test != "lint-pending"  # flask db lint's, not verify's
        for message in re.findall(r"^  what failed: (.*)$", failure_block(output, test), re.M)
    }


def test_the_plugin_names_the_suite_tests() -> None:
    """The inert plugin repeats the names so as to import nothing: they must agree."""
    assert BUILTIN_NAMES == BUILTIN_TESTS


@pytest.mark.parametrize(("name", "kind", "workers"), CASES)
def test_project(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    stock: Path,
    name: str,
    kind: DbKind,
    workers: int,
) -> None:
    variant = VARIANTS[name]
    ini = ""
    monkeypatch.delenv(DATABASE_URL_ENV, raising=False)
    if kind in SERVER_KINDS:
        assert kind in ("postgresql", "mysql")
        url = server_url(kind)  # type: ignore[arg-type]
        require_server(kind, url)  # type: ignore[arg-type]
        shown = url.render_as_string(hide_password=False)
        if kind == "postgresql":  # one server through the ini, the other through the env
            ini = f"safemigrate_database_url = {shown}\n"
        else:
            monkeypatch.setenv(DATABASE_URL_ENV, shown)
    root = write_project(pytester.path, variant, stock, ini)
    # Hypothesis (installed here for other tests) costs each process 0.8 s of CPU to import.
    args = ["-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-rs"]
    if workers:
        result = pytester.runpytest_subprocess(*args, "-n", str(workers), timeout=600)
    else:
        result = pytester.runpytest_inprocess(*args)
    output = result.stdout.str()

    assert read_outcomes(root) == expected_outcomes(variant), output
    assert result.ret == (1 if variant.failed else 0), output
    for test, words in variant.failed.items():
        block = failure_block(output, test)
        assert block.startswith(f"safemigrate::{test} failed: "), block
        assert "Traceback" not in block and "what to do:" in block, block
        for word in words:
            assert word in block, f"{word!r} not in:\n{block}"
    for reason in set(variant.skipped.values()):
        assert reason in output, output
    if kind == "sqlite" and not workers:
        # One command for teams without pytest: the same checks, the same findings.
        assert plugin_messages(output, variant) == verify_messages(root)
    names = (root / "scratch_names.txt").read_text(encoding="utf-8").split()
    assert len(names) == 4, names  # the four built-in tests that migrate
    if kind in SERVER_KINDS:
        assert all(n.startswith("sm_verify_") for n in names), names
        left = [n for n in names if database_exists(kind, server_url(kind), n)]  # type: ignore[arg-type]
        assert left == [], f"scratch databases left on the {kind} server: {left}"


COMPAT = "compatible-with-previous-release"


def _server_ini(kind: DbKind, monkeypatch: pytest.MonkeyPatch) -> str:
    """The scratch server for ``kind``, through the ini (PostgreSQL) or the env (MariaDB)."""
    monkeypatch.delenv(DATABASE_URL_ENV, raising=False)
    if kind not in SERVER_KINDS:
        return ""
    url = server_url(kind)  # type: ignore[arg-type]
    require_server(kind, url)  # type: ignore[arg-type]
    shown = url.render_as_string(hide_password=False)
    if kind == "postgresql":
        return f"safemigrate_database_url = {shown}\n"
    monkeypatch.setenv(DATABASE_URL_ENV, shown)
    return ""


@pytest.mark.parametrize("kind", [pytest.param(k, marks=getattr(pytest.mark, k)) for k in DB_KINDS])
def test_compatible_with_previous_release(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, stock: Path, kind: DbKind
) -> None:
    ini = _server_ini(kind, monkeypatch)
    ini += f"safemigrate_previous_release = release-1.json\nsafemigrate_tests = {COMPAT}\n"
    root = write_project(pytester.path, PASSING, stock, ini)
    with project_app(root) as app:
        done = invoke(app, "db", "snapshot")
    assert done.exit_code == 0 and done.stdout.startswith("Wrote "), done.output
    current = json.loads((root / "migrations" / "models.snapshot.json").read_text("utf-8"))
    args = ["-p", "no:cacheprovider", "-p", "no:hypothesispytest"]
    # The previous release mapped exactly what the migrations build: nothing breaks.
    (root / "release-1.json").write_text(json.dumps(current), encoding="utf-8")
    result = pytester.runpytest_inprocess(*args)
    assert read_outcomes(root) == {f"tests::safemigrate::{COMPAT}": "passed", OWN_TEST: "passed"}
    # It also mapped users.nickname, which the migrations never made (dropped, or renamed).
    current["databases"][0]["tables"]["users"]["columns"]["nickname"] = {
        "type": "string",
        "length": 40,
        "nullable": True,
    }
    (root / "release-1.json").write_text(json.dumps(current), encoding="utf-8")
    (root / "outcomes.txt").unlink()
    result = pytester.runpytest_inprocess(*args)
    output = result.stdout.str()
    assert result.ret == 1, output
    block = failure_block(output, COMPAT)
    assert block.startswith(f"safemigrate::{COMPAT} failed: "), block
    for word in ("users.nickname: column dropped or renamed", "release N+2 drops it"):
        assert word in block, block
    assert "verify --compat-with release-1.json" in block, block
    assert "Traceback" not in block
    # A pending revision renames users.name: one rename, read from the script as verify and
    # safe-upgrade read it (not the column dropped and another added).
    del current["databases"][0]["tables"]["users"]["columns"]["nickname"]
    (root / "release-1.json").write_text(json.dumps(current), encoding="utf-8")
    write_revision(
        root / "migrations",
        revision_script(
            "d4000000c0de",
            R3,
            """
            with op.batch_alter_table("users") as batch_op:
                batch_op.alter_column(
                    "name", existing_type=sa.String(length=50), new_column_name="full_name"
                )
            """,
            'raise RuntimeError("one way")',
        ),
    )
    (root / "outcomes.txt").unlink()
    result = pytester.runpytest_inprocess(*args)
    output = result.stdout.str()
    assert result.ret == 1, output
    block = failure_block(output, COMPAT)
    assert "users.name: column renamed to full_name" in block, block
    assert "release N+1 adds users.full_name beside users.name" in block, block
    assert "column dropped" not in block, block


def test_compatible_with_previous_release_needs_the_release(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, stock: Path
) -> None:
    monkeypatch.delenv(DATABASE_URL_ENV, raising=False)
    root = write_project(pytester.path, PASSING, stock, f"safemigrate_tests = {COMPAT}\n")
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    output = result.stdout.str()
    assert read_outcomes(root)[f"tests::safemigrate::{COMPAT}"] == "failed", output
    assert "safemigrate: compatible-with-previous-release needs the release" in output
    assert "set safemigrate_previous_release" in output
