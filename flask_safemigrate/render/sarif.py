"""SARIF 2.1.0: the report as a log for GitHub code scanning and other viewers."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from flask_safemigrate.render.github import posix_path
from flask_safemigrate.report import Finding, Report, RuleInfo, Severity
from flask_safemigrate.version import __version__

__all__ = ["SARIF_SCHEMA", "SARIF_VERSION", "TOOL_INFORMATION_URI", "TOOL_NAME", "render_sarif"]

SARIF_SCHEMA = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
SARIF_VERSION = "2.1.0"
TOOL_NAME = "flask-safemigrate"
TOOL_INFORMATION_URI = "https://pypi.org/project/flask-safemigrate/"
_SARIF_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}


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
    return quote(posix_path(path), safe="/"), "%SRCROOT%"


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
