"""Will the release running now survive this deploy? Checked at pre-flight, recorded at the end.

Every successful safe-upgrade records the models snapshot of the release it deploys on each
database (:mod:`flask_safemigrate.releases`, the table ``safemigrate_release``). The next
run's pre-flight, when it has revisions to apply, compares the release recorded last (the
one running now, which keeps running during a rolling deploy and after a rollback of the
app) with the schema the plan will produce, predicted by the models of the release being
deployed: verify's drift check and safe-upgrade's post-verify keep those models equal to the
migrations at head, and both sides are then described the same way, by
:func:`flask_safemigrate.models_snapshot.describe_metadata`. What the new models no longer
map is dropped only when a pending script drops it (:mod:`flask_safemigrate.compat.removals`),
and a column a pending script renames is one rename, not a drop and an addition.
The comparison is :func:`flask_safemigrate.compat.breaks.release_breaks`, as
``verify --compat-with``'s.

``SAFEMIGRATE_COMPAT``: ``block`` (the default) stops the run at pre-flight (exit 3) with
each break and its expand/contract advice, unless ``--allow-breaking`` is given (the record
says so); ``warn`` goes on with the breaks as warnings; ``off`` neither compares nor records.
``--dry-run`` and ``--sql`` never write a record (``--sql`` does not read the database).
"""

from __future__ import annotations

import shlex
from dataclasses import replace
from typing import Any

import sqlalchemy as sa

from flask_safemigrate import models_snapshot, releases
from flask_safemigrate.compat.breaks import release_breaks
from flask_safemigrate.report import Finding, Severity
from flask_safemigrate.text import one_line
from flask_safemigrate.upgrade import events
from flask_safemigrate.upgrade.options import Options
from flask_safemigrate.upgrade.state import CompatOutcome, Run
from flask_safemigrate.upgrade.targets import Target

__all__ = ["check", "facts", "record"]


def allow_hint(options: Options, *, lint_blocks: bool = False) -> str:
    """Appended to each blocking break's help: the command that deploys anyway, with
    ``--skip-lint`` too when lint's errors stop the same run (else it stops again on them)."""
    why = "; --skip-lint: the lint errors above block this run too" if lint_blocks else ""
    return (
        "; or, knowing the release running now breaks, deploy anyway:"
        f" `{again_allowing(options, skip_lint=lint_blocks)}` (the release record says so{why})"
    )


def unreadable_hint(options: Options, *, lint_blocks: bool = False) -> str:
    """The help of a release record this version cannot read."""
    return (
        f"deploy once with `{again_allowing(options, skip_lint=lint_blocks)}` to record this"
        ' release over it, or set SAFEMIGRATE_COMPAT = "warn"'
    )


def again_allowing(options: Options, *, skip_lint: bool = False) -> str:
    """The user's own command with ``--allow-breaking``: the options they gave that change
    what a deploy does are kept (a suggestion that dropped ``--skip-lint`` stopped again on
    what they had already passed), and ``--skip-lint`` is added with ``skip_lint`` (lint's
    errors stop the same run); ``--dry-run`` is not, the advice is to deploy."""
    words = ["flask db safe-upgrade"]
    words += [shlex.quote(options.revision)] if options.revision != "heads" else []
    words += ["--skip-lint"] if options.skip_lint or skip_lint else []
    words += ["--no-verify"] if not options.verify else []
    words += {True: ["--backup"], False: ["--no-backup"], None: []}[options.backup]
    words += [f"-x {shlex.quote(arg)}" for arg in options.x_args]
    words += [f"--tag {shlex.quote(options.tag)}"] if options.tag is not None else []
    return " ".join([*words, "--allow-breaking"])


def snapshot_text(target: Target) -> str:
    """The models snapshot of ``target``'s database, as ``flask db snapshot`` renders it."""
    data = {
        "format": models_snapshot.FORMAT,
        "databases": [
            {"bind": target.key, "tables": models_snapshot.describe_metadata(target.spec.metadata)}
        ],
    }
    return models_snapshot.render(data)


