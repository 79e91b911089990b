"""Fixtures of the reliability suite: the shared 30-revision history, seeding, a summary."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.reliability.app import build_app
from tests.reliability.history import (
    SEED_REVISION,
    SERVER_ATTACHMENTS,
    SQLITE_ATTACHMENTS,
    Seed,
    insert_seed,
    make_seed,
    write_history,
)
from tests.reliability.upgrades import upgrade_in_process
from tests.support.apps import dispose_app, init_migrations
from tests.support.databases import DbKind

#: The ``user_properties`` name of summary lines (reports carry them from xdist workers).
SUMMARY_PROPERTY = "reliability"


@pytest.fixture(scope="session")
def migrations(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``flask db init`` (stock template) and the 30 scripts, shared by every test (read-only)."""
    root = tmp_path_factory.mktemp("reliability-history")
    directory = root / "migrations"
    app = build_app(f"sqlite:///{root / 'unused.db'}", directory, root / "instance")
    init_migrations(app)
    dispose_app(app)
    write_history(directory)
    return directory


@dataclass(frozen=True)
class SqliteTemplate:
    path: Path
    seed: Seed


@pytest.fixture(scope="session")
def sqlite_templates(
    tmp_path_factory: pytest.TempPathFactory, migrations: Path
) -> Callable[[int], SqliteTemplate]:
    """``template(attachments)``: a seeded SQLite database at the seed revision, built once per
    size and copied per test."""
    built: dict[int, SqliteTemplate] = {}

    def template(attachments: int) -> SqliteTemplate:
        if attachments not in built:
            root = tmp_path_factory.mktemp("reliability-template")
            path = root / "seeded.db"
            url = f"sqlite:///{path}"
            upgrade_in_process(url, migrations, root / "instance", SEED_REVISION)
            seed = make_seed(attachments=attachments)
            insert_seed(url, seed)
            built[attachments] = SqliteTemplate(path, seed)
        return built[attachments]

    return template


@pytest.fixture
def sqlite_attachments() -> int:
    """How many attachments the SQLite seed holds (a module overrides this fixture where the
    40 MB a backup takes a moment on are not what its test is about)."""
    return SQLITE_ATTACHMENTS


@pytest.fixture
def seeded(
    db_kind: DbKind,
    database_url: str,
    migrations: Path,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> Seed:
    """The test's database at the seed revision with the seed rows in it; returns the seed."""
    if db_kind == "sqlite":
        attachments: int = request.getfixturevalue("sqlite_attachments")
        template = request.getfixturevalue("sqlite_templates")(attachments)
        database = make_url(database_url).database
        assert database
        shutil.copyfile(template.path, database)
        return template.seed
    upgrade_in_process(database_url, migrations, tmp_path / "seed-instance", SEED_REVISION)
    seed = make_seed(attachments=SERVER_ATTACHMENTS)
    insert_seed(database_url, seed)
    return seed


@pytest.fixture
def summary(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """``summary(line)``: a line for the "reliability" section at the end of the run.

    Kept in the test's ``user_properties``, which its report carries to the controller under
    pytest-xdist (a worker's own stash never reaches the terminal).
    """

    def add(line: str) -> None:
        request.node.user_properties.append((SUMMARY_PROPERTY, f"{request.node.name}: {line}"))
        print(line)

    return add


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    lines = [
        str(value)
        for reports in terminalreporter.stats.values()
        for report in reports
        if isinstance(report, pytest.TestReport) and report.when == "call"
        for name, value in report.user_properties
        if name == SUMMARY_PROPERTY
    ]
    if lines:
        terminalreporter.section("reliability")
        for line in lines:
            terminalreporter.write_line(line)
