"""What a command found, as data: findings, the report, the result, what SARIF needs of a rule.

Every command builds one :class:`Report`, and its library function returns it in a
:class:`Result` with the exit code it implies; the CLI picks a renderer from
:mod:`flask_safemigrate.render` (text, JSON, GitHub, SARIF). Keeping the data separate from
its rendering is what lets ``--format json`` print exactly one object and the text output
stay readable at 3 a.m.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flask_safemigrate.errors import ExitCode

#: The version of every command's ``--format json`` shape (docs/exit-codes.md, "JSON output"
#: table): the first key of each object. Raised when a key is removed or changes meaning;
#: a key added is not a new version.
SCHEMA_VERSION = 1


class Severity(enum.StrEnum):
    """How bad a finding is; ordered so thresholds compare with ``>=``."""

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return self.rank >= other.rank

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return self.rank > other.rank

    def __le__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return self.rank <= other.rank

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return self.rank < other.rank


_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.ERROR: 2}


@dataclass(frozen=True, init=False)
class Finding:
    """One thing a check found.

    ``rule`` is the kebab-case name (a lint rule or a verify check); ``code`` is the stable
    ``SMnnn`` of lint rules. ``help`` says what to do instead; ``extra`` carries
    check-specific facts that JSON output includes as further keys.

    Its ``__init__`` fills the instance's dictionary at once (lint makes thousands per
    history): the frozen dataclass's own sets each field through ``object.__setattr__``.
    """

    rule: str
    severity: Severity
    message: str
    code: str | None = None
    path: str | None = None
    line: int | None = None
    col: int | None = None
    help: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    #: Further lines of the message (text output indents them under it, each escaped on its
    #: own; JSON and GitHub join them to the message with newlines).
    details: tuple[str, ...] = ()

    def __init__(
        self,
        rule: str,
        severity: Severity,
        message: str,
        code: str | None = None,
        path: str | None = None,
        line: int | None = None,
        col: int | None = None,
        help: str | None = None,
        extra: Mapping[str, Any] | None = None,
        details: tuple[str, ...] = (),
    ) -> None:
        object.__setattr__(self, "__dict__", {"rule": rule, "severity": severity,
            "message": message, "code": code, "path": path, "line": line, "col": col,
            "help": help, "extra": {} if extra is None else extra, "details": details})  # fmt: skip

    @property
    def full_message(self) -> str:
        """The message with its detail lines, as JSON and GitHub output carry it."""
        return "\n".join((self.message, *self.details))

    @property
    def location(self) -> str | None:
        """``path:line:col`` with whatever parts are known."""
        if self.path is None:
            return None
        parts = [self.path]
        if self.line is not None:
            parts.append(str(self.line))
            if self.col is not None:
                parts.append(str(self.col))
        return ":".join(parts)

    def as_lint_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "rule": self.rule,
            "severity": str(self.severity),
            "path": self.path,
            "line": self.line,
            "col": self.col,
            "message": self.full_message,
            **({"help": self.help} if self.help else {}),
            **self.extra,
        }

    def as_problem_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "check": self.rule,
            "severity": str(self.severity),
            "message": self.full_message,
        }
        for key in ("code", "path", "line", "col", "help"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        out.update(self.extra)
        return out


@dataclass
class Report:
    """The result of one command run.

    ``facts`` are the command-specific top-level JSON keys (``heads``, ``stage``, ...);
    ``notes`` are informational lines shown before the findings in text output.
    """

    command: str
    findings: list[Finding] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    #: The text's closing line when the command says what it did (auto-merge-heads: merged
    #: into ..., nothing to merge, refused): "All checks passed." says nothing about a merge.
    #: Text only; JSON has the facts it is worded from.
    closing: str | None = None

    def count(self, severity: Severity) -> int:
        return sum(1 for f in self.findings if f.severity is severity)

    def worst(self) -> Severity | None:
        return max((f.severity for f in self.findings), default=None)

    def fails(self, threshold: Severity = Severity.ERROR) -> bool:
        """Whether any finding is at or above ``threshold``."""
        worst = self.worst()
        return worst is not None and worst >= threshold

    @property
    def ok(self) -> bool:
        return not self.fails(Severity.ERROR)

    def to_dict(self) -> dict[str, Any]:
        """The command's JSON shape (docs/architecture.md, "Contracts": JSON), led by
        ``schema_version``."""
        if self.command == "lint":
            return {
                "schema_version": SCHEMA_VERSION,
                "findings": [f.as_lint_dict() for f in self.findings],
                "summary": {
                    "files": int(self.facts.get("files", 0)),
                    "errors": self.count(Severity.ERROR),
                    "warnings": self.count(Severity.WARNING),
                    "infos": self.count(Severity.INFO),
                    **(
                        {"hint": self.facts["summary_hint"]} if "summary_hint" in self.facts else {}
                    ),
                    # Only with --baseline: {"file", "suppressed", "stale"}.
                    **({"baseline": self.facts["baseline"]} if "baseline" in self.facts else {}),
                },
            }
        ok = self.facts.get("ok", self.ok)
        rest = {k: v for k, v in self.facts.items() if k != "ok"}
        return {
            "schema_version": SCHEMA_VERSION,
            "ok": ok,
            **rest,
            "problems": [f.as_problem_dict() for f in self.findings],
        }


@dataclass(frozen=True)
class Result:
    """What every command's library function returns: its report and its exit code.

    The command decides the code (docs/architecture.md, "Contracts": exit codes) where it
    knows why it stopped; the CLI only renders ``report`` and exits with ``exit_code``, so
    a script calling the library gets the status ``flask db`` would exit with. Failures
    that have no report to give are raised instead, as a
    :class:`~flask_safemigrate.errors.SafeMigrateError` carrying their own exit code.
    """

    report: Report
    exit_code: ExitCode

    @property
    def ok(self) -> bool:
        """Whether the command succeeded (exit code 0)."""
        return self.exit_code is ExitCode.OK


@dataclass(frozen=True)
class RuleInfo:
    """What SARIF needs to know about a rule, without this module importing the lint package.

    ``summary`` is the first line of the rule's docstring, ``help_markdown`` the whole of it.
    """

    code: str
    name: str
    summary: str
    help_markdown: str
    default_severity: Severity
    help_uri: str | None = None
