"""What a command found, as data, and the renderers that turn it into text or JSON.

Every command builds one :class:`Report`; ``cli.py`` picks the renderer. Keeping the data
separate from its rendering is what lets ``--format json`` print exactly one object and the
text output stay readable at 3 a.m.
"""

from __future__ import annotations

import enum
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TextIO


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


@dataclass(frozen=True)
class Finding:
    """One thing a check found.

    ``rule`` is the kebab-case name (a lint rule or a verify check); ``code`` is the stable
    ``SMnnn`` of lint rules. ``help`` says what to do instead; ``extra`` carries
    check-specific facts that JSON output includes as further keys.
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
            "message": self.message,
            **({"help": self.help} if self.help else {}),
        }

    def as_problem_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "check": self.rule,
            "severity": str(self.severity),
            "message": self.message,
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
        """The JSON shape of DESIGN.md "Machine-readable output" for this command."""
        if self.command == "lint":
            return {
                "findings": [f.as_lint_dict() for f in self.findings],
                "summary": {
                    "files": int(self.facts.get("files", 0)),
                    "errors": self.count(Severity.ERROR),
                    "warnings": self.count(Severity.WARNING),
                    "infos": self.count(Severity.INFO),
                },
            }
        ok = self.facts.get("ok", self.ok)
        rest = {k: v for k, v in self.facts.items() if k != "ok"}
        return {"ok": ok, **rest, "problems": [f.as_problem_dict() for f in self.findings]}


def render_json(report: Report) -> str:
    """One JSON object, nothing else: what ``--format json`` writes to stdout."""
    return json.dumps(report.to_dict(), indent=2, default=str)


_STYLES = {
    "bold": "1",
    "dim": "2",
    "red": "31",
    "green": "32",
    "yellow": "33",
    "cyan": "36",
}
_SEVERITY_STYLE = {Severity.ERROR: "red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}


def should_color(stream: TextIO, environ: Mapping[str, str] | None = None) -> bool:
    """Colour only for a terminal, and never when ``NO_COLOR`` is set (no-color.org)."""
    env = os.environ if environ is None else environ
    if env.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def _style(text: str, name: str, color: bool) -> str:
    return f"\x1b[{_STYLES[name]}m{text}\x1b[0m" if color else text


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def summary_line(report: Report) -> str:
    """One line that says how the run ended."""
    if not report.findings:
        return "All checks passed."
    counts = [
        _plural(report.count(sev), name)
        for sev, name in (
            (Severity.ERROR, "error"),
            (Severity.WARNING, "warning"),
            (Severity.INFO, "info"),
        )
        if report.count(sev)
    ]
    return f"Found {_plural(len(report.findings), 'problem')} ({', '.join(counts)})."


def render_finding(finding: Finding, *, color: bool = False) -> list[str]:
    """A finding as a titled block: what failed, where, and what to do next."""
    sev_style = _SEVERITY_STYLE[finding.severity]
    if finding.code is not None:
        # The ruff layout, so editors and terminals can jump to the location.
        head = f"{finding.location or '-'}: " if finding.location else ""
        lines = [
            f"{_style(head, 'bold', color)}{_style(finding.code, sev_style, color)} "
            f"[{finding.rule}] {finding.message}"
        ]
    else:
        label = _style(f"{finding.severity}[{finding.rule}]", sev_style, color)
        lines = [f"{label}: {finding.message}"]
        if finding.location:
            lines.append(f"  {_style('where:', 'dim', color)} {finding.location}")
    if finding.help:
        lines.append(f"  {_style('help:', 'green', color)} {finding.help}")
    return lines


def render_text(report: Report, *, color: bool = False) -> str:
    """The human layout: notes, then each finding as a block, then a summary line."""
    lines: list[str] = list(report.notes)
    for finding in report.findings:
        lines.extend(render_finding(finding, color=color))
    lines.append(_style(summary_line(report), "bold", color))
    return "\n".join(lines)
