"""``lint`` as a command: which revisions, the run, the baseline, and the exit code.

Both entry points (``flask db lint`` and the standalone ``safemigrate lint``) call
:func:`lint_command` and only render its :class:`~flask_safemigrate.report.Result`: the
baseline is written or applied here, and the exit code follows ``fail_on``, so the two
commands cannot disagree on either. :func:`~flask_safemigrate.lint.engine.lint` stays the
plain run that pipelines (safe-upgrade's pre-flight) and benchmarks call.
"""

from __future__ import annotations

import dataclasses
import shlex
from collections.abc import Sequence
from pathlib import Path

from flask_safemigrate import history, suggested
from flask_safemigrate.errors import ConfigError, ExitCode
from flask_safemigrate.lint import engine
from flask_safemigrate.report import Result

__all__ = ["REWRITE", "WRITTEN", "lint_command", "since_revisions"]

#: The report fact of a ``--write-baseline`` run: ``{"file", "findings", "files"}``.
WRITTEN = "baseline_written"
#: The report fact of a ``--baseline`` run: the command line that writes that baseline again.
REWRITE = "baseline_rewrite"


def lint_command(
    paths: Sequence[Path],
    config: engine.LintConfig,
    *,
    only_revisions: set[str] | None = None,
    write_baseline: Path | None = None,
    cache_dir: Path | None = None,
    command: str = suggested.DEFAULT_PREFIX,
    lint: suggested.LintCommand | None = None,
    deployed_together: bool = True,
) -> Result:
    """Lint ``paths``; exit 1 when a finding reaches ``config.fail_on``, else 0.

    With ``write_baseline``, every finding is recorded in that file instead and the run
    exits 0 (the report's :data:`WRITTEN` fact says what was written); with a baseline in
    ``config``, only the findings it does not record are reported and decide the exit code.
    Raises :class:`ConfigError` (exit 2) for a baseline that cannot be read or written.
    ``cache_dir``: see :func:`~flask_safemigrate.lint.engine.lint`. ``command`` starts the
    commands the findings suggest (``flask db -d DIR`` when the scripts are not in the app's
    migrations directory); the baseline, written or applied, holds them as the rules word them.
    ``lint`` is the lint command as the user ran it, which advice to lint again names (the
    report's :data:`REWRITE` fact: the line that rewrites a baseline with stale entries).
    ``deployed_together``: see :func:`~flask_safemigrate.lint.engine.lint`. With
    ``config.releases == "git-tags"``, each script's release is read from git tags
    (:mod:`~flask_safemigrate.lint.release_tags`); when git cannot say, the summary's hint
    says the setting had no effect.
    """
    releases = None
    notice = None
    if config.releases == "git-tags":
        from flask_safemigrate.lint.release_tags import git_tag_releases  # subprocess

        tagged = git_tag_releases(engine.collect_files(paths, config.exclude)[0])
        releases, notice = tagged.releases or None, tagged.notice
    report = engine.lint(
        paths,
        config,
        only_revisions=only_revisions,
        cache_dir=cache_dir,
        deployed_together=deployed_together,
        releases=releases,
    )
    if notice is not None:
        hint = " ".join(filter(None, (report.facts.get("summary_hint"), notice)))
        report = dataclasses.replace(report, facts={**report.facts, "summary_hint": hint})
    if write_baseline is not None or config.baseline is not None:
        # Imported here, as git_files below: a run without a baseline need not pay for them.
        from flask_safemigrate.lint import baseline
    if write_baseline is not None:
        count = baseline.write(write_baseline, report)
        files = len({finding.path for finding in report.findings})
        written = {"file": write_baseline, "findings": count, "files": files}
        return Result(
            dataclasses.replace(report, facts={**report.facts, WRITTEN: written}), ExitCode.OK
        )
    if config.baseline is not None:
        report = baseline.apply(report, baseline.load(config.baseline)).report
        written_to = shlex.quote(str(report.facts["baseline"]["file"]))
        line = (lint or suggested.LintCommand()).line(f"--write-baseline {written_to}")
        report = dataclasses.replace(report, facts={**report.facts, REWRITE: line})
    report = suggested.report_for(report, command)
    failed = report.fails(config.fail_on)
    return Result(report, ExitCode.CHECKS_FAILED if failed else ExitCode.OK)


def since_revisions(locations: list[Path], since: str, *, with_app: bool = True) -> set[str]:
    """``--since REV``: the revisions that descend from ``since`` (not ``since`` itself), or,
    when ``since`` is no revision but a git ref (``origin/main``, a tag), the revisions whose
    scripts that commit does not have: a branch's new migrations.
    ``with_app`` says whether the user has an app to run ``flask db history`` with; without
    one (``safemigrate lint`` in pre-commit) the advice names the heads and the scripts' line."""
    graph = history.load_graph(locations)
    try:
        (revision,) = graph.resolve(since)
    except (history.RevisionLookupError, ValueError) as exc:
        from flask_safemigrate import git_files  # subprocess: only for a git ref

        try:
            known = git_files.files_at(since, locations)
        except (OSError, ValueError):
            known = None
        if known is not None:
            return {s.revision for s in graph.scripts.values() if s.path.resolve() not in known}
        if with_app:
            listed = "(`flask db history` lists them)"
        else:
            heads = ", ".join(graph.heads) or "none"
            listed = f"(each script's `revision = ` line; the heads are {heads})"
        raise ConfigError(
            f"--since {since}: {exc}",
            hint=f"name one revision id or a unique prefix {listed}, or a git ref (origin/main)",
        ) from None
    return set(graph.descendants(revision)) - {revision}
