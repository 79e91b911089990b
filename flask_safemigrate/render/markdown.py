"""``--format markdown``: a report as one GitHub-flavoured Markdown document, sized for a
pull-request comment.

Every piece of outside text (a revision message, a finding, a table name, SQL) reaches the
document through one of the escapes here, each for the place it goes: :func:`text` for prose
and table cells (no ``|``, line break or HTML tag survives it, so a message cannot end a table
row, open a ``<details>`` or forge the comment's hidden marker), :func:`code` for an inline
code span, :func:`fenced` for a block (a fence longer than any backtick run inside it), and
:func:`summary` for a ``<summary>`` line. :func:`fit` keeps the whole under GitHub's comment
limit. The safe-upgrade plan has its own module (:mod:`.markdown_plan`) on these.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from typing import Final

from flask_safemigrate.report import Finding, Report, Severity
from flask_safemigrate.safe_text import printable
from flask_safemigrate.text import plural

__all__ = [
    "COMMENT_LIMIT",
    "COMMENT_MARKER",
    "DOCUMENT_LIMIT",
    "FINDINGS_SHOWN",
    "code",
    "details",
    "fenced",
    "findings_table",
    "fit",
    "join_comment",
    "prose",
    "render_lint_markdown",
    "render_markdown",
    "summary",
    "text",
]

#: GitHub refuses an issue or pull-request comment longer than this (characters).
COMMENT_LIMIT: Final = 65_536
#: What one document may fill: the comment less room for the hidden marker and a note.
DOCUMENT_LIMIT: Final = COMMENT_LIMIT - 512
#: The first line of the pull-request comment the GitHub Action posts and later updates
#: (text from scripts cannot forge it: :func:`text` escapes ``<``).
COMMENT_MARKER: Final = "<!-- flask-safemigrate-plan -->"
#: Findings listed per section before the rest are only counted.
FINDINGS_SHOWN: Final = 20
#: SQL longer than this many lines is collapsed into a ``<details>`` block.
SQL_OPEN_LINES: Final = 15
#: The most characters of one block of SQL shown; the rest is counted.
SQL_CHARS: Final = 12_000

_MARKDOWN_PUNCTUATION = re.compile(r"([\\`*_\[\]{}|~#!])")
_ICON = {Severity.ERROR: "🔴 error", Severity.WARNING: "🟡 warning", Severity.INFO: "🔵 info"}
_BACKTICKS = re.compile(r"`+")
_BLOCK_START = re.compile(r"^(\d*)([-+=.)])")
_SPAN = re.compile(r"`([^`]+)`")


def text(value: object) -> str:
    """Outside text as Markdown prose or a table cell, shown as written and acting as nothing.

    Control characters become escapes (``\\n``), ``<``, ``>`` and ``&`` HTML entities (no tag,
    no comment, no entity of the author's), Markdown's punctuation is backslash-escaped,
    ``|`` included, so a table row cannot be split, and what would start a block at the start
    of a line (indentation, ``-``, ``1.``) does not.
    """
    return _escaped(printable(str(value)), start=True)


def _escaped(value: str, *, start: bool) -> str:
    if start:
        value = value.lstrip()
    escaped = _MARKDOWN_PUNCTUATION.sub(r"\\\1", html.escape(value, quote=False))
    return _BLOCK_START.sub(r"\1\\\2", escaped, count=1) if start else escaped


def prose(value: object) -> str:
    """:func:`text`, with the author's balanced ```command``` spans kept as code spans
    (each through :func:`code`): a finding's advice stays copyable."""
    parts = _SPAN.split(printable(str(value)))
    return "".join(
        code(part) if index % 2 else _escaped(part, start=index == 0)
        for index, part in enumerate(parts)
    )


def code(value: object) -> str:
    """An inline code span holding ``value`` on one line, safe in a table cell too.

    The delimiter is one backtick longer than the longest run inside, padded with a space
    when the value starts or ends with one (CommonMark); ``|`` is escaped, as GFM tables read
    it before the span.
    """
    body = printable(str(value)).replace("|", "\\|")
    if not body:
        return ""
    longest = max((len(run) for run in _BACKTICKS.findall(body)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if body.startswith("`") or body.endswith("`") else ""
    return f"{fence}{pad}{body}{pad}{fence}"


def fenced(body: str, info: str = "") -> str:
    """A fenced code block: the fence is longer than any run of backticks in ``body``, so the
    body cannot close it. Control characters other than line breaks and tabs are escaped."""
    clean = "\n".join(printable(line.replace("\t", "    ")) for line in body.splitlines())
    longest = max((len(run) for run in _BACKTICKS.findall(clean)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{clean}\n{fence}"


def summary(value: object) -> str:
    """Text for a ``<summary>`` line (HTML, where Markdown is not read)."""
    return html.escape(printable(str(value)), quote=True)


def details(title: str, body: str) -> str:
    """A collapsed section; ``title`` is already :func:`summary`-escaped. The blank lines
    let GitHub read ``body`` as Markdown."""
    return f"<details>\n<summary>{title}</summary>\n\n{body}\n\n</details>"


def sql_block(sql: str) -> str:
    """SQL as a code block: collapsed when long, cut (with a count) when very long."""
    shown = sql
    cut = ""
    if len(sql) > SQL_CHARS:
        shown = sql[:SQL_CHARS].rsplit("\n", 1)[0]
        rest = plural(len(sql) - len(shown), "more character")
        cut = f"\n\n_{rest} not shown: `--sql` prints it all._"
    block = fenced(shown.rstrip("\n"), "sql") + cut
    lines = sql.count("\n") + 1
    if lines <= SQL_OPEN_LINES:
        return block
    return details(summary(f"SQL ({plural(lines, 'line')})"), block)


def severity(value: Severity) -> str:
    return _ICON[value]


def findings_table(findings: Sequence[Finding], *, limit: int = FINDINGS_SHOWN) -> str:
    """Findings as a table (code, severity, line, message, what to do instead); past
    ``limit`` only a count, worst first so the cut keeps what matters."""
    if not findings:
        return ""
    ordered = sorted(
        findings, key=lambda f: (-f.severity.rank, f.path or "", f.line or 0, f.code or "")
    )
    rows = [
        "| Code | Severity | Where | Message | Instead |",
        "| --- | --- | --- | --- | --- |",
    ]
    for finding in ordered[:limit]:
        label = f"{finding.code} {finding.rule}" if finding.code else finding.rule
        where = _where(finding)
        message = prose(" ".join((finding.message, *finding.details)))
        rows.append(
            f"| {code(label)} | {severity(finding.severity)} | {where} |"
            f" {message} | {prose(finding.help or '')} |"
        )
    rest = len(ordered) - limit
    if rest > 0:
        rows.append(f"\n_…and {plural(rest, 'more finding')} not shown here._")
    return "\n".join(rows)


def _where(finding: Finding) -> str:
    if finding.path is None:
        return ""
    name = finding.path.replace("\\", "/").rsplit("/", 1)[-1]
    return code(f"{name}:{finding.line}" if finding.line is not None else name)


def fit(blocks: Sequence[str], *, limit: int = DOCUMENT_LIMIT, again: str) -> str:
    """The blocks joined, as many as fit in ``limit`` characters, then a note that says how
    many were left out and which command shows everything (``again``, already Markdown)."""
    joined = "\n\n".join(blocks)
    if len(joined) <= limit:
        return joined
    kept: list[str] = []
    size = 0
    for index, block in enumerate(blocks):
        note = (
            f"> [!WARNING]\n> Truncated to fit a comment ({limit:,} characters): "
            f"{plural(len(blocks) - index, 'section')} not shown. {again} shows everything."
        )
        extra = len(block) + 2
        if size + extra + len(note) + 2 > limit:
            kept.append(note)
            break
        kept.append(block)
        size += extra
    return "\n\n".join(kept)[:limit]


def join_comment(documents: Sequence[str], *, limit: int = COMMENT_LIMIT) -> str:
    """The pull-request comment: the marker, then the documents (each already cut to fit by
    its renderer) separated by rules; one that would pass ``limit`` is replaced by a note, so
    no code block or table is cut in the middle."""
    body = COMMENT_MARKER
    for index, document in enumerate(documents):
        piece = document.strip()
        joiner = "\n" if index == 0 else "\n\n---\n\n"
        if len(body) + len(joiner) + len(piece) > limit:
            piece = (
                f"> [!WARNING]\n> One more report ({len(piece):,} characters) did not fit in"
                " this comment: the job's log has it."
            )
            if len(body) + len(joiner) + len(piece) > limit:
                break
        body += joiner + piece
    return body + "\n"


# --------------------------------------------------------------------------- verify and lint


def _counts(report: Report) -> str:
    parts = [
        plural(report.count(sev), name)
        for sev, name in (
            (Severity.ERROR, "error"),
            (Severity.WARNING, "warning"),
            (Severity.INFO, "info"),
        )
        if report.count(sev)
    ]
    return ", ".join(parts) or "no findings"


def render_markdown(report: Report, *, title: str, again: str) -> str:
    """A command's report (verify's: checks, the release-compatibility result) as Markdown."""
    status = "✅ passed" if report.ok else "❌ failed"
    blocks = [f"### {text(title)}: {status}", f"{_counts(report).capitalize()}."]
    if report.notes:
        blocks.append("\n".join(f"- {prose(note.strip())}" for note in report.notes))
    compat = [f for f in report.findings if f.rule == "breaks-previous-release"]
    others = [f for f in report.findings if f.rule != "breaks-previous-release"]
    checked = report.facts.get("compat")
    if checked is not None or compat:
        label = checked.get("with") if isinstance(checked, dict) else None
        blocks.append(f"#### Release compatibility{f' with {code(label)}' if label else ''}")
        if compat:
            blocks.append(findings_table(compat))
        elif isinstance(checked, dict) and not checked.get("ran"):
            blocks.append("Not checked (see the notes above).")
        else:
            blocks.append("Nothing breaks: the previous release works against the new schema.")
    if others:
        blocks.append("#### Findings")
        blocks.append(findings_table(others))
    return fit(blocks, again=again)


def render_lint_markdown(report: Report, *, again: str) -> str:
    """Lint's findings as Markdown: a summary line, then one table per file."""
    files = int(report.facts.get("files", 0))
    status = "✅ passed" if not report.fails(Severity.ERROR) else "❌ failed"
    blocks = [
        f"### flask-safemigrate lint: {status}",
        f"{plural(files, 'file')} checked: {_counts(report)}.",
    ]
    groups: dict[str, list[Finding]] = {}
    for finding in report.findings:
        groups.setdefault(finding.path or "(no file)", []).append(finding)
    for path in sorted(groups):
        blocks.append(f"#### {code(path)}")
        blocks.append(findings_table(groups[path]))
    return fit(blocks, again=again)
