"""The rule registry: one module per family, one class per rule.

Codes by family (DESIGN.md): 1xx destructive, 2xx locking and zero-downtime, 3xx correctness,
reversibility and idempotency, 4xx conventions, 5xx history graph.
"""

from __future__ import annotations

from flask_safemigrate.lint.engine import Rule

_REGISTRY: list[type[Rule]] = []


def register(rule: type[Rule]) -> type[Rule]:
    """Class decorator adding a rule to the registry; codes and names must be unique."""
    for other in _REGISTRY:
        if other.code == rule.code or other.name == rule.name:
            raise ValueError(f"{rule.__name__} reuses the code or name of {other.__name__}")
    _REGISTRY.append(rule)
    return rule


def all_rules() -> list[type[Rule]]:
    """Every registered rule, ordered by code."""
    return sorted(_REGISTRY, key=lambda r: r.code)


def get_rule(selector: str) -> type[Rule] | None:
    """A rule by name or exact code."""
    for rule in _REGISTRY:
        if selector in (rule.name, rule.code) or selector.upper() == rule.code:
            return rule
    return None


# The family modules register their rules on import.
from flask_safemigrate.lint.rules import (  # noqa: E402
    conventions,
    correctness,
    destructive,
    history_graph,
    locking,
)
from flask_safemigrate.lint.rules.correctness import UnparseableScript  # noqa: E402

__all__ = [
    "UnparseableScript",
    "all_rules",
    "conventions",
    "correctness",
    "destructive",
    "get_rule",
    "history_graph",
    "locking",
    "register",
]
