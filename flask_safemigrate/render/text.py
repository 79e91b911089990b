"""The human layout of a report: notes, each finding as a titled block, a summary line (and
lint's own layout); ANSI colour only for a terminal, and never with ``NO_COLOR``."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TextIO

from flask_safemigrate.report import Finding, Report, Severity
from flask_safemigrate.safe_text import printable
from flask_safemigrate.text import plural

__all__ = [
    "lint_summary_lines",
    "render_finding",
    "render_lint_text",
    "render_text",
    "should_color",
    "summary_line",
]

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


def _per_severity(report: Report) -> list[str]:
    """``["3 errors", "1 warning"]``: the severities present, worst first."""
    return [
        plural(report.count(sev), name)
        for sev, name in (
            (Severity.ERROR, "error"),
            (Severity.WARNING, "warning"),
            (Severity.INFO, "info"),
        )
        if report.count(sev)
    ]


def summary_line(report: Report) -> str:
    """One line that says how the run ended: the report's own ``closing`` when it has one
    (auto-merge-heads says what it merged or why not), else the count of its findings."""
    if report.closing:
        return report.closing
    if not report.findings:
        return "All checks passed."
    counts = _per_severity(report)
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
        # The ruff layout, so editors and terminals can jump to the location, with the
        # severity lint's own lines give (an error here blocks a deploy, a warning does not).
        head = f"{location}: " if location else ""
        code = _style(f"{finding.severity} {printable(finding.code)}", sev_style, color)
        lines = [f"{_style(head, 'bold', color)}{code} [{rule}] {message}"]
    else:
        label = _style(f"{finding.severity}[{rule}]", sev_style, color)
        lines = [f"{label}: {message}"]
        if location:
            lines.append(f"  {_style('where:', 'dim', color)} {location}")
        statement = finding.extra.get("statement")
        if isinstance(statement, str) and statement:
            # A failed migration's statement (JSON has it as a key): which op of the
            # revision failed, when `where:` is the line of a whole batch block.
            lines.append(f"  {_style('statement:', 'dim', color)} {printable(statement)}")
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
        per_severity = _per_severity(report)
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
            rewrite = report.facts.get("baseline_rewrite")  # the lint command as run
            how = f"`{rewrite}`" if rewrite else f"--write-baseline {baseline['file']}"
            text += (
                f"; {stale} {'entry matches' if stale == 1 else 'entries match'} nothing any"
                f" more (fixed or removed): {when}{how} prunes {'it' if stale == 1 else 'them'}"
            )
        if recorded or stale:  # a baseline that hides nothing and is all used is not news
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
