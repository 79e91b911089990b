"""The corpus benchmark's own logic: triage file validity and finding ids that stay put.

The benchmark itself downloads wheels and is run by hand; these tests need no network.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from benchmarks import corpus, corpus_releases
from flask_safemigrate.lint import config_from, lint
from flask_safemigrate.report import Severity

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


def ids_of(versions: Path, drop_first: bool = False) -> list[str]:
    report = lint([versions], config_from({"dialect": "postgresql"}), jobs=1)
    findings = [f for f in report.findings if f.rule == "drop-column"]
    if drop_first:  # as if lint stopped reporting the first one
        findings = findings[1:]
    return [key for key, _, _ in corpus.finding_ids("demo", versions, findings)]


def test_an_id_is_the_place_and_does_not_move_when_another_finding_goes(tmp_path: Path) -> None:
    """Two identical lines are two places; when lint stops reporting the first, the second
    keeps its id (the hash-and-occurrence ids renamed it to the first's, and its verdict
    with it)."""
    versions = tmp_path / "versions"
    versions.mkdir()
    (versions / "a1_drop.py").write_text(SCRIPT, encoding="utf-8")
    both = ids_of(versions)
    assert both == ["demo:a1_drop.py:drop-column:9:5#0", "demo:a1_drop.py:drop-column:10:5#0"]
    assert ids_of(versions, drop_first=True) == both[1:]


def test_findings_at_one_place_are_ranked_by_message(tmp_path: Path) -> None:
    """A loop over literals reports its statement once per item: one place, ranked by message,
    whatever order the rule reported them in."""
    versions = tmp_path / "versions"
    versions.mkdir()
    looped = SCRIPT.replace(
        '    op.drop_column("users", "nickname")\n    op.drop_column("users", "nickname")\n',
        '    for table in ("b_users", "a_users"):\n        op.drop_column(table, "nickname")\n',
    )
    (versions / "a1_drop.py").write_text(looped, encoding="utf-8")
    report = lint([versions], config_from({"dialect": "postgresql"}), jobs=1)
    found = [f for f in report.findings if f.rule == "drop-column"]
    ids = {
        finding.message.split()[2]: key
        for key, finding, _ in corpus.finding_ids("demo", versions, reversed(found))
    }
    assert ids == {
        "a_users.nickname,": "demo:a1_drop.py:drop-column:10:9#0",
        "b_users.nickname,": "demo:a1_drop.py:drop-column:10:9#1",
    }


def test_committed_triage_is_valid() -> None:
    verdicts = corpus.load_triage(corpus.TRIAGE)
    names = {history.name for history in corpus.HISTORIES}
    for key, verdict in verdicts.items():
        assert key.split(":", 1)[0] in names, key
        assert re.fullmatch(r"[^:]+:[^:]+:[a-z0-9-]+:(\d+|-):(\d+|-)#\d+", key), key
        assert verdict.dialects, key  # the dialects it was read on
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


def test_a_verdict_covers_only_the_dialects_it_was_read_on() -> None:
    """A finding that now reaches a dialect its reader did not judge (a branch lint now reads
    for it) is unread again rather than counted under the old verdict."""
    seen = corpus.Seen(
        "demo:a.py:drop-column:9:5#0",
        "demo",
        "a.py",
        9,
        "drop-column",
        None,
        "m",
        Severity.ERROR,
        {"postgresql"},
    )
    read_on_pg = corpus.Verdict("FP", "dialect-branch", "r", frozenset({"postgresql"}))
    assert read_on_pg.covers(seen)
    seen.dialects.add("mysql")
    assert not read_on_pg.covers(seen)
    assert corpus.Verdict("TP", "real", "r", frozenset({"postgresql", "mysql"})).covers(seen)


def test_committed_releases_are_valid() -> None:
    """``corpus-releases.toml`` names histories of the benchmark, each fact with a source."""
    releases = corpus_releases.load_releases(
        corpus_releases.RELEASES, [h.name for h in corpus.HISTORIES]
    )
    assert set(releases) == {"airflow", "prefect-postgresql", "prefect-sqlite"}
    assert releases["airflow"]["3a8972ecb8f9"] == "3.0.0"  # 0040_3_0_0_...
    assert releases["prefect-postgresql"]["d9d98a9ebb6f"] == "2.0a13"
    assert len(releases["airflow"]) == 124


def test_releases_without_a_source_or_with_a_revision_twice_stop(tmp_path: Path) -> None:
    path = tmp_path / "releases.toml"
    path.write_text('[[history]]\nname = "optuna"\n', encoding="utf-8")
    with pytest.raises(SystemExit, match="needs a source"):
        corpus_releases.load_releases(path, ["optuna"])
    path.write_text(
        '[[history]]\nname = "optuna"\nsource = "s"\n'
        '[[history.release]]\nname = "1"\nrevisions = ["a"]\n'
        '[[history.release]]\nname = "2"\nrevisions = ["a"]\n',
        encoding="utf-8",
    )
    with pytest.raises(SystemExit, match="listed once"):
        corpus_releases.load_releases(path, ["optuna"])
    with pytest.raises(SystemExit, match="not a history"):
        corpus_releases.load_releases(path, ["zenml"])


def test_a_finding_keeps_its_id_when_the_groups_take_an_earlier_rank_away() -> None:
    """A loop over three tables is one place ranked by message: without the first, the
    second is still ``#1`` (not ``#0``, the first's verdict)."""
    without = {"h:a.py:r:1:1#0": "on a", "h:a.py:r:1:1#1": "on b", "h:a.py:r:1:1#2": "on c"}
    grouped = {"h:a.py:r:1:1#0": "on b", "h:a.py:r:1:1#1": "on c"}
    same = corpus_releases.same_ids(without, grouped, lambda message: message)
    assert same == {"h:a.py:r:1:1#1": "on b", "h:a.py:r:1:1#2": "on c"}
    levels = dict.fromkeys(without, "error")
    assert corpus_releases.changed(levels, dict.fromkeys(same, "error")) == [
        ("h:a.py:r:1:1#0", "taken away")
    ]


def test_markdown_table_shows_both_precisions() -> None:
    tally, grouped = corpus.Tally(12, 12, 9, 3), corpus.Tally(10, 10, 9, 1)
    table = corpus.markdown_table(
        {"SM201 x": tally}, tally, grouped=({"SM201 x": grouped}, grouped)
    )
    assert "precision with release groups" in table.splitlines()[0]
    assert "| SM201 `x` | 12 | 9 / 3 | 0 | 75.0% | 9 / 1 | 90.0% |" in table
