"""GitHub Actions workflow commands: one annotation per finding."""

from __future__ import annotations

import os

from flask_safemigrate.report import Report, Severity
from flask_safemigrate.safe_text import printable

__all__ = ["posix_path", "render_github"]

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


def posix_path(path: str) -> str:
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
            props.append(("file", posix_path(finding.path)))
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
