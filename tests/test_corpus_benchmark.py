"""The corpus benchmark's own logic: triage file validity and fingerprints that survive edits.

The benchmark itself downloads wheels and is run by hand; these tests need no network.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from benchmarks import corpus
from flask_safemigrate.lint import config_from, lint

SCRIPT = '''"""drop a column"""
from alembic import op

revision = "a1"
down_revision = None


def upgrade():
    op.drop_column("users", "nickname")
    op.drop_column("users", "nickname")


def downgrade():
    pass
'''


def fingerprints_of(versions: Path) -> list[str]:
    report = lint([versions], config_from({"dialect": "postgresql"}), jobs=1)
    return [
        key
        for key, _, _ in corpus.fingerprints("demo", versions, report.findings)
        if ":drop-column:" in key
    ]


def test_fingerprint_survives_lines_inserted_above(tmp_path: Path) -> None:
    versions = tmp_path / "versions"
    versions.mkdir()
    script = versions / "a1_drop.py"
    script.write_text(SCRIPT, encoding="utf-8")
    before = fingerprints_of(versions)
    script.write_text(SCRIPT.replace("from alembic", "# a comment\n\nfrom alembic"), "utf-8")
    after = fingerprints_of(versions)
    assert len(before) == 2 and before[0] != before[1]  # two identical lines: #0 and #1
    assert before == after
    assert before[0].startswith("demo:a1_drop.py:drop-column:")


def test_committed_triage_is_valid() -> None:
    verdicts = corpus.load_triage(corpus.TRIAGE)
    names = {history.name for history in corpus.HISTORIES}
    for key, verdict in verdicts.items():
        assert key.split(":", 1)[0] in names, key
        assert re.fullmatch(r"[^:]+:[^:]+:[a-z0-9-]+:[0-9a-f]{10}#\d+", key), key
        assert re.fullmatch(r"[a-z0-9-]+", verdict.cause), (key, verdict.cause)
        assert "\n" not in verdict.reason


def test_triage_rejects_an_entry_without_reason(tmp_path: Path) -> None:
    bad = tmp_path / "triage.toml"
    bad.write_text('[[finding]]\nid = "x:y:z:0123456789#0"\nverdict = "TP"\ncause = "c"\n')
    with pytest.raises(SystemExit, match="needs id, verdict TP or FP, cause and reason"):
        corpus.load_triage(bad)


def test_cache_is_never_inside_the_repository() -> None:
    with pytest.raises(SystemExit, match="inside the repository"):
        corpus.cache_dir(str(corpus.ROOT / "corpus-cache"))


def test_markdown_table_lists_rules_with_enough_errors() -> None:
    busy, quiet, overall = (
        corpus.Tally(12, 12, 9, 3),
        corpus.Tally(4, 4, 4, 0),
        corpus.Tally(16, 16, 13, 3),
    )
    table = corpus.markdown_table({"SM102 drop-column": busy, "SM101 drop-table": quiet}, overall)
    assert "| SM102 `drop-column` | 12 | 9 / 3 | 0 | 75.0% |" in table
    assert "SM101" not in table  # under 10 error findings
    assert table.endswith("| **all** | 16 | 13 / 3 | 0 | 81.2% |")
