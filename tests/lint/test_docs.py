"""``docs/rules.md`` is generated from the rules' docstrings and kept in step with them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from flask_safemigrate.console import rules_doc_main as main
from flask_safemigrate.lint.docs import (
    FIX_COMMAND,
    demote_headings,
    render_rules_markdown,
    rule_info,
)
from flask_safemigrate.lint.engine import Rule, rule_docs
from flask_safemigrate.lint.registry import all_rules
from flask_safemigrate.report import Severity

ROOT = Path(__file__).resolve().parents[2]
RULES_MD = ROOT / "docs" / "rules.md"


class _Example(Rule):
    """Does one thing.

    ## What it does
    Something.

    ## Example
    ```python
    ## a comment in code, not a heading
    op.drop_table("users")
    ```

    ## Use instead
    Nothing.
    """

    code = "SM499"
    name = "example-rule"
    severity = Severity.WARNING
    dialects = frozenset({"postgresql", "mysql"})
    default_enabled = False
    fix = "do the other thing"


def test_committed_rules_md_is_current() -> None:
    assert RULES_MD.is_file(), f"docs/rules.md is missing: run `{FIX_COMMAND}`"
    committed = RULES_MD.read_text(encoding="utf-8")
    assert committed == render_rules_markdown(), (
        f"docs/rules.md is stale (a rule or its docstring changed): run `{FIX_COMMAND}`"
    )


def test_every_rule_has_a_section() -> None:
    headings = set(re.findall(r"^## (SM\d{3} [a-z-]+)$", RULES_MD.read_text(), re.MULTILINE))
    missing = [f"{r.code} {r.name}" for r in all_rules() if f"{r.code} {r.name}" not in headings]
    assert not missing, f"no `## SMnnn name` section for {missing}: run `{FIX_COMMAND}`"


def test_rule_section_layout() -> None:
    text = render_rules_markdown([_Example])
    assert text.endswith("\n") and not text.endswith("\n\n")
    assert (
        "| [SM499](#sm499-example-rule) | `example-rule` | warning | mysql, postgresql | no |"
        in text.splitlines()
    )
    section = text[text.index("## SM499 example-rule") :]
    assert section.splitlines()[:5] == [
        "## SM499 example-rule",
        "",
        "**Default severity:** warning · **Dialects:** mysql, postgresql · **On by default:** no",
        "",
        "Does one thing.",
    ]
    assert "### What it does" in section and "\n## What it does" not in section
    assert "## a comment in code, not a heading" in section.splitlines()


def test_demote_headings_keeps_code_fences() -> None:
    source = "# Top\n## Sec\n```\n## code\n```\n#### Deep\n#not-a-heading"
    assert demote_headings(source).splitlines() == [
        "### Top",
        "### Sec",
        "```",
        "## code",
        "```",
        "##### Deep",
        "#not-a-heading",
    ]


def test_rule_info() -> None:
    info = rule_info(_Example)
    assert (info.code, info.name, info.default_severity) == ("SM499", "example-rule", "warning")
    assert info.summary == "Does one thing."
    assert info.help_markdown == rule_docs(_Example)
    assert info.help_markdown.startswith("Does one thing.\n\n## What it does")


def test_main_writes_and_checks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "docs" / "rules.md"
    assert main(["--check", "--output", str(target)]) == 1
    assert FIX_COMMAND in capsys.readouterr().err
    assert main(["--output", str(target)]) == 0
    assert target.read_text(encoding="utf-8") == render_rules_markdown()
    assert main(["--check", "--output", str(target)]) == 0
    target.write_text("# old\n", encoding="utf-8")
    assert main(["--check", "--output", str(target)]) == 1
    err = capsys.readouterr().err
    assert "stale" in err and FIX_COMMAND in err
    assert target.read_text(encoding="utf-8") == "# old\n", "--check never writes"
