"""A target: one database (or, later, one schema or URL of a fleet) that a run migrates.

Targets are keyed as flask-sqlalchemy keys its engines: ``None`` is the app's default
database, a string names a bind. A single-database app is a run with one target; the
multi-database template (``flask db init --multidb``) gives one target per bind. Every stage
of :mod:`.pipeline` loops over the run's targets; only the wording (:mod:`.wording`) knows
whether there is one or several.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from flask_safemigrate import database, history, lock_guard, project
from flask_safemigrate.upgrade.events import Endpoint
from flask_safemigrate.upgrade.session_settings import revision_session

__all__ = ["Target"]


@dataclass
class Target:
    """What the run knows of one target and what it did there.

    ``spec`` locates it (URL, models, engine key): the stages need nothing else from it, so
    a target whose URL or schema comes from elsewhere (a tenant of a fleet) fits as well.
    """

    spec: project.Target
    #: Whether the run has several targets: then messages name the bind.
    multi: bool = False
    started: tuple[str, ...] = ()
    current: tuple[str, ...] = ()
    plan: list[history.Script] = field(default_factory=list)
    #: ``--resolved`` failures this run repairs here: revision -> id of the failed ledger row.
    resolving: dict[str, int] = field(default_factory=dict)
    #: Revisions with a failed attempt in this target's ledger (resolved or not).
    failed_once: set[str] = field(default_factory=set)
    backup: Path | None = None
    #: The migration lock's guard while it is held (targets on one database share one).
    guard: lock_guard.Guard | None = None

    @property
    def key(self) -> str | None:
        return self.spec.bind

    @property
    def url(self) -> sa.URL:
        return self.spec.url

    @property
    def name(self) -> str:
        """How progress lines name it: ``default`` or the bind key."""
        return "default" if self.key is None else self.key

    @property
    def progress_name(self) -> str | None:
        """The ``bind`` given to :class:`.Progress`: ``None`` when the run has one target."""
        return self.name if self.multi else None

    @property
    def label(self) -> str:
        """How messages name it: the masked URL (and, with several targets, the bind)."""
        if not self.multi:
            return database.mask_url(self.url)
        return self.spec.label if self.key is not None else f"{self.spec.label} (default)"

    @property
    def dialect(self) -> str | None:
        return database.dialect_of(self.url)

    @property
    def endpoint(self) -> Endpoint:
        """The database as telemetry names it: backend, host, port and name, no credentials."""
        url = self.url
        sqlite = url.get_backend_name() == "sqlite"
        return Endpoint(
            target=self.progress_name,
            system=url.get_backend_name(),
            address=None if sqlite else url.host,
            port=None if sqlite else url.port,
            namespace=url.database or None,
        )

    @property
    def transactional(self) -> bool:
        """Whether its DDL rolls back with the transaction (not MariaDB/MySQL)."""
        return revision_session(self.dialect).transactional_ddl

    @property
    def at(self) -> str:
        return ", ".join(self.current) or "base"
