"""``docs/rules.md``, generated from the rules' docstrings (never written twice).

``python -m flask_safemigrate.lint.docs`` rewrites ``docs/rules.md``; with ``--check`` it only
says whether the file is up to date (exit 1 when it is stale), for CI and the test suite. This
module renders and compares; the entry point's arguments and messages live at the CLI edge
(:func:`flask_safemigrate.console.rules_doc_main`, run by ``lint/docs/__main__.py``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from flask_safemigrate.lint.model import ALL_DIALECTS, Rule, rule_docs
from flask_safemigrate.lint.registry import all_rules
from flask_safemigrate.lint.suppressions import UNUSED_IGNORE_CODE
from flask_safemigrate.report import RuleInfo, Severity

DEFAULT_OUTPUT = Path("docs") / "rules.md"
FIX_COMMAND = "python -m flask_safemigrate.lint.docs"

_HEADING = re.compile(r"^(#{1,6})(\s)")
_FAMILIES = (
    ("1", "destructive"),
    ("2", "locking and zero-downtime"),
    ("3", "correctness, reversibility and idempotency"),
    ("4", "conventions"),
    ("5", "history graph"),
)

# The engine's own finding (``report-unused-ignores``): not a registered rule, but SARIF
# consumers still want a description for it.
UNUSED_IGNORE = RuleInfo(
    code=UNUSED_IGNORE_CODE,
    name="unused-ignore",
    summary="A `# safemigrate: ignore` comment silences nothing.",
    help_markdown=(
        "A `# safemigrate: ignore` comment silences nothing.\n\n"
        "## What it does\n"
        "With `report-unused-ignores = true`, reports suppression comments that no finding "
        "matched.\n\n"
        "## Why it matters\n"
        "A stale suppression hides the next real problem on that line.\n\n"
        "## Use instead\n"
        "Remove the comment, or name the rule it was meant for."
    ),
    default_severity=Severity.WARNING,
)


def summary(rule: type[Rule]) -> str:
    """The first line of the rule's docstring."""
    docs = rule_docs(rule)
    return docs.splitlines()[0].strip() if docs else ""


def rule_info(rule: type[Rule]) -> RuleInfo:
    """What the SARIF renderer needs to describe ``rule``."""
    return RuleInfo(
        code=rule.code,
        name=rule.name,
        summary=summary(rule),
        help_markdown=rule_docs(rule),
        default_severity=rule.severity,
        help_uri=None,
    )


def rule_infos(rules: Sequence[type[Rule]] | None = None) -> list[RuleInfo]:
    """:func:`rule_info` of every rule (all registered ones by default) plus ``unused-ignore``."""
    chosen = all_rules() if rules is None else list(rules)
    return [*(rule_info(rule) for rule in chosen), UNUSED_IGNORE]


def dialects(rule: type[Rule]) -> str:
    """``all`` or the sorted dialect names the rule fires for."""
    if rule.dialects >= ALL_DIALECTS:
        return "all"
    return ", ".join(sorted(rule.dialects))


def anchor(rule: type[Rule]) -> str:
    """The GitHub anchor of the rule's ``## SMnnn name`` heading."""
    return f"{rule.code.lower()}-{rule.name}"


def demote_headings(markdown: str) -> str:
    """Push every heading outside code fences one level down, to at least ``###``."""
    out: list[str] = []
    fence: str | None = None
    for line in markdown.splitlines():
        stripped = line.lstrip()
        if fence is None and stripped.startswith(("```", "~~~")):
            fence = stripped[:3]
        elif fence is not None and stripped.startswith(fence):
            fence = None
        elif fence is None and (match := _HEADING.match(line)):
            level = max(len(match.group(1)) + 1, 3)
            line = "#" * level + line[len(match.group(1)) :]
        out.append(line)
    return "\n".join(out)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render_rule(rule: type[Rule]) -> str:
    """One rule's section: heading, metadata line, then its docstring."""
    metadata = (
        f"**Default severity:** {rule.severity} · **Dialects:** {dialects(rule)} · "
        f"**On by default:** {'yes' if rule.default_enabled else 'no'}"
    )
    parts = [f"## {rule.code} {rule.name}", metadata]
    docs = rule_docs(rule)
    if docs:
        parts.append(demote_headings(docs))
    return "\n\n".join(parts)


def render_rules_markdown(rules: Sequence[type[Rule]] | None = None) -> str:
    """The whole of ``docs/rules.md``: a title, an index table, one section per rule."""
    chosen = all_rules() if rules is None else list(rules)
    lines = [
        "# Lint rules",
        "",
        "<!-- Generated from the rules' docstrings by "
        f"`{FIX_COMMAND}`; edit the docstrings, not this file. -->",
        "",
        "`flask db lint` and `safemigrate lint` check migration scripts statically: the scripts "
        "are parsed, never imported, and no database is needed. Select rules by code, code "
        "prefix (`SM1`) or name with `--select`/`--ignore` or `[tool.safemigrate.lint]`; "
        "silence one finding with `# safemigrate: ignore[rule-name] -- reason`.",
        "",
        "Codes by family: "
        + ", ".join(f"`SM{digit}xx` {family}" for digit, family in _FAMILIES)
        + ".",
        "",
        "| Code | Name | Default severity | Dialects | On by default |",
        "|---|---|---|---|---|",
    ]
    for rule in chosen:
        lines.append(
            f"| [{rule.code}](#{anchor(rule)}) | `{rule.name}` | {rule.severity} "
            f"| {_cell(dialects(rule))} | {'yes' if rule.default_enabled else 'no'} |"
        )
    sections = [render_rule(rule) for rule in chosen]
    return "\n".join(lines) + "\n\n" + "\n\n".join(sections) + "\n"


def rules_doc_state(output: Path, text: str) -> Literal["current", "missing", "stale"]:
    """Whether ``output`` already holds ``text`` (the generated page)."""
    try:
        current = output.read_text(encoding="utf-8")
    except OSError:
        return "missing"
    return "current" if current == text else "stale"


def write_rules_doc(output: Path, text: str) -> None:
    """Write the generated page (``\\n`` line ends on every platform, so the diff stays quiet)."""
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8", newline="\n")
