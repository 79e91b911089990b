"""``flask db safe-upgrade`` as named stages over one or more targets.

A target is one database the migrations manage, keyed as flask-sqlalchemy keys its engines
(``None`` the default database, else a bind): one for a single-database app, one per bind
for Flask-Migrate's multi-database template (:mod:`.targets`). Every stage loops over them:

1. **preflight** reads only: the revision graph, each target's connection (timeout and
   retries), revision and ledger (failed attempts), the plan (each target's path to the
   goal; their union in history order), and lint over the pending scripts.
2. **lock**: each target's migration lock (:mod:`flask_safemigrate.locks`) in a stable
   order, the default database first; targets on one database share one lock. Each lock
   gets a :mod:`flask_safemigrate.lock_guard` guard (keepalive, fence, checks before each
   revision and commit). After the wait every target is read again: a replica that finds
   the work done goes straight to verify.
3. **backup** (:mod:`flask_safemigrate.backup`): each target that wants one (SQLite by
   default); a failure stops the run here.
4. **upgrade** (:func:`.apply.apply`): a ledger row per revision; the commit policy follows
   the ``env.py`` template: one transaction per revision for a single database; for the
   multi-database template one transaction per bind until the end (MariaDB/MySQL, whose DDL
   commits itself, commits each revision). A revision that fails on a lock timeout is
   retried with backoff, ``SAFEMIGRATE_LOCK_RETRIES`` times, where nothing is left half done.
5. **verify**: every target is at the goal; at head, no drift against the models; every
   revision this run applied has its ledger row.

:func:`safe_upgrade` returns a :class:`~flask_safemigrate.report.Result` (the report and the
exit code; with ``--sql`` the report's ``sql`` fact holds the plan's SQL) instead of raising,
because a failed run still has a report to give: the stage it stopped in, what it
applied before, where each target stands and what to do next (its JSON keys are a contract:
docs/architecture.md). Progress reaches the command as structured events (:mod:`.events`:
stage, target, revision, seconds, outcome, ...) through a :class:`Progress` sink; nothing
here words them for a terminal or prints.
"""

from __future__ import annotations

from flask import Flask

from flask_safemigrate import app_engine_options
from flask_safemigrate.report import Result
from flask_safemigrate.upgrade import events
from flask_safemigrate.upgrade.events import Progress
from flask_safemigrate.upgrade.interrupt import Interrupted
from flask_safemigrate.upgrade.options import STAGES, Options, RunConfigError, Stage
from flask_safemigrate.upgrade.pipeline import execute
from flask_safemigrate.upgrade.state import Run

__all__ = [
    "STAGES",
    "Interrupted",
    "Options",
    "Progress",
    "RunConfigError",
    "Stage",
    "events",
    "safe_upgrade",
]


def safe_upgrade(
    app: Flask, options: Options | None = None, progress: Progress | None = None
) -> Result:
    """Run the stages for ``app`` (see the module docstring); never raises for a failed run.

    Raises :class:`~flask_safemigrate.errors.ConfigError` (exit 2) for what the user must fix
    in the command or the configuration: an unknown target, a missing migrations directory,
    a bad option.
    """
    run = Run(app, options or Options(), progress or Progress())
    with app.app_context(), app_engine_options.applied(app.config):
        return execute(run)
