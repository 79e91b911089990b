"""The CI renderers: GitHub Actions workflow commands and SARIF 2.1.0.

SARIF output is validated against the official OASIS schema, vendored in
``tests/data/sarif-schema-2.1.0.json`` (from oasis-tcs/sarif-spec, ``Schemata/``).
"""

from __future__ import annotations

import copy
import json
import textwrap
from pathlib import Path
from typing import Any

import jsonschema
import pytest

import flask_safemigrate
from flask_safemigrate.lint.docs import UNUSED_IGNORE, rule_infos
from flask_safemigrate.lint.engine import LintConfig, lint
from flask_safemigrate.render import render_github, render_sarif
from flask_safemigrate.report import Finding, Report, RuleInfo, Severity

SCHEMA_PATH = Path(__file__).parent / "data" / "sarif-schema-2.1.0.json"

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
RENAME = Finding(
    rule="rename-column",
    severity=Severity.WARNING,
    message="renames a column",
    code="SM104",
    path="migrations/versions/def.py",
    line=3,
)
NAMING = Finding(
    rule="index-naming",
    severity=Severity.INFO,
    message="index name does not follow the convention",
    code="SM401",
    path="migrations/versions/ghi.py",
)
HEADS = Finding(
    rule="multiple-heads",
    severity=Severity.WARNING,
    message="the revision graph has 2 heads: a1, b2",
    help="run `flask db merge heads`",
)
UNUSED = Finding(
    rule="unused-ignore",
    severity=Severity.WARNING,
    message="this suppression comment silences nothing",
    code="SM900",
    path="migrations/versions/abc.py",
    line=4,
    col=1,
)
DROP_INFO = RuleInfo(
    code="SM102",
    name="drop-column",
    summary="Dropping a column the running app may still read.",
    help_markdown=(
        "Dropping a column the running app may still read.\n\n"
        "## What it does\nFinds `op.drop_column`.\n\n"
        "## Why it matters\nOld app servers still select it.\n\n"
        "## Example\n```python\nop.drop_column('users', 'email')\n```\n\n"
        "## Use instead\nStop reading it first."
    ),
    default_severity=Severity.ERROR,
    help_uri="https://example.invalid/rules#sm102-drop-column",
)


@pytest.fixture(scope="module")
def validator() -> jsonschema.protocols.Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def sarif(report: Report, rules: list[RuleInfo], validator: Any) -> dict[str, Any]:
    """Render, validate against the official schema, and return the parsed log."""
    data: dict[str, Any] = json.loads(render_sarif(report, rules))
    errors = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)
    return data


# --------------------------------------------------------------------------- GitHub


def test_github_one_command_per_finding_with_levels() -> None:
    out = render_github(Report("lint", [DROP, RENAME, NAMING]))
    assert out.splitlines() == [
        "::error file=migrations/versions/abc.py,line=12,col=8,title=SM102 drop-column"
        "::drops users.email, which the app may still read"
        " (help: stop reading the column in a release first, then drop it)",
        "::warning file=migrations/versions/def.py,line=3,title=SM104 rename-column"
        "::renames a column",
        "::notice file=migrations/versions/ghi.py,title=SM401 index-naming"
        "::index name does not follow the convention",
    ]


def test_github_escapes_data_and_properties() -> None:
    finding = Finding(
        rule="odd",
        severity=Severity.ERROR,
        message="100% broken\r\nsecond line: a, b",
        code="SM399",
        path="C:dir,x/100%.py",
        line=1,
        col=2,
        help="see\nthis",
    )
    out = render_github(Report("lint", [finding]))
    assert "\n" not in out and "\r" not in out
    assert out == (
        "::error file=C%3Adir%2Cx/100%25.py,line=1,col=2,title=SM399 odd"
        "::100%25 broken%0D%0Asecond line: a, b (help: see%0Athis)"
    )


def test_github_title_property_is_escaped() -> None:
    finding = Finding(rule="a,b:c", severity=Severity.INFO, message="m")
    assert render_github(Report("verify", [finding])) == "::notice title=a%2Cb%3Ac::m"


def test_github_without_path_omits_file_and_line() -> None:
    out = render_github(Report("verify", [HEADS]))
    assert out == (
        "::warning title=multiple-heads"
        "::the revision graph has 2 heads: a1, b2 (help: run `flask db merge heads`)"
    )
    assert "file=" not in out and "line=" not in out


def test_github_empty_report_prints_nothing() -> None:
    assert render_github(Report("lint")) == ""


# --------------------------------------------------------------------------- SARIF


