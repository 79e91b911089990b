"""The command lines SafeMigrate suggests, as the user can copy them.

Checks word their advice for the app's own migrations directory ("run `flask db
safe-upgrade --resolved REV`"). A run given another directory (``flask db -d DIR``) needs
that ``-d`` in every suggestion, or the copied line fails with "no migrations directory".
:func:`command_prefix` is what a run's :class:`~flask_safemigrate.project.Setup` carries.
Text built where the prefix is known uses it directly (safe-upgrade's progress, its range
refusal, ``flask db ledger``); :func:`finding_for`, :func:`text_for` and :func:`report_for`
put it into what a check or a lint rule worded for any directory, before anything is shown
(pre-flight findings included), so no check or rule needs to know the directory.
"""

from __future__ import annotations

import dataclasses
import re
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from flask_safemigrate.report import Finding, Report

__all__ = [
    "DEFAULT_PREFIX",
    "LintCommand",
    "command_prefix",
    "finding_for",
    "report_for",
    "text_for",
]

DEFAULT_PREFIX = "flask db"

# A suggested command: `flask db ...` in backquotes, unless it already names a directory.
_SUGGESTION = re.compile(r"`flask db (?!-d )")


def command_prefix(directory: str | Path | None, default: str | Path) -> str:
    """``flask db``, or ``flask db -d DIR`` when ``directory`` (a command's ``-d``) is not
    the app's ``default`` directory; DIR is quoted for a POSIX shell."""
    if directory is None or Path(directory).resolve() == Path(default).resolve():
        return DEFAULT_PREFIX
    return f"{DEFAULT_PREFIX} -d {shlex.quote(str(directory))}"


def text_for(text: str, prefix: str) -> str:
    """``text`` with every suggested `flask db ...` command run as ``prefix ...``."""
    if prefix == DEFAULT_PREFIX or "`flask db " not in text:
        return text
    return _SUGGESTION.sub(lambda _m: f"`{prefix} ", text)


def finding_for(finding: Finding, prefix: str) -> Finding:
    """``finding`` with its message, help, details and text facts suggesting ``prefix``."""
    if prefix == DEFAULT_PREFIX:
        return finding
    extra: dict[str, Any] = {
        key: text_for(value, prefix) if isinstance(value, str) else value
        for key, value in finding.extra.items()
    }
    return dataclasses.replace(
        finding,
        message=text_for(finding.message, prefix),
        help=text_for(finding.help, prefix) if finding.help is not None else None,
        details=tuple(text_for(line, prefix) for line in finding.details),
        extra=extra,
    )


def report_for(report: Report, prefix: str) -> Report:
    """``report`` with its findings, notes and ``summary`` suggesting ``prefix`` (for the
    commands whose library function words its report for the app's directory: lint and
    auto-merge-heads)."""
    if prefix == DEFAULT_PREFIX:
        return report
    facts = dict(report.facts)
    if isinstance(facts.get("summary"), str):
        facts["summary"] = text_for(facts["summary"], prefix)
    return dataclasses.replace(
        report,
        findings=[finding_for(finding, prefix) for finding in report.findings],
        facts=facts,
        notes=[text_for(note, prefix) for note in report.notes],
    )


# Lint's own advice, worded `flask db lint ARGS` wherever it is made (a bad --select, a
# baseline to write): the command the user ran, with the paths it linted, replaces it.
_LINT_SUGGESTION = re.compile(r"`flask db lint((?: [^`]*)?)`")


@dataclasses.dataclass(frozen=True)
class LintCommand:
    """The lint command as the user ran it: ``safemigrate lint`` (pre-commit, no app) or
    ``flask db [-d DIR] lint``, and the folders given to it."""

    command: str = f"{DEFAULT_PREFIX} lint"
    paths: tuple[str, ...] = ()

    @classmethod
    def of(cls, command: str, paths: Sequence[str | Path]) -> LintCommand:
        """Only the folders among ``paths`` are kept: pre-commit passes the changed scripts,
        and a baseline written from those alone would drop every other script's entries."""
        return cls(command, tuple(str(path) for path in paths if Path(path).is_dir()))

    def line(self, args: str = "") -> str:
        """``COMMAND ARGS PATHS``, quoted for a POSIX shell (no paths after ``--explain``,
        which lints nothing)."""
        args = args.strip()
        paths = () if args.startswith("--explain") else self.paths
        return " ".join([self.command, *([args] if args else []), *map(shlex.quote, paths)])

    def text(self, text: str) -> str:
        """``text`` with every suggested `flask db lint ARGS` as :meth:`line` words it."""
        return _LINT_SUGGESTION.sub(lambda match: f"`{self.line(match.group(1))}`", text)
