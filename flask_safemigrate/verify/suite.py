"""The pytest plugin's built-in tests as library functions: each returns the findings that
fail it, made by the checks ``flask db verify`` and ``flask db lint`` make (never a copy).

==================== ==================================================================
``single-head``      verify's static checks: the graph's problems (``multiple-heads``...)
``lint-pending``     ``flask db lint --since BASE`` (every script without a base)
``upgrade-from-base`` each revision from base upgraded on a scratch database
``models-match``     the scratch database at head against the models (``schema-drift``,
                     ``unmapped-required-column``)
``roundtrip``        ``flask db verify --roundtrip``: up, down, up again, no trace left
``seeded-roundtrip`` ``flask db verify --roundtrip --rows FILE`` (:mod:`.seeding`)
``compatible-with-`` ``flask db verify --compat-with REF`` (:mod:`.compat`): what of the
``previous-release``  schema at head would break the previous release (errors only)
==================== ==================================================================

The scratch database is an empty database the caller names (``scratch_url``, as
``verify --roundtrip --scratch-url``), or with ``None`` a temporary one beside each of the
app's databases; either way through :func:`flask_safemigrate.scratch.scratch_databases`.
Nothing here imports pytest: the plugin (:mod:`flask_safemigrate.pytest_plugin`) collects and
words these; ``flask db verify`` and ``flask db lint`` give the same findings.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Final

from alembic import command as alembic_command

from flask_safemigrate import git_files, history, scratch
from flask_safemigrate.checks import UNMAPPED_RULE, static_findings
from flask_safemigrate.compat import load_old_snapshot
from flask_safemigrate.errors import ConfigError, DatabaseUnreachable
from flask_safemigrate.project import Setup
from flask_safemigrate.report import Finding, Severity
from flask_safemigrate.verify.compat import run_compat
from flask_safemigrate.verify.roundtrip import run_roundtrip
from flask_safemigrate.verify.seeding import (
    SEEDED_ROW_LOST,
    Rows,
    SeededRows,
)
from flask_safemigrate.verify.steps import ScratchRun, StepFailed, head_drift, on_scratch, run_step

__all__ = [
    "BUILTIN_TESTS",
    "compatible_with_previous_release",
    "lint_pending",
    "models_match",
    "pending_since",
    "roundtrip",
    "seeded_roundtrip",
    "single_head",
    "upgrade_from_base",
]

#: The built-in tests, in the order the plugin collects them.
BUILTIN_TESTS: Final = (
    "single-head",
    "lint-pending",
    "upgrade-from-base",
    "models-match",
    "roundtrip",
    "seeded-roundtrip",
    "compatible-with-previous-release",
)


def single_head(setup: Setup) -> list[Finding]:
    """The history's errors as ``flask db verify`` reports them: several heads, a duplicate
    revision, a missing parent, a cycle, a script that cannot be read."""
    return [f for f in static_findings(setup.graph) if f.severity is Severity.ERROR]


def pending_since(setup: Setup, base: str) -> set[str]:
    """The revisions after ``base``: a revision id (as ``flask db lint --since``) or a git
    ref (a branch, a tag: the scripts whose files that commit does not have)."""
    try:
        (revision,) = setup.graph.resolve(base)
    except (history.RevisionLookupError, ValueError):
        pass
    else:
        return set(setup.graph.descendants(revision)) - {revision}
    try:
        known = git_files.files_at(base, setup.locations)
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"safemigrate_base {base!r} is neither a revision of the history nor a git ref"
            + (f" ({exc})" if str(exc) else ""),
            hint="name a revision id (`flask db history`) or a branch such as origin/main",
        ) from None
    return {s.revision for s in setup.graph.scripts.values() if s.path.resolve() not in known}


def lint_pending(setup: Setup, base: str | None, app_dialect: str | None) -> list[Finding]:
    """``flask db lint`` (``--since base`` when given) with the project's lint settings: the
    findings at or above its ``fail-on``."""
    from flask_safemigrate.lint import options
    from flask_safemigrate.lint.command import lint_command
    from flask_safemigrate.lint.mapped import mapped_columns

    config = options.resolve(
        {}, settings=setup.settings, search_from=setup.directory, app_dialect=app_dialect
    )
    config = dataclasses.replace(config, mapped=mapped_columns(setup.migrate_state.db))
    only = pending_since(setup, base) if base else None
    report = lint_command([setup.directory], config, only_revisions=only).report
    return [f for f in report.findings if f.severity >= config.fail_on]


@contextmanager
def _scratch(setup: Setup, scratch_url: str | None) -> Iterator[ScratchRun]:
    """The scratch databases (created or checked empty, dropped or emptied afterwards)."""
    cleanup = scratch.Cleanup()
    app_urls = {target.bind: target.url for target in setup.targets}
    with (
        scratch.scratch_databases(app_urls, setup.settings, scratch_url, cleanup) as urls,
        on_scratch(setup, urls) as run,
    ):
        yield run


def _on_scratch(
    setup: Setup, scratch_url: str | None, body: Callable[[ScratchRun], list[Finding]]
) -> list[Finding]:
    try:
        with setup.app.app_context(), _scratch(setup, scratch_url) as run:
            return body(run)
    except StepFailed as failed:
        return [failed.finding]
    except DatabaseUnreachable as exc:
        return [
            Finding(
                rule="database-unreachable",
                severity=Severity.ERROR,
                message=f"Scratch database not reached: {exc.message}",
                help=exc.hint,
                extra=exc.data,
            )
        ]


def _order(setup: Setup) -> list[history.Script]:
    return list(setup.graph.path((), "heads"))


def upgrade_from_base(setup: Setup, scratch_url: str | None) -> list[Finding]:
    """Every revision from base upgraded in history order, one at a time."""
    if setup.graph.problems:
        return single_head(setup)

    def body(run: ScratchRun) -> list[Finding]:
        for script in _order(setup):
            run_step(run, "upgrade", script, script.revision)
        return []

    return _on_scratch(setup, scratch_url, body)


def models_match(setup: Setup, scratch_url: str | None) -> list[Finding]:
    """The scratch database upgraded to head compared with the models (``schema-drift``,
    ``unmapped-required-column``)."""
    if setup.graph.problems:
        return single_head(setup)

    def body(run: ScratchRun) -> list[Finding]:
        order = _order(setup)
        try:
            alembic_command.upgrade(run.config, "heads")
        except Exception:  # the scripts may raise anything: name the revision that fails
            for script in order:
                run_step(run, "upgrade", script, script.revision)
        return head_drift(run)

    return _on_scratch(setup, scratch_url, body)


#: What the plain roundtrip reports that is not the ``models-match`` test's.
_ROUNDTRIP_CHECKS = frozenset(
    {"roundtrip-failed", "downgrade-leaves-trace", "database-unreachable"}
)


def roundtrip(setup: Setup, scratch_url: str | None) -> list[Finding]:
    """``flask db verify --roundtrip``'s findings, its ``schema-drift`` left to ``models-match``."""
    with setup.app.app_context():
        trip = run_roundtrip(setup, scratch_url)
    return [f for f in trip.findings if f.rule in _ROUNDTRIP_CHECKS]


