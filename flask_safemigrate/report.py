"""What a command found, as data, and the renderers that turn it into text, JSON, GitHub or SARIF.

Every command builds one :class:`Report`; ``cli.py`` picks the renderer. Keeping the data
separate from its rendering is what lets ``--format json`` print exactly one object and the
text output stay readable at 3 a.m.
"""

from __future__ import annotations

import enum
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import quote

from flask_safemigrate.safe_text import printable
from flask_safemigrate.text import plural
from flask_safemigrate.version import __version__


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
    #: Further lines of the message (text output indents them under it, each escaped on its
    #: own; JSON and GitHub join them to the message with newlines).
    details: tuple[str, ...] = ()

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
        """The command's JSON shape (docs/architecture.md, "Contracts": JSON)."""
        if self.command == "lint":
            return {
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


def summary_line(report: Report) -> str:
    """One line that says how the run ended."""
    if not report.findings:
        return "All checks passed."
    counts = [
        plural(report.count(sev), name)
        for sev, name in (
            (Severity.ERROR, "error"),
            (Severity.WARNING, "warning"),
            (Severity.INFO, "info"),
        )
        if report.count(sev)
    ]
    line = f"Found {plural(len(report.findings), 'problem')} ({', '.join(counts)})."
    hint = report.facts.get("summary_hint")
    return f"{line} {hint}" if hint else line


def render_finding(finding: Finding, *, color: bool = False) -> list[str]:
    """A finding as a titled block: what failed, where, and what to do next.

    Every field may hold text from a script or the database, so each is shown through
    :func:`printable`: a line break or an escape sequence in it cannot start a line of its own
    (a forged ``::warning file=...::`` for GitHub Actions) or drive the terminal.
    """
    sev_style = _SEVERITY_STYLE[finding.severity]
    message, rule = printable(finding.message), printable(finding.rule)
    location = printable(finding.location) if finding.location else None
    if finding.code is not None:
        # The ruff layout, so editors and terminals can jump to the location.
        head = f"{location}: " if location else ""
        lines = [
            f"{_style(head, 'bold', color)}{_style(printable(finding.code), sev_style, color)} "
            f"[{rule}] {message}"
        ]
    else:
        label = _style(f"{finding.severity}[{rule}]", sev_style, color)
        lines = [f"{label}: {message}"]
        if location:
            lines.append(f"  {_style('where:', 'dim', color)} {location}")
    lines.extend(printable(detail) for detail in finding.details)
    if finding.help:
        lines.append(f"  {_style('help:', 'green', color)} {printable(finding.help)}")
    return lines


def render_text(report: Report, *, color: bool = False) -> str:
    """The human layout: notes, then each finding as a block, then a summary line."""
    lines: list[str] = [printable(note) for note in report.notes]
    for finding in report.findings:
        lines.extend(render_finding(finding, color=color))
    lines.append(_style(printable(summary_line(report)), "bold", color))
    return "\n".join(lines)


# --------------------------------------------------------------------------- lint, as text


def lint_summary_lines(report: Report) -> list[str]:
    """How a lint run ended: counts per severity and per rule, then what a baseline hid.

    ``Found 4 problems in 2 files: 3 errors, 1 warning (SM102 x2, SM203 x1, SM401 x1).``
    Rules are listed most frequent first, then by code, so the line reads the same each run.
    """
    findings = report.findings
    if findings:
        per_severity = [
            plural(report.count(sev), name)
            for sev, name in (
                (Severity.ERROR, "error"),
                (Severity.WARNING, "warning"),
                (Severity.INFO, "info"),
            )
            if report.count(sev)
        ]
        per_rule: dict[str, int] = {}
        for finding in findings:
            label = finding.code or finding.rule
            per_rule[label] = per_rule.get(label, 0) + 1
        rules = ", ".join(
            f"{label} x{count}"
            for label, count in sorted(per_rule.items(), key=lambda item: (-item[1], item[0]))
        )
        files = len({finding.path for finding in findings})
        line = (
            f"Found {plural(len(findings), 'problem')} in {plural(files, 'file')}:"
            f" {', '.join(per_severity)} ({rules})."
        )
    else:
        line = "All checks passed."
    hint = report.facts.get("summary_hint")
    lines = [f"{line} {hint}" if hint else line]
    baseline = report.facts.get("baseline")
    if baseline:
        recorded = int(baseline["suppressed"])
        text = (
            f"Baseline {baseline['file']}: {recorded} recorded"
            f" {'finding' if recorded == 1 else 'findings'} not shown"
        )
        stale = int(baseline["stale"])
        if stale:
            # --write-baseline records every finding: with new ones shown, it would record
            # them too, so the advice waits for them to be fixed.
            when = "once the findings above are fixed, " if findings else ""
            text += (
                f"; {stale} {'entry matches' if stale == 1 else 'entries match'} nothing any"
                f" more (fixed or removed): {when}--write-baseline {baseline['file']} prunes"
                f" {'it' if stale == 1 else 'them'}"
            )
        lines.append(text + ".")
    return lines


def _position(finding: Finding) -> str:
    if finding.line is None:
        return ""
    return f"{finding.line}:{finding.col}" if finding.col is not None else str(finding.line)


def render_lint_text(report: Report, *, color: bool = False) -> str:
    """Lint findings grouped by file: the file on a line of its own, then one line per finding
    (``  18:5 error   SM102 [drop-column] message``, severity on each), then the summary.

    The layout of ruff's ``grouped`` format, with the severity that ruff does not have. Files
    come in path order and findings in line order within one (the engine's order), so two runs
    over the same scripts print the same text.
    """
    lines: list[str] = [printable(note) for note in report.notes]
    groups: dict[str | None, list[Finding]] = {}
    for finding in sorted(
        report.findings, key=lambda f: (f.path or "", f.line or 0, f.col or 0, f.code or "")
    ):
        groups.setdefault(finding.path, []).append(finding)
    for path, findings in groups.items():
        lines.append(_style(printable(path) if path else "(no file)", "bold", color))
        width = max(len(_position(finding)) for finding in findings)
        for finding in findings:
            sev_style = _SEVERITY_STYLE[finding.severity]
            severity = _style(f"{finding.severity!s:<7}", sev_style, color)
            code = f"{_style(printable(finding.code), sev_style, color)} " if finding.code else ""
            position = f"{_position(finding):<{width}} " if width else ""
            lines.append(
                f"  {position}{severity} {code}[{printable(finding.rule)}]"
                f" {printable(finding.message)}"
            )
            lines.extend(f"    {printable(detail)}" for detail in finding.details)
            if finding.help:
                lines.append(f"    {_style('help:', 'green', color)} {printable(finding.help)}")
    lines.extend(_style(printable(line), "bold", color) for line in lint_summary_lines(report))
    return "\n".join(lines)


# --------------------------------------------------------------------------- GitHub Actions


_GITHUB_COMMAND = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}