def _recorded_tables(release: releases.Release, bind: str | None) -> dict[str, Any]:
    """The tables ``release`` recorded for ``bind``; ``ValueError`` (one line) when its
    snapshot cannot be read."""
    data = models_snapshot.parse(release.snapshot)
    for database in data["databases"]:
        if isinstance(database, dict) and database.get("bind") == bind:
            tables = database.get("tables")
            if isinstance(tables, dict) and all(isinstance(t, dict) for t in tables.values()):
                return tables
            raise ValueError("its 'tables' is not a mapping of tables")
    raise ValueError(f"it has no database of bind {bind!r}")


def _compare(release: releases.Release, target: Target) -> list[Finding]:
    """The breaks; ``ValueError`` when the record is not a snapshot this version reads.

    The schema after the plan is predicted from the models being deployed
    (:func:`flask_safemigrate.compat.breaks.release_breaks` with ``predicted``): a table or
    column they no longer map is a break only when the plan drops or renames it, and a
    column the plan renames is one ``column-renamed`` break.
    """
    old = _recorded_tables(release, target.key)
    new = models_snapshot.describe_metadata(target.spec.metadata)
    try:
        return release_breaks(
            old, new, release.label, target.key, target.plan, target.dialect, predicted=True
        )
    except (KeyError, TypeError, AttributeError, ValueError) as exc:  # a hand-edited record
        raise ValueError(f"its contents do not have a snapshot's shape ({exc!r})") from None


def _as_warning(finding: Finding, why: str) -> Finding:
    if finding.severity is not Severity.ERROR:
        return finding
    return replace(finding, severity=Severity.WARNING, message=f"{finding.message} ({why})")


def check(run: Run, *, lint_blocks: bool = False) -> list[Finding]:
    """Pre-flight: each target with revisions to apply, against its recorded release; the
    breaks that stop the run (the caller stops it, with lint's errors: ``lint_blocks`` says
    there are some, and the command each break suggests passes ``--skip-lint`` too)."""
    mode = run.setup.settings.compat
    if mode == "off" or run.options.sql:
        return []
    allow = run.options.allow_breaking
    at_head = set(run.goal) == set(run.setup.graph.heads)
    blocking: list[Finding] = []
    for target in run.targets:
        outcome = run.compat[target.key] = CompatOutcome()
        if not target.plan:
            outcome.skipped = "nothing to apply"
            continue
        if not at_head:
            outcome.skipped = "the plan stops before head, and the models describe head"
            _emit(run, target, outcome, mode)
            continue
        with run.connect(target) as connection:
            release = releases.latest(connection, run.setup.version_schema)
        if release is None:
            outcome.skipped = "no release recorded yet"
            _emit(run, target, outcome, mode)
            continue
        outcome.with_ = release.label
        try:
            found = _compare(release, target)
        except ValueError as exc:
            problem = (
                f"{target.label}: the release {release.label} (row {release.id} of"
                f" {releases.RELEASE_TABLE}) is not a models snapshot this version reads: {exc}"
            )
            outcome.skipped = one_line(exc)
            outcome.allowed = allow and mode == "block"
            _emit(run, target, outcome, mode)
            if mode == "block" and not allow:
                blocking.append(
                    Finding(
                        rule="preflight-failed",
                        severity=Severity.ERROR,
                        message=problem,
                        help=unreadable_hint(run.options, lint_blocks=lint_blocks),
                    )
                )
            continue
        outcome.ran = True
        outcome.breaks = [finding.message for finding in found]
        errors = [f for f in found if f.severity is Severity.ERROR]
        if errors and mode == "block" and not allow:
            hint = allow_hint(run.options, lint_blocks=lint_blocks)
            blocking += [replace(f, help=(f.help or "") + hint) for f in errors]
            run.findings.extend(f for f in found if f not in errors)
        else:
            why = "allowed by --allow-breaking" if mode == "block" else "SAFEMIGRATE_COMPAT = warn"
            outcome.allowed = bool(errors) and mode == "block"
            run.findings.extend(_as_warning(f, why) for f in found)
        _emit(run, target, outcome, mode)
    return blocking


