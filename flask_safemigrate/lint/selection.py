"""Which rules a run uses, and at which severity: ``select``, ``ignore`` and ``severity``.

A selector is a rule name, a code, or a code prefix (``SM1``); an unknown one is a
configuration error, so a typo never silently turns a rule off.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence

from flask_safemigrate.errors import ConfigError
from flask_safemigrate.lint.model import LintConfig, Rule
from flask_safemigrate.report import Severity


def rule_matches(rule: type[Rule], selector: str) -> bool:
    """A selector is a rule name, a code, or a code prefix such as ``SM1``."""
    return selector == rule.name or rule.code.startswith(selector.upper())


def validate_selectors(selectors: Iterable[str], rules: Sequence[type[Rule]]) -> None:
    for selector in selectors:
        if selector.upper() != "ALL" and not any(rule_matches(r, selector) for r in rules):
            names = [r.name for r in rules]
            close = difflib.get_close_matches(selector.lower(), names, n=3, cutoff=0.8)
            raise ConfigError(
                f"unknown lint rule {selector!r}",
                hint=(f"did you mean {' or '.join(close)}? " if close else "")
                + "use a rule name such as drop-column or a code such as SM102;"
                " `flask db lint --explain RULE` describes one",
            )


def select_rules(config: LintConfig, rules: Sequence[type[Rule]]) -> list[type[Rule]]:
    """The rules to run: ``select`` (or the defaults) minus ``ignore``."""
    validate_selectors((*(config.select or ()), *config.ignore, *config.severity), rules)
    chosen = []
    for rule in rules:
        if config.select is None:
            selected = rule.default_enabled
        else:
            selected = any(s.upper() == "ALL" or rule_matches(rule, s) for s in config.select)
        ignored = any(rule_matches(rule, s) for s in config.ignore)
        if selected and not ignored and rule.dialects & config.dialects:
            chosen.append(rule)
    return chosen


def severity_of(rule: type[Rule], config: LintConfig) -> Severity:
    """The rule's severity in this run: the first ``severity`` selector that matches it."""
    for selector, severity in config.severity.items():
        if rule_matches(rule, selector):
            return severity
    return rule.severity