def _github_data(value: str) -> str:
    """Escape the message part of a workflow command (after ``::``), as the runner decodes it.

    ``%``, CR and LF are the Actions rules; other control characters (``ESC``) are shown as
    escapes first, since the log would otherwise interpret them.
    """
    value = "".join(c if c in "\r\n" or c.isprintable() else printable(c) for c in value)
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _github_property(value: str) -> str:
    """Escape a property value of a workflow command (``file=``, ``title=``...)."""
    return _github_data(value).replace(":", "%3A").replace(",", "%2C")


def _posix(path: str) -> str:
    return path.replace(os.sep, "/") if os.sep != "/" else path


def render_github(report: Report) -> str:
    """One GitHub Actions workflow command per finding, so the run annotates the diff.

    ``::error file=PATH,line=L,col=C,title=SM102 drop-column::message (help: ...)``;
    warnings become ``::warning``, infos ``::notice``. Findings without a path carry no
    ``file``/``line``/``col``. Empty when there are no findings.
    """
    lines = []
    for finding in report.findings:
        props: list[tuple[str, str]] = []
        if finding.path is not None:
            props.append(("file", _posix(finding.path)))
            if finding.line is not None:
                props.append(("line", str(finding.line)))
                if finding.col is not None:
                    props.append(("col", str(finding.col)))
        title = f"{finding.code} {finding.rule}" if finding.code else finding.rule
        props.append(("title", title))
        message = finding.full_message
        if finding.help:
            message = f"{message} (help: {finding.help})"
        rendered = ",".join(f"{key}={_github_property(value)}" for key, value in props)
        command = _GITHUB_COMMAND[finding.severity]
        lines.append(f"::{command} {rendered}::{_github_data(message)}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- SARIF 2.1.0


SARIF_SCHEMA = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
SARIF_VERSION = "2.1.0"
TOOL_NAME = "flask-safemigrate"
TOOL_INFORMATION_URI = "https://pypi.org/project/flask-safemigrate/"
_SARIF_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}


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


