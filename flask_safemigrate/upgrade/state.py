"""The state of one safe-upgrade run: its targets, what it planned and did, how it stops."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy.engine import Connection

from flask_safemigrate import database, history, live, project
from flask_safemigrate.caches import user_cache
from flask_safemigrate.errors import ExitCode
from flask_safemigrate.report import Finding
from flask_safemigrate.upgrade.apply import Applied
from flask_safemigrate.upgrade.events import Progress, StageStarted
from flask_safemigrate.upgrade.options import Options, Stage
from flask_safemigrate.upgrade.targets import Target

__all__ = ["CompatOutcome", "Run", "Stop"]


class Stop(Exception):
    """Ends the run in the current stage with these findings and this exit code."""

    def __init__(self, exit_code: ExitCode, findings: Sequence[Finding]) -> None:
        super().__init__(exit_code.name)
        self.exit_code = exit_code
        self.findings = list(findings)


@dataclass
class CompatOutcome:
    """What the release-compatibility check did on one target (:mod:`.compat_stage`)."""

    #: How messages name the release it compared with (``None``: none recorded).
    with_: str | None = None
    ran: bool = False
    #: Each break found, on one line (what the record keeps of them).
    breaks: list[str] = field(default_factory=list)
    #: Why it did not compare (no release recorded, nothing to apply, ...).
    skipped: str | None = None
    #: Whether the run goes on past breaks because of ``--allow-breaking``.
    allowed: bool = False
    #: Whether this run recorded its release on the target.
    recorded: bool = False


@dataclass
class Run:
    """One run over its targets (see :mod:`flask_safemigrate.upgrade`)."""

    app: Flask
    options: Options
    progress: Progress
    setup: project.Setup = field(init=False)
    targets: list[Target] = field(default_factory=list)
    stage: Stage = "preflight"
    #: The revisions the run upgrades to (``--revision`` resolved).
    goal: tuple[str, ...] = ()
    #: What Alembic is asked to upgrade to: the command's revision, a relative one (``+1``)
    #: replaced by the revision it reached when planned (:func:`.checks.compute_plan`).
    destination: str = ""
    #: Every target's plan in one, in history order (the path of the one furthest behind first).
    plan: list[history.Script] = field(default_factory=list)
    applied: list[Applied] = field(default_factory=list)
    #: What the last failed attempt rolled back on transactional targets (``at-end`` policy).
    rolled_back: list[Applied] = field(default_factory=list)
    backup_path: Path | None = None
    #: Older backups removed after the run succeeded (``SAFEMIGRATE_BACKUP_KEEP``).
    backups_removed: list[Path] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    #: Lint's findings of the pending scripts that never block (``downgrade()``, conventions):
    #: shown one line each, JSON ``review``.
    review: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    sql: str | None = None
    #: ``--sql START:END``: the position is START, not read from the database (never connected).
    position_given: bool = False
    started: tuple[str, ...] | None = None
    another: bool = False
    #: Each pending statement with its table's live size and lock (pre-flight, :mod:`.live_check`).
    sized: list[live.Sized] = field(default_factory=list)
    #: Statements of killed migrators this run waited for or ended (JSON ``orphans``).
    orphans_settled: list[dict[str, Any]] = field(default_factory=list)
    #: The release-compatibility check per target (:mod:`.compat_stage`; JSON ``compat``).
    compat: dict[str | None, CompatOutcome] = field(default_factory=dict)

    def read_setup(self) -> None:
        options = self.options
        self.setup = project.setup_of(
            self.app, options.directory, options.x_args, cache_dir=user_cache()
        )
        multi = self.setup.multidb
        self.targets = [Target(spec, multi=multi) for spec in self.setup.targets]

    def enter(self, stage: Stage) -> None:
        """Move the run to ``stage`` and say so (telemetry times each stage from here)."""
        self.stage = stage
        self.progress.emit(StageStarted(stage=stage))

    @property
    def multi(self) -> bool:
        return len(self.targets) > 1 or any(t.multi for t in self.targets)

    @property
    def current(self) -> tuple[str, ...]:
        """Where the database stands (several targets: every revision any of them is at)."""
        if len(self.targets) == 1:
            return self.targets[0].current
        return tuple(sorted({rev for target in self.targets for rev in target.current}))

    @property
    def label(self) -> str:
        """The app's default database, masked (errors that name no target)."""
        return database.mask_url(self.setup.targets[0].url)

    def target_of(self, key: str | None) -> Target:
        return next((t for t in self.targets if t.key == key), self.targets[0])

    def alembic_config(self) -> Any:
        """The Alembic config ``flask db upgrade`` would use (directory and ``-x`` included)."""
        return self.setup.alembic_config()

    @contextmanager
    def connect(self, target: Target) -> Iterator[Connection]:
        settings = self.setup.settings
        with database.connect(
            target.url,
            timeout=settings.connect_timeout,
            retries=settings.connect_retries,
            read_only=self.options.dry_run,
        ) as connection:
            yield connection

    def read_current(self, connection: Connection) -> tuple[str, ...]:
        return database.current_revisions(
            connection, version_table=self.setup.version_table, schema=self.setup.version_schema
        )

    def stop(self, exit_code: ExitCode, *findings: Finding) -> Stop:
        return Stop(exit_code, findings)
