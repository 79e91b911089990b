"""Report data and its renderers: the JSON shapes of DESIGN.md and readable text."""

from __future__ import annotations

import io
import json

from flask_safemigrate.report import (
    Finding,
    Report,
    Severity,
    render_json,
    render_text,
    should_color,
)

DROP = Finding(
    rule="drop-column",
    severity=Severity.ERROR,
    message="drops users.email, which the app may still read",
    code="SM102",
    path="migrations/versions/abc.py",
    line=12,
    col=8,
    help="stop reading the column in a release first, then drop it",
)
HEADS = Finding(
    rule="multiple-heads",
    severity=Severity.WARNING,
    message="the revision graph has 2 heads: a1, b2",
    path="migrations/versions",
    help="run `flask db merge heads`",
    extra={"heads": ["a1", "b2"]},
)


def test_severity_order() -> None:
    assert Severity.ERROR > Severity.WARNING > Severity.INFO
    assert Severity.WARNING >= Severity.WARNING
    assert max([Severity.INFO, Severity.ERROR, Severity.WARNING]) is Severity.ERROR


def test_thresholds() -> None:
    report = Report("lint", [HEADS])
    assert report.ok
    assert report.fails(Severity.WARNING)
    assert not report.fails(Severity.ERROR)
    assert Report("verify").worst() is None


def test_lint_json_shape() -> None:
    data = json.loads(render_json(Report("lint", [DROP, HEADS], facts={"files": 3})))
    assert set(data) == {"findings", "summary"}
    assert data["summary"] == {"files": 3, "errors": 1, "warnings": 1, "infos": 0}
    first = data["findings"][0]
    assert {k: first[k] for k in ("code", "rule", "severity", "path", "line", "col")} == {
        "code": "SM102",
        "rule": "drop-column",
        "severity": "error",
        "path": "migrations/versions/abc.py",
        "line": 12,
        "col": 8,
    }
    assert first["message"].startswith("drops users.email")


def test_problems_json_shape() -> None:
    report = Report("verify", [HEADS], facts={"heads": ["a1", "b2"], "current": []})
    data = json.loads(render_json(report))
    assert data["ok"] is True
    assert data["heads"] == ["a1", "b2"]
    assert data["current"] == []
    assert data["problems"] == [
        {
            "check": "multiple-heads",
            "severity": "warning",
            "message": "the revision graph has 2 heads: a1, b2",
            "path": "migrations/versions",
            "help": "run `flask db merge heads`",
            "heads": ["a1", "b2"],
        }
    ]


def test_explicit_ok_fact_wins() -> None:
    data = json.loads(render_json(Report("safe-upgrade", facts={"ok": False, "stage": "lock"})))
    assert data["ok"] is False
    assert data["stage"] == "lock"


def test_text_layout_without_colour() -> None:
    text = render_text(Report("lint", [DROP, HEADS]))
    lines = text.splitlines()
    assert lines[0] == (
        "migrations/versions/abc.py:12:8: SM102 [drop-column] "
        "drops users.email, which the app may still read"
    )
    assert lines[1] == "  help: stop reading the column in a release first, then drop it"
    assert lines[2] == "warning[multiple-heads]: the revision graph has 2 heads: a1, b2"
    assert lines[3] == "  where: migrations/versions"
    assert lines[-1] == "Found 2 problems (1 error, 1 warning)."
    assert "\x1b[" not in text


def test_text_with_colour_and_clean_summary() -> None:
    assert "\x1b[31mSM102" in render_text(Report("lint", [DROP]), color=True)
    assert render_text(Report("verify", notes=["graph: 3 revisions"])).splitlines() == [
        "graph: 3 revisions",
        "All checks passed.",
    ]


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_colour_only_on_a_tty_and_never_with_no_color() -> None:
    assert should_color(_Tty(), {}) is True
    assert should_color(io.StringIO(), {}) is False
    assert should_color(_Tty(), {"NO_COLOR": "1"}) is False
    assert should_color(_Tty(), {"NO_COLOR": ""}) is True
