"""The built-in tests as collected items, ``<tests folder>::safemigrate::<name>``.

They are :class:`pytest.Function` items, so that they get fixtures as any test does (a
project's ``conftest.py`` in the tests folder may override ``safemigrate_app`` or
``migration_database``), and they sit in the tests folder for the same reason. Each calls
its function of :mod:`flask_safemigrate.verify.suite` and fails with
:class:`BuiltinFailed`, which :meth:`BuiltinTest.repr_failure` shows as a titled block: what
failed, at which revision, where, what to do, and the command that checks the same without
pytest.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import pytest
from sqlalchemy.engine import URL

from flask_safemigrate import database
from flask_safemigrate.errors import SafeMigrateError
from flask_safemigrate.project import Setup
from flask_safemigrate.pytest_plugin.fixtures import fail
from flask_safemigrate.pytest_plugin.options import PluginOptions
from flask_safemigrate.report import Finding
from flask_safemigrate.text import display_path, plural
from flask_safemigrate.verify import suite
from flask_safemigrate.verify.seeding import Rows

__all__ = ["BuiltinFailed", "BuiltinTest", "Collection", "SafeMigrateTests", "render_failure"]


class BuiltinFailed(AssertionError):
    """A built-in test found problems (the findings of the checks it ran)."""

    def __init__(self, test: str, findings: Sequence[Finding], setup: Setup, command: str) -> None:
        super().__init__(f"safemigrate::{test}: {plural(len(findings), 'problem')}")
        self.test = test
        self.findings = list(findings)
        self.setup = setup
        #: The command that makes the same check without pytest ('' when there is none).
        self.command = command


def _where_in_history(finding: Finding, setup: Setup) -> str:
    """`` at revision X`` (or `` at head X`` for drift), from the finding or its path."""
    extra: Mapping[str, Any] = finding.extra
    if extra.get("revision"):
        return f" at revision {extra['revision']}"
    if extra.get("revisions"):
        return f" at revision {', '.join(str(r) for r in extra['revisions'])}"
    for script in setup.graph.scripts.values():
        if finding.path is not None and display_path(script.path) == finding.path:
            return f" at revision {script.revision}"
    if finding.rule in ("schema-drift", "unmapped-required-column", "breaks-previous-release"):
        return f" at head {', '.join(setup.graph.heads)}"
    return ""


def render_failure(failed: BuiltinFailed) -> str:
    """The titled block a failed built-in test shows instead of a traceback."""
    lines = [f"safemigrate::{failed.test} failed: {plural(len(failed.findings), 'problem')}"]
    for finding in failed.findings:
        title = f"{finding.code} {finding.rule}" if finding.code else finding.rule
        lines += ["", f"[{title}]{_where_in_history(finding, failed.setup)}"]
        lines.append(f"  what failed: {finding.message}")
        lines += [f"               {detail}" for detail in finding.details]
        if finding.path:
            where = finding.path + (f":{finding.line}" if finding.line else "")
            lines.append(f"  where:       {where}")
        if finding.help:
            lines.append(f"  what to do:  {finding.help}")
    if failed.command:
        lines += ["", f"The same check without pytest: {failed.command}"]
    return "\n".join(lines)


def _url(url: URL | None) -> str | None:
    return None if url is None else url.render_as_string(hide_password=False)


def _runnable(setup: Setup) -> None:
    """Skip a test that runs the migrations when the history cannot be run (as ``verify
    --roundtrip`` skips its roundtrip): ``single-head`` fails and names the problems."""
    if setup.graph.problems:
        pytest.skip(
            "the history has problems that Alembic cannot run: safemigrate::single-head names them"
        )


@contextlib.contextmanager
def _quiet_alembic() -> Iterator[None]:
    """Alembic's INFO lines hidden while a built-in test runs, as ``flask db verify`` hides
    them (the stock ``env.py`` configures logging from ``alembic.ini`` on every step, so a
    failure's captured output would be three lines per step); warnings still show."""
    previous = logging.root.manager.disable
    logging.disable(max(previous, logging.INFO))
    try:
        yield
    finally:
        logging.disable(previous)


def _check(test: str, setup: Setup, command: str, run: Callable[[], list[Finding]]) -> None:
    try:
        with _quiet_alembic():
            findings = run()
    except SafeMigrateError as exc:
        fail(exc.message, exc.hint)
    if findings:
        prefix = f"{setup.command} " if command else ""
        raise BuiltinFailed(test, findings, setup, prefix + command)


def single_head(safemigrate_setup: Setup) -> None:
    setup = safemigrate_setup
    _check("single-head", setup, "verify --no-db", lambda: suite.single_head(setup))


def lint_pending(safemigrate_setup: Setup, safemigrate_options: PluginOptions) -> None:
    setup, base = safemigrate_setup, safemigrate_options.base
    dialect = database.dialect_of(setup.targets[0].url)
    command = "lint" + (f" --since {base}" if base else "")  # a revision or a git ref
    _check("lint-pending", setup, command, lambda: suite.lint_pending(setup, base, dialect))


def upgrade_from_base(safemigrate_setup: Setup, migration_database: URL | None) -> None:
    _runnable(safemigrate_setup)
    setup, url = safemigrate_setup, _url(migration_database)
    _check(
        "upgrade-from-base",
        setup,
        "verify --roundtrip",
        lambda: suite.upgrade_from_base(setup, url),
    )


def models_match(safemigrate_setup: Setup, migration_database: URL | None) -> None:
    _runnable(safemigrate_setup)
    setup, url = safemigrate_setup, _url(migration_database)
    _check("models-match", setup, "verify --roundtrip", lambda: suite.models_match(setup, url))


def roundtrip(safemigrate_setup: Setup, migration_database: URL | None) -> None:
    _runnable(safemigrate_setup)
    setup, url = safemigrate_setup, _url(migration_database)
    _check("roundtrip", setup, "verify --roundtrip", lambda: suite.roundtrip(setup, url))


def seeded_roundtrip(
    safemigrate_setup: Setup, migration_database: URL | None, safemigrate_rows: Rows
) -> None:
    setup, url, rows = safemigrate_setup, _url(migration_database), safemigrate_rows
    _runnable(setup)
    if not rows:
        pytest.skip(
            "no rows declared: add ROWS to tests/migration_data.py (safemigrate_data) or"
            " override the safemigrate_rows fixture"
        )
    source = getattr(rows, "source", None)
    _check(
        "seeded-roundtrip",
        setup,
        f"verify --roundtrip --rows {source}" if source else "",
        lambda: suite.seeded_roundtrip(setup, url, rows, source or "the safemigrate_rows fixture"),
    )


def compatible_with_previous_release(
    safemigrate_setup: Setup, migration_database: URL | None, safemigrate_options: PluginOptions
) -> None:
    setup, url = safemigrate_setup, _url(migration_database)
    previous = safemigrate_options.previous_release
    if not previous:
        fail(
            "compatible-with-previous-release needs the release to compare with",
            "set safemigrate_previous_release to a git ref (a release tag) or a snapshot file",
        )
    _runnable(setup)
    _check(
        "compatible-with-previous-release",
        setup,
        f"verify --compat-with {previous}",
        lambda: suite.compatible_with_previous_release(setup, url, previous),
    )


#: Each built-in test's function (the fixtures it takes are its parameters).
TESTS: Final[Mapping[str, Callable[..., None]]] = {
    "single-head": single_head,
    "lint-pending": lint_pending,
    "upgrade-from-base": upgrade_from_base,
    "models-match": models_match,
    "roundtrip": roundtrip,
    "seeded-roundtrip": seeded_roundtrip,
    "compatible-with-previous-release": compatible_with_previous_release,
}


class BuiltinTest(pytest.Function):
    """One built-in test; a failure is a titled block, not a traceback."""

    def repr_failure(  # type: ignore[override]
        self, excinfo: pytest.ExceptionInfo[BaseException]
    ) -> Any:
        if isinstance(excinfo.value, BuiltinFailed):
            return render_failure(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"safemigrate::{self.name}"


class SafeMigrateTests(pytest.Collector):
    """The built-in tests the session asked for (``safemigrate_tests``)."""

    def __init__(self, *, names: Iterable[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.names = tuple(names)

    def collect(self) -> list[pytest.Item]:
        items: list[pytest.Item] = []
        for name in self.names:
            item = BuiltinTest.from_parent(self, name=name, callobj=TESTS[name])
            item.add_marker(pytest.mark.safemigrate)
            items.append(item)
        return items


class Collection:
    """The plugin object that puts :class:`SafeMigrateTests` first in the tests folder's
    collector, whatever that folder holds (files, only subfolders, nothing), and says in one
    line at the end of a run why built-in tests it should have run did not run."""

    def __init__(self, options: PluginOptions) -> None:
        self.options = options
        #: The built-in tests left after deselection (the xdist controller: any worker's).
        self.selected: set[str] = set()
        #: The built-in tests that ran (reached setup).
        self.ran: set[str] = set()

    @pytest.hookimpl(wrapper=True)
    def pytest_make_collect_report(
        self, collector: pytest.Collector
    ) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
        # A Directory (a Dir, or a Package with __init__.py) is collected when pytest walks
        # into it, even with no file of its own; its report is cached, so this runs once.
        report = yield
        if (
            isinstance(collector, pytest.Directory)
            and collector.path == self.options.tests_folder
            and report.passed
            and not any(isinstance(node, SafeMigrateTests) for node in report.result)
        ):
            tests = SafeMigrateTests.from_parent(
                collector, name="safemigrate", names=self.options.tests
            )
            report.result.insert(0, tests)
        return report

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.selected.update(self._names(item.nodeid for item in session.items))

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: object, ids: Sequence[str]) -> None:
        self.selected.update(self._names(ids))

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        """A built-in test's skip is reported at the test (``-rs``: ``SKIPPED [1]
        tests::safemigrate::seeded-roundtrip: no rows declared...``), not at the plugin's
        line that raised it, which is nothing a project can open or change."""
        report = yield
        if (
            isinstance(item, BuiltinTest)
            and report.skipped
            and isinstance(report.longrepr, tuple)
            and len(report.longrepr) == 3
        ):
            # A relative path is shown as it is; no line: the test has none to point at.
            located: Any = (item.nodeid, None, report.longrepr[2])
            report.longrepr = located
        return report

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "setup":
            self.ran.update(self._names([report.nodeid]))

    def _names(self, nodeids: Iterable[str]) -> Iterator[str]:
        for nodeid in nodeids:
            _, sep, name = nodeid.rpartition("::safemigrate::")
            if sep and name in self.options.tests:
                yield name

    def pytest_terminal_summary(
        self, terminalreporter: pytest.TerminalReporter, config: pytest.Config
    ) -> None:
        if config.option.collectonly or hasattr(config, "workerinput"):
            return
        missing = [name for name in self.options.tests if name not in self.ran]
        if missing:
            terminalreporter.write_line(self.not_run_line(missing, config))

    def not_run_line(self, missing: Sequence[str], config: pytest.Config) -> str:
        """One line: which built-in tests did not run, and why."""
        folder = display_path(self.options.tests_folder)
        which = (
            f"the {len(missing)} built-in tests"
            if len(missing) == len(self.options.tests)
            else f"{len(missing)} of the {len(self.options.tests)} built-in tests"
            f" ({', '.join(missing)})"
        )
        head = f"safemigrate: {which} did not run: "
        if any(name in self.selected for name in missing):
            return head + "the run stopped before them"
        invocation = config.invocation_params.dir
        paths = [invocation / arg.split("::")[0] for arg in config.args]
        folder_path = self.options.tests_folder
        if not any(path == folder_path or path in folder_path.parents for path in paths):
            named = " ".join(display_path(path) for path in paths)
            return (
                head + f"this run collects {named} only, and they are collected with the"
                f" tests folder, {folder} (run pytest, or pytest {folder})"
            )
        chosen = [
            text
            for text, value in (
                (f"-k {config.option.keyword!r}", config.option.keyword),
                (f"-m {config.option.markexpr!r}", config.option.markexpr),
                ("--deselect", config.getoption("deselect", None)),
                ("--last-failed", config.getoption("lf", False)),
            )
            if value
        ]
        if chosen:
            return head + f"deselected by {', '.join(chosen)}"
        return (
            head + f"pytest did not collect them in the tests folder {folder}: is it"
            " ignored (--ignore, norecursedirs, collect_ignore)?"
        )