def _emit(run: Run, target: Target, outcome: CompatOutcome, mode: str) -> None:
    run.progress.emit(
        events.CompatChecked(
            target=target.progress_name,
            database=target.label,
            release=outcome.with_,
            ran=outcome.ran,
            breaks=len(outcome.breaks),
            skipped=outcome.skipped,
            mode=mode,
            allowed=outcome.allowed,
        )
    )


def record(run: Run) -> None:
    """After a successful run: each target at head records the release's models, unless the
    release recorded last is this one (a replica, a re-run). Never for ``--dry-run``/``--sql``."""
    settings = run.setup.settings
    if settings.compat == "off" or run.options.dry_run or run.options.sql:
        return
    heads = set(run.setup.graph.heads)
    for target in run.targets:
        if set(target.current) != heads:
            continue  # a partial upgrade: these models are not what runs on this schema
        outcome = run.compat.setdefault(target.key, CompatOutcome())
        text = snapshot_text(target)
        for attempt in range(RECORD_ATTEMPTS):
            try:
                recorded = _record_on(run, target, outcome, text, heads)
                break
            except sa.exc.SQLAlchemyError as exc:
                # Replicas record once the lock is released, at the same moment: the table
                # one of them creates makes another's CREATE fail. A fresh read settles it.
                if attempt + 1 < RECORD_ATTEMPTS:
                    continue
                run.findings.append(_not_recorded(run, target, exc))
                recorded = False
        if not recorded:
            continue
        outcome.recorded = True
        run.progress.emit(
            events.ReleaseRecorded(
                target=target.progress_name, database=target.label, heads=tuple(sorted(heads))
            )
        )


#: Tries to record a release: the table's creation may race another replica's once.
RECORD_ATTEMPTS = 3


def _record_on(
    run: Run, target: Target, outcome: CompatOutcome, text: str, heads: set[str]
) -> bool:
    """Record the release on ``target`` unless the one recorded last is this one (a
    replica, a re-run); whether a row was written."""
    with run.connect(target) as connection:
        last = releases.latest(connection, run.setup.version_schema)
        same = (
            last is not None
            and last.checksum == releases.checksum_of(text)
            and set(last.heads) == heads
        )
        if same and not outcome.allowed:
            return False
        releases.record(
            connection,
            heads=sorted(heads),
            snapshot=text,
            allow_breaking=outcome.allowed,
            breaks=outcome.breaks or [s for s in [outcome.skipped] if s and outcome.allowed],
            schema=run.setup.version_schema,
        )
        connection.commit()
    return True


def _not_recorded(run: Run, target: Target, exc: Exception) -> Finding:
    return Finding(
        rule="release-not-recorded",
        severity=Severity.WARNING,
        message=f"{target.label}: the upgrade succeeded, but recording this release"
        f" in {releases.RELEASE_TABLE} failed: {one_line(exc, run.setup.urls)}",
        help="the next safe-upgrade compares with the release recorded before;"
        " a re-run of `flask db safe-upgrade` records it",
    )


def facts(run: Run) -> dict[str, Any] | None:
    """JSON ``compat``: ``mode``, ``with``, ``ran``, ``findings``, ``allowed_breaking``,
    ``recorded``, ``skipped?``; ``binds`` with one entry per bind (several targets)."""
    if not run.compat:
        return None
    parts = [(target, run.compat[target.key]) for target in run.targets if target.key in run.compat]
    out: dict[str, Any] = {
        "mode": run.setup.settings.compat,
        "with": "; ".join(
            o.with_ if not run.multi else f"{t.name}: {o.with_}" for t, o in parts if o.with_
        )
        or None,
        "ran": any(o.ran for _, o in parts),
        "findings": sum(len(o.breaks) for _, o in parts),
        "allowed_breaking": any(o.allowed for _, o in parts),
        "recorded": any(o.recorded for _, o in parts),
    }
    if not run.multi and parts and parts[0][1].skipped is not None:
        out["skipped"] = parts[0][1].skipped
    if run.multi:
        out["binds"] = [
            {
                "bind": target.key,
                "with": o.with_,
                "ran": o.ran,
                "findings": len(o.breaks),
                "allowed_breaking": o.allowed,
                "recorded": o.recorded,
                "skipped": o.skipped,
            }
            for target, o in parts
        ]
    return out
