"""Report data and its renderers: the JSON shapes (docs/architecture.md) and readable text."""

from __future__ import annotations

import io
import json

from flask_safemigrate.render import render_json, render_lint_text, render_text, should_color
from flask_safemigrate.report import Finding, Report, Severity

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
    assert set(data) == {"schema_version", "findings", "summary"}
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
        "migrations/versions/abc.py:12:8: error SM102 [drop-column] "
        "drops users.email, which the app may still read"
    )
    assert lines[1] == "  help: stop reading the column in a release first, then drop it"
    assert lines[2] == "warning[multiple-heads]: the revision graph has 2 heads: a1, b2"
    assert lines[3] == "  where: migrations/versions"
    assert lines[-1] == "Found 2 problems (1 error, 1 warning)."
    assert "\x1b[" not in text


def test_text_with_colour_and_clean_summary() -> None:
    assert "\x1b[31merror SM102" in render_text(Report("lint", [DROP]), color=True)
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


def _lint_finding(path: str, line: int | None, code: str, rule: str, severity: Severity) -> Finding:
    return Finding(
        rule=rule,
        severity=severity,
        message=f"{rule} here",
        code=code,
        path=path,
        line=line,
        col=None if line is None else 5,
    )


def test_lint_text_groups_by_file_with_severity_on_every_line() -> None:
    findings = [
        _lint_finding("m/versions/b.py", 30, "SM302", "missing-existence-check", Severity.WARNING),
        DROP,
        _lint_finding("m/versions/b.py", 9, "SM102", "drop-column", Severity.ERROR),
        _lint_finding("m/versions/a.py", 100, "SM401", "index-naming", Severity.INFO),
        _lint_finding("m/versions/b.py", 9, "SM302", "missing-existence-check", Severity.WARNING),
        _lint_finding("m/versions/a.py", None, "SM501", "multiple-heads", Severity.WARNING),
    ]
    text = render_lint_text(Report("lint", findings))
    assert text.splitlines() == [
        "m/versions/a.py",
        "        warning SM501 [multiple-heads] multiple-heads here",
        "  100:5 info    SM401 [index-naming] index-naming here",
        "m/versions/b.py",
        "  9:5  error   SM102 [drop-column] drop-column here",
        "  9:5  warning SM302 [missing-existence-check] missing-existence-check here",
        "  30:5 warning SM302 [missing-existence-check] missing-existence-check here",
        "migrations/versions/abc.py",
        "  12:8 error   SM102 [drop-column] drops users.email, which the app may still read",
        "    help: stop reading the column in a release first, then drop it",
        "Found 6 problems in 3 files: 2 errors, 3 warnings, 1 info"
        " (SM102 x2, SM302 x2, SM401 x1, SM501 x1).",
    ]
    # The order is the findings', not the order they came in.
    assert render_lint_text(Report("lint", findings[::-1])) == text
    assert "\x1b[" not in text


def test_lint_text_colour_and_an_escaped_path() -> None:
    coloured = render_lint_text(Report("lint", [DROP]), color=True)
    assert "\x1b[31merror  \x1b[0m" in coloured and "\x1b[31mSM102\x1b[0m" in coloured
    forged = Finding(
        rule="drop-column",
        severity=Severity.ERROR,
        message="x\n::error::forged",
        code="SM102",
        path="m/\x1b[2Jb.py",
        line=1,
    )
    lines = render_lint_text(Report("lint", [forged])).splitlines()
    assert len(lines) == 3
    assert "\x1b" not in "".join(lines)
    assert lines[1].startswith("  1 error   SM102 [drop-column] x")


def test_lint_summary_with_a_baseline() -> None:
    facts = {"baseline": {"file": "b.json", "suppressed": 1, "stale": 0}}
    assert render_lint_text(Report("lint", facts=facts)).splitlines() == [
        "All checks passed.",
        "Baseline b.json: 1 recorded finding not shown.",
    ]
    quiet = {"baseline": {"file": "b.json", "suppressed": 0, "stale": 0}}
    assert render_lint_text(Report("lint", facts=quiet)).splitlines() == ["All checks passed."]
    facts = {"baseline": {"file": "b.json", "suppressed": 0, "stale": 1}}
    assert render_lint_text(Report("lint", [DROP], facts=facts)).splitlines()[-1] == (
        "Baseline b.json: 0 recorded findings not shown; 1 entry matches nothing any more"
        " (fixed or removed): once the findings above are fixed, --write-baseline b.json"
        " prunes it."
    )  # rewriting the baseline now would record the new finding too
    data = json.loads(render_json(Report("lint", [DROP], facts={"files": 1, **facts})))
    assert data["summary"]["baseline"] == {"file": "b.json", "suppressed": 0, "stale": 1}
    assert "baseline" not in json.loads(render_json(Report("lint", [DROP])))["summary"]
