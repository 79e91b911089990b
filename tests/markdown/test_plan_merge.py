"""The Markdown plan of a history with a merge: each revision's SQL is its own, the merge's
included (rendered from one parent, Alembic would write the other branch too)."""

from __future__ import annotations

from tests.markdown.support import code_blocks, headings
from tests.support.apps import MakeApp, init_migrations
from tests.support.cli import invoke
from tests.support.merge import rev


def test_merge_revision_sql_is_only_its_own(database_url: str, make_app: MakeApp) -> None:
    app = make_app(database_url)
    migrations = init_migrations(app)
    rev(
        migrations,
        "aaaa00000001",
        None,
        'op.create_table("t", sa.Column("id", sa.Integer, primary_key=True))',
        message="t",
    )
    rev(
        migrations,
        "bbbb00000002",
        "aaaa00000001",
        'op.add_column("t", sa.Column("left_col", sa.Integer))',
        message="left",
    )
    rev(
        migrations,
        "cccc00000003",
        "aaaa00000001",
        'op.add_column("t", sa.Column("right_col", sa.Integer))',
        message="right",
    )
    rev(
        migrations,
        "dddd00000004",
        ["bbbb00000002", "cccc00000003"],
        'op.execute("UPDATE t SET left_col = right_col")',
        message="merge",
    )
    result = invoke(app, "db", "safe-upgrade", "--dry-run", "--format", "markdown")
    assert result.exit_code == 0, result.output
    document = result.stdout
    numbered = [h for h in headings(document, 4) if h[:1].isdigit()]
    assert len(numbered) == 4 and numbered[-1] == "4. dddd00000004 merge"
    blocks = [content for info, content in code_blocks(document) if info == "sql"]
    assert len(blocks) == 4
    by_revision = {
        rev_id: next(b for b in blocks if f"-> {rev_id}" in b and b.count("Running upgrade") == 1)
        for rev_id in ("aaaa00000001", "bbbb00000002", "cccc00000003", "dddd00000004")
    }
    assert "CREATE TABLE t" in by_revision["aaaa00000001"]
    merge = by_revision["dddd00000004"]
    assert "UPDATE t SET left_col = right_col" in merge
    assert "left_col INTEGER" not in merge and "right_col INTEGER" not in merge
