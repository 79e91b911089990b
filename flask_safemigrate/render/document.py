"""``--format json``: exactly one JSON object on stdout."""

from __future__ import annotations

import json

from flask_safemigrate.report import Report

__all__ = ["render_json"]


def render_json(report: Report) -> str:
    """One JSON object, nothing else: what ``--format json`` writes to stdout."""
    return json.dumps(report.to_dict(), indent=2, default=str)
