"""``migration_runner``: a project's own migration tests, on a scratch database.

Each step goes through the code ``flask db verify --roundtrip`` runs
(:mod:`flask_safemigrate.verify.steps`): the app's own ``env.py`` (the stock one included) in
an app context that sees only the scratch database, one revision at a time, so a failure
names the revision (:class:`~flask_safemigrate.verify.steps.StepFailed`, whose ``finding``
says what to do). Nothing here imports pytest.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from types import TracebackType
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine

from flask_safemigrate import history, scratch
from flask_safemigrate.project import Setup
from flask_safemigrate.verify.steps import ScratchRun, on_scratch, run_step, versions

__all__ = ["MigrationRunner"]


class MigrationRunner:
    """Upgrade, downgrade, read the position and insert rows on one scratch database.

    Use it as a context manager (the ``migration_runner`` fixture does): entering checks that
    the database is empty, leaving empties it (what ``verify --scratch-url`` does).
    """

    def __init__(self, setup: Setup, url: URL | None) -> None:
        self.setup = setup
        #: ``None``: a temporary database beside each of the app's (multi-database apps).
        self.url = url
        self._stack = ExitStack()
        self._run: ScratchRun | None = None
        self.cleanup = scratch.Cleanup()

    def __enter__(self) -> MigrationRunner:
        setup = self.setup
        stack = self._stack
        try:
            stack.enter_context(setup.app.app_context())
            app_urls = {target.bind: target.url for target in setup.targets}
            given = None if self.url is None else self.url.render_as_string(hide_password=False)
            urls = stack.enter_context(
                scratch.scratch_databases(app_urls, setup.settings, given, self.cleanup)
            )
            self._run = stack.enter_context(on_scratch(setup, urls))
        except BaseException:
            stack.close()
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._run = None
        self._stack.close()

    @property
    def run(self) -> ScratchRun:
        if self._run is None:
            raise RuntimeError("use the MigrationRunner as a context manager")
        return self._run

    @property
    def engine(self) -> Engine:
        """The scratch database's engine (the default one for a multi-database app)."""
        return self.run.engines[None]

    def current(self) -> tuple[str, ...]:
        """The revisions the scratch database is at (``()``: base)."""
        return tuple(sorted(versions(self.run)))

    def _resolve(self, target: str) -> tuple[str, ...]:
        try:
            return self.setup.graph.resolve(target)
        except (history.RevisionLookupError, ValueError) as exc:
            raise ValueError(f"unknown revision {target!r}: {exc}") from None

    def upgrade(self, target: str = "heads") -> tuple[str, ...]:
        """Upgrade to ``target`` one revision at a time; the revisions applied, in order."""
        applied = []
        for script in self.setup.graph.path(self.current(), self._resolve(target)):
            run_step(self.run, "upgrade", script, script.revision)
            applied.append(script.revision)
        return tuple(applied)

    def downgrade(self, target: str = "base") -> tuple[str, ...]:
        """Downgrade to ``target`` one revision at a time; the revisions undone, in order."""
        undone = []
        keep = self._resolve(target)
        for script in reversed(self.setup.graph.path(keep, self.current())):
            down = script.down_revisions[0] if script.is_merge else f"{script.revision}@-1"
            run_step(self.run, "downgrade", script, down)
            undone.append(script.revision)
        return tuple(undone)

    def insert(self, table: str, rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert ``rows`` (column -> value) into ``table`` as the schema stands now."""
        with self.engine.begin() as conn:
            for row in rows:
                clause = sa.table(table, *(sa.column(column) for column in row))
                conn.execute(sa.insert(clause).values(dict(row)))

    def insert_at(self, revision: str, table: str, rows: Sequence[Mapping[str, Any]]) -> None:
        """Upgrade to ``revision``, then insert ``rows`` into ``table``."""
        self.upgrade(revision)
        self.insert(table, rows)

    def rows(self, table: str) -> list[dict[str, Any]]:
        """Every row of ``table`` as column -> value."""
        with self.engine.connect() as conn:
            result = conn.execute(sa.select(sa.text("*")).select_from(sa.table(table)))
            return [dict(row._mapping) for row in result]