def seeded_roundtrip(
    setup: Setup, scratch_url: str | None, rows: Rows, source: str
) -> list[Finding]:
    """The roundtrip with ``rows`` inserted before their revision and looked for after its
    upgrade and its downgrade (``seeded-row-lost``), or what stopped it."""
    seeds = SeededRows(rows, source)
    with setup.app.app_context():
        trip = run_roundtrip(setup, scratch_url, seeds)
    wanted = {SEEDED_ROW_LOST, "roundtrip-failed", "database-unreachable"}
    return [
        *seeds.unknown_revisions(setup.graph),
        *(f for f in trip.findings if f.rule in wanted),
    ]


def compatible_with_previous_release(
    setup: Setup, scratch_url: str | None, previous: str
) -> list[Finding]:
    """``flask db verify --compat-with previous``'s errors: what of the schema the migrations
    build breaks the release ``previous`` names (a git ref or a snapshot file; one that
    cannot be read is a :class:`ConfigError`), or what stopped the scratch run."""
    if setup.graph.problems:
        return single_head(setup)
    old = load_old_snapshot(previous, setup.directory)
    with setup.app.app_context():
        result = run_compat(setup, old, scratch_url)
    # Its unmapped-required-column findings are models-match's (the same scratch schema).
    return [f for f in result.findings if f.severity is Severity.ERROR and f.rule != UNMAPPED_RULE]
