"""Suppression comments: ``# safemigrate: ignore[rule] -- reason`` and ``ignore-file``.

A comment silences the findings on its line, or on any line of the statement it sits on (a
long ``op.create_table(...)`` is one statement); ``ignore-file`` silences the whole script.
With ``report-unused-ignores``, a comment that silences nothing is itself a finding, so stale
suppressions do not outlive the code they were written for.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from dataclasses import dataclass
from pathlib import Path

from flask_safemigrate.lint.model import LintConfig
from flask_safemigrate.report import Finding, Severity
from flask_safemigrate.text import display_path

UNUSED_IGNORE_CODE = "SM900"


@dataclass(frozen=True)
class _Suppression:
    line: int
    rules: frozenset[str]  # names or codes; empty = all
    file_level: bool


_SUPPRESS = re.compile(
    r"#\s*safemigrate:\s*(?P<kind>ignore-file|ignore)(?:\[(?P<rules>[^\]]*)\])?"
    r"(?:\s*--\s*(?P<reason>.*))?",
)


def _suppressions(source: str) -> list[_Suppression]:
    out: list[_Suppression] = []
    if "safemigrate:" not in source:
        return out  # no comment can match: skip tokenizing (most scripts)
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, SyntaxError):
        return out
    for token in tokens:
        if token.type != tokenize.COMMENT:
            continue
        match = _SUPPRESS.search(token.string)
        if match is None:
            continue
        rules = frozenset(r.strip() for r in (match.group("rules") or "").split(",") if r.strip())
        out.append(_Suppression(token.start[0], rules, match.group("kind") == "ignore-file"))
    return out


def statement_lines(tree: ast.Module | None) -> dict[int, int]:
    """Map each line to the first line of the innermost statement covering it."""
    lines: dict[int, int] = {}
    if tree is None:
        return lines
    for node in ast.walk(tree):
        if isinstance(node, ast.stmt) and not isinstance(
            node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.With | ast.If
        ):
            for line in range(node.lineno, (node.end_lineno or node.lineno) + 1):
                if line not in lines or lines[line] < node.lineno:
                    lines[line] = node.lineno
    return lines


def apply_suppressions(
    path: Path, source: str, tree: ast.Module, raw: list[Finding], config: LintConfig
) -> tuple[list[Finding], list[Finding]]:
    suppressions = _suppressions(source)
    if not suppressions:
        return raw, []
    stmt_of = statement_lines(tree)
    used: set[_Suppression] = set()
    kept, silenced = [], []
    for finding in raw:
        line = finding.line or 0
        hit = None
        for s in suppressions:
            on_line = s.file_level or s.line in {line, stmt_of.get(line, line)}
            if on_line and (not s.rules or finding.rule in s.rules or finding.code in s.rules):
                hit = s
                break
        if hit is None:
            kept.append(finding)
        else:
            used.add(hit)
            silenced.append(finding)
    if config.report_unused_ignores:
        kept.extend(
            Finding(
                rule="unused-ignore",
                severity=Severity.WARNING,
                message="this suppression comment silences nothing",
                code=UNUSED_IGNORE_CODE,
                path=display_path(path),
                line=s.line,
                col=1,
                help="remove the comment, or name the rule it was meant for",
            )
            for s in suppressions
            if s not in used
        )
    return kept, silenced