def test_sarif_is_valid_and_describes_the_tool(validator: Any) -> None:
    data = sarif(Report("lint", [DROP]), [DROP_INFO], validator)
    assert data["version"] == "2.1.0"
    assert data["$schema"].endswith("sarif-schema-2.1.0.json")
    (run,) = data["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "flask-safemigrate"
    assert driver["version"] == flask_safemigrate.__version__
    assert driver["informationUri"].startswith("https://")
    assert driver["rules"] == [
        {
            "id": "SM102",
            "name": "drop-column",
            "shortDescription": {"text": "Dropping a column the running app may still read."},
            "fullDescription": {"text": "Finds `op.drop_column`."},
            "help": {"text": DROP_INFO.help_markdown, "markdown": DROP_INFO.help_markdown},
            "defaultConfiguration": {"level": "error"},
            "helpUri": "https://example.invalid/rules#sm102-drop-column",
        }
    ]


def test_sarif_results_levels_locations_and_rule_index(validator: Any) -> None:
    report = Report("lint", [DROP, RENAME, NAMING])
    infos = [
        RuleInfo("SM104", "rename-column", "Renames.", "Renames.", Severity.WARNING),
        DROP_INFO,
    ]
    data = sarif(report, infos, validator)
    run = data["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    results = run["results"]
    assert [r["level"] for r in results] == ["error", "warning", "note"]
    for result in results:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
    assert results[0]["message"]["text"] == (
        "drops users.email, which the app may still read"
        " (help: stop reading the column in a release first, then drop it)"
    )
    assert results[0]["locations"] == [
        {
            "physicalLocation": {
                "artifactLocation": {"uri": "migrations/versions/abc.py", "uriBaseId": "%SRCROOT%"},
                "region": {"startLine": 12, "startColumn": 8},
            }
        }
    ]
    # Only what is known: no column, then no region at all.
    assert results[1]["locations"][0]["physicalLocation"]["region"] == {"startLine": 3}
    assert "region" not in results[2]["locations"][0]["physicalLocation"]
    # SM401 was not among the rules given: it gets an entry of its own.
    assert rules[results[2]["ruleIndex"]] == {
        "id": "SM401",
        "name": "index-naming",
        "defaultConfiguration": {"level": "note"},
    }


def test_sarif_findings_outside_the_rules_and_without_location(validator: Any) -> None:
    report = Report("lint", [UNUSED, HEADS, UNUSED])
    data = sarif(report, [DROP_INFO], validator)
    run = data["runs"][0]
    ids = [rule["id"] for rule in run["tool"]["driver"]["rules"]]
    assert ids == ["SM102", "SM900", "multiple-heads"], "one entry per unknown rule"
    first, heads, again = run["results"]
    assert first["ruleIndex"] == again["ruleIndex"] == 1
    assert heads["ruleId"] == "multiple-heads" and heads["ruleIndex"] == 2
    assert "locations" not in heads


def test_sarif_unused_ignore_is_described_by_rule_infos(validator: Any) -> None:
    data = sarif(Report("lint", [UNUSED]), [UNUSED_IGNORE], validator)
    rules = data["runs"][0]["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == ["SM900"]
    assert rules[0]["shortDescription"]["text"] == UNUSED_IGNORE.summary


def test_sarif_paths_become_uris(validator: Any, tmp_path: Path) -> None:
    spaced = Finding(
        rule="r", severity=Severity.ERROR, message="m", path="my migrations/versions/a b.py"
    )
    absolute = Finding(rule="r", severity=Severity.ERROR, message="m", path=str(tmp_path / "x.py"))
    data = sarif(Report("lint", [spaced, absolute]), [], validator)
    first, second = (r["locations"][0]["physicalLocation"] for r in data["runs"][0]["results"])
    assert first["artifactLocation"] == {
        "uri": "my%20migrations/versions/a%20b.py",
        "uriBaseId": "%SRCROOT%",
    }
    assert second["artifactLocation"] == {"uri": (tmp_path / "x.py").as_uri()}


def test_sarif_bad_positions_are_left_out(validator: Any) -> None:
    zero = Finding(rule="r", severity=Severity.ERROR, message="m", path="a.py", line=0, col=0)
    data = sarif(Report("lint", [zero]), [], validator)
    assert "region" not in data["runs"][0]["results"][0]["locations"][0]["physicalLocation"]


def test_sarif_empty_report(validator: Any) -> None:
    data = sarif(Report("lint"), [DROP_INFO], validator)
    assert data["runs"][0]["results"] == []


def test_schema_rejects_what_sarif_forbids(validator: Any) -> None:
    """The validation is real: a region with line 0 and a result without message fail."""
    data = json.loads(render_sarif(Report("lint", [DROP]), [DROP_INFO]))
    bad = copy.deepcopy(data)
    bad["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"]["startLine"] = 0
    assert not validator.is_valid(bad)
    bad = copy.deepcopy(data)
    del bad["runs"][0]["results"][0]["message"]
    assert not validator.is_valid(bad)
    bad = copy.deepcopy(data)
    bad["version"] = "2.0.0"
    assert not validator.is_valid(bad)


def test_sarif_of_a_real_lint_run(validator: Any, tmp_path: Path) -> None:
    """Every registered rule's docs, and what the engine reports, make a valid log."""
    versions = tmp_path / "versions"
    versions.mkdir()
    for rev in ("b1", "b2"):
        (versions / f"{rev}_x.py").write_text(
            textwrap.dedent(
                f'''\
                """x"""
                revision = "{rev}"
                down_revision = None


                def upgrade():
                    pass  # safemigrate: ignore[drop-column]


                def downgrade():
                    pass
                '''
            )
        )
    (versions / "broken.py").write_text("def upgrade(:\n")
    report = lint([versions], LintConfig(report_unused_ignores=True))
    codes = {f.code for f in report.findings}
    assert {"SM313", "SM501", "SM900"} <= codes
    data = sarif(report, rule_infos(), validator)
    run = data["runs"][0]
    assert len(run["results"]) == len(report.findings)
    rules = run["tool"]["driver"]["rules"]
    assert {"SM313", "SM501", "SM900"} <= {r["id"] for r in rules}
    assert len(rules) == len(rule_infos()), "every finding's rule was among rule_infos()"
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
