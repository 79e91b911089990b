"""The Markdown plan (issue #21) of a multi-database app: every revision with its statements;
the SQL is left to ``flask db upgrade --sql`` (one file per bind), and the plan says so."""

from __future__ import annotations

from pathlib import Path

from tests.markdown.support import headings, paragraphs
from tests.support.apps import AppTracker
from tests.support.cli import invoke
from tests.support.multidb import Binds, multidb_app


def test_multidb_plan_lists_revisions_and_says_where_the_sql_is(
    binds: Binds, tmp_path: Path, track_app: AppTracker
) -> None:
    app = multidb_app(binds, tmp_path, track_app)
    result = invoke(app, "db", "safe-upgrade", "--dry-run", "--format", "markdown")
    assert result.exit_code == 0, result.output
    document = result.stdout
    (title,) = headings(document, 3)
    assert title.startswith("flask-safemigrate plan: 2 pending revisions (")
    assert len([h for h in headings(document, 4) if h[:1].isdigit()]) == 2
    notes = [p for p in paragraphs(document) if p.startswith("SQL not shown:")]
    assert len(notes) == 2
    assert all("flask db upgrade --sql writes the SQL of each bind" in note for note in notes)
