"""Findings from violations: where they point, which dialects and direction they are about,
and how paths are shown.

A script rule's violation is read as the database runs the code: dropped when no configured
dialect reaches it, held at a warning when it is about some dialects and the dialect is unknown,
marked (and at most a warning) in ``downgrade()``, and dropped there when the downgrade only
restores what ``upgrade()`` changed.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from flask_safemigrate.lint.calls import Call
from flask_safemigrate.lint.model import ALL_DIALECTS, LintConfig, Migration, Rule, Violation
from flask_safemigrate.report import Finding, Severity
from flask_safemigrate.text import display_path


def finding_of(
    rule: type[Rule],
    severity: Severity,
    v: Violation,
    path: Path,
    display: Callable[[Path], str] = display_path,
    *,
    message: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Finding:
    line = v.line if v.line is not None else getattr(v.node, "lineno", None)
    if v.at_most is not None and severity.rank > v.at_most.rank:
        severity = v.at_most
    col = v.col
    if col is None and v.node is not None and hasattr(v.node, "col_offset"):
        col = v.node.col_offset + 1
    return Finding(
        rule=rule.name,
        severity=severity,
        message=message if message is not None else v.message,
        code=rule.code,
        path=display(v.path or path),
        line=line,
        col=col,
        help=v.help or rule.fix or None,
        extra={**(v.facts or {}), **(extra or {})},
    )


DOWNGRADE = "downgrade"


def script_finding(
    rule: type[Rule],
    severity: Severity,
    v: Violation,
    parsed: Migration,
    path: Path,
    config: LintConfig,
    display: Callable[[Path], str],
) -> Finding | None:
    """The finding for a script rule's violation, read as the database runs the code: none
    when no configured dialect reaches it, at most a warning when it is about some dialects
    and the dialect is unknown, and marked when it is in ``downgrade()``."""
    line = v.line if v.line is not None else getattr(v.node, "lineno", None)
    if v.path is not None or line is None:
        return finding_of(rule, severity, v, path, display)
    index = parsed.index
    about = rule.dialects if v.dialects is None else v.dialects
    call = index.call_of(v.node) if v.node is not None else None
    direction: str | None
    if call is not None:
        about = about & call.dialects
        direction = call.direction
    else:
        if index.dialect_ranges:
            about = about & index.dialects_at(line)
        direction = index.direction_at(line)
    reached = about & config.dialects
    if not reached:
        return None  # only code that the configured dialects never run
    severity = severity
    extra: dict[str, Any] = {}
    if not config.dialect_known and reached != ALL_DIALECTS and severity is Severity.ERROR:
        severity = Severity.WARNING  # a judgement about a database the project may not use
        extra[CAPPED] = sorted(reached)
    message = None
    if direction == DOWNGRADE:
        code = rule.code
        if (
            code.startswith(RESTORE_FAMILIES)
            and code not in ALWAYS_FAILS
            and restores(parsed, line)
        ):
            return None  # what downgrade() must do to bring back what upgrade() changed
        extra["direction"] = DOWNGRADE
        if severity is Severity.ERROR:
            # A recovery path, never run by an upgrade: worth reading, not failing a build.
            severity = Severity.WARNING
        if "downgrade(" not in v.message:  # SM301 names the function itself
            message = f"in downgrade(): {v.message}"
    return finding_of(rule, severity, v, path, display, message=message, extra=extra)


#: Rule families (destructive, locking) that do not judge a downgrade step which undoes an
#: upgrade step: putting back the index, column, constraint or type that upgrade() changed is
#: what the downgrade is for, and it has no safer form.
RESTORE_FAMILIES = ("SM1", "SM2")
#: ...except where the step cannot run at all (CONCURRENTLY inside a transaction block).
ALWAYS_FAILS = frozenset({"SM205"})
_CONSTRAINTS = frozenset(
    {
        "create_foreign_key",
        "create_unique_constraint",
        "create_check_constraint",
        "create_primary_key",
        "drop_constraint",
    }
)


def _object(call: Call) -> tuple[str | None, ...] | None:
    """What a schema operation acts on, the same for an operation and its inverse."""
    name = call.name
    if name in {"create_index", "drop_index"}:
        return ("named", call.string("index_name"))  # an index may restore a constraint
    if name in {"add_column", "drop_column", "alter_column"}:
        return ("column", call.table, call.column)
    if name in {"create_table", "drop_table"}:
        return ("table", call.table)
    if name in _CONSTRAINTS:
        constraint = call.string("constraint_name")
        return None if constraint is None else ("named", constraint)
    return None


def restores(migration: Migration, line: int) -> bool:
    """Whether the downgrade operation at ``line`` undoes an operation of ``upgrade()`` on
    the same index, column, table or named constraint."""

    def build() -> frozenset[tuple[str | None, ...]]:
        return frozenset(
            key for call in migration.upgrade_calls if (key := _object(call)) is not None
        )

    changed = migration.shared("upgrade-objects", build)
    for call in migration.downgrade_calls:
        if call.line == line or call.stmt_line == line:
            key = _object(call)
            if key is not None and key in changed:
                return True
    return False


#: The ``extra`` key of a finding held at a warning because the lint dialect is unknown: the
#: dialects it is about.
CAPPED = "only-on"


class Display:
    """How findings name paths: relative to the working directory, read once per run."""

    def __init__(self) -> None:
        self.cwd = Path.cwd()
        self.shown: dict[Path, str] = {}
        self.resolved: set[Path] = set()  # paths known to be resolved already
        self._last: Path | None = None
        self._last_shown = ""
        # Below the working directory, a resolved POSIX path is the text after this prefix
        # (what relative_to answers, without taking both paths apart).
        cwd = str(self.cwd)
        self.prefix = (cwd if cwd.endswith(os.sep) else cwd + os.sep) if os.name == "posix" else ""

    def __call__(self, path: Path) -> str:
        if path is self._last:  # a script's findings come together: skip hashing the path
            return self._last_shown
        shown = self.shown.get(path)
        if shown is None:
            text = str(path)
            if self.prefix and path in self.resolved and text.startswith(self.prefix):
                shown = text[len(self.prefix) :]
            elif self.prefix and path in self.resolved and text != self.prefix[:-1]:
                # Outside the working directory (a history under /tmp, an absolute path from
                # pre-commit): relative_to would only raise ValueError, at a cost per script.
                shown = text
            else:
                try:
                    real = path if path in self.resolved else path.resolve()
                    shown = str(real.relative_to(self.cwd))
                except (ValueError, OSError, RuntimeError):  # RuntimeError: a symlink loop
                    shown = str(path)
            self.shown[path] = shown
        self._last, self._last_shown = path, shown
        return shown