def _markdown_section(markdown: str, title: str) -> str | None:
    """The text under ``## title`` up to the next ``## `` heading (outside code fences)."""
    body: list[str] | None = None
    fenced = False
    for line in markdown.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        if not fenced and line.startswith("## "):
            if body is not None:
                break
            if line[3:].strip().lower() == title.lower():
                body = []
            continue
        if body is not None:
            body.append(line)
    text = "\n".join(body or []).strip()
    return text or None


def _sarif_descriptor(rule: RuleInfo) -> dict[str, Any]:
    full = _markdown_section(rule.help_markdown, "What it does") or rule.summary
    descriptor: dict[str, Any] = {
        "id": rule.code,
        "name": rule.name,
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": full},
        "help": {"text": rule.help_markdown, "markdown": rule.help_markdown},
        "defaultConfiguration": {"level": _SARIF_LEVEL[rule.default_severity]},
    }
    if rule.help_uri:
        descriptor["helpUri"] = rule.help_uri
    return descriptor


def _sarif_uri(path: str) -> tuple[str, str | None]:
    """A URI for a finding's path and its base id: relative under ``%SRCROOT%``, else file://."""
    if Path(path).is_absolute():
        return Path(path).as_uri(), None
    return quote(_posix(path), safe="/"), "%SRCROOT%"


def _sarif_result(finding: Finding, rule_index: int) -> dict[str, Any]:
    text = finding.message
    if finding.help:
        text = f"{text} (help: {finding.help})"
    result: dict[str, Any] = {
        "ruleId": finding.code or finding.rule,
        "ruleIndex": rule_index,
        "level": _SARIF_LEVEL[finding.severity],
        "message": {"text": text},
    }
    if finding.path is not None:
        uri, base = _sarif_uri(finding.path)
        artifact: dict[str, Any] = {"uri": uri}
        if base is not None:
            artifact["uriBaseId"] = base
        physical: dict[str, Any] = {"artifactLocation": artifact}
        if finding.line is not None and finding.line >= 1:
            region: dict[str, int] = {"startLine": finding.line}
            if finding.col is not None and finding.col >= 1:
                region["startColumn"] = finding.col
            physical["region"] = region
        result["locations"] = [{"physicalLocation": physical}]
    return result


def render_sarif(report: Report, rules: Sequence[RuleInfo]) -> str:
    """The report as a SARIF 2.1.0 log (one run), for GitHub code scanning and other viewers.

    ``rules`` become ``tool.driver.rules``; a finding whose code is not among them (the
    engine's own ``SM900 unused-ignore``, a verify check) gets a minimal rule entry, so every
    result has a valid ``ruleIndex``.
    """

    descriptors = [_sarif_descriptor(rule) for rule in rules]
    index = {rule.code: i for i, rule in enumerate(rules)}
    results = []
    for finding in report.findings:
        rule_id = finding.code or finding.rule
        if rule_id not in index:
            index[rule_id] = len(descriptors)
            descriptors.append(
                {
                    "id": rule_id,
                    "name": finding.rule,
                    "defaultConfiguration": {"level": _SARIF_LEVEL[finding.severity]},
                }
            )
        results.append(_sarif_result(finding, index[rule_id]))
    log = {
        "$schema": SARIF_SCHEMA,
        "version": SARIF_VERSION,
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": TOOL_NAME,
                        "version": __version__,
                        "informationUri": TOOL_INFORMATION_URI,
                        "rules": descriptors,
                    }
                },
                "results": results,
            }
        ],
    }
    return json.dumps(log, indent=2)
