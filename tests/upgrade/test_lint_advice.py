"""The help of a blocking lint finding, followed to the letter, lets the deploy go on."""

from __future__ import annotations

import re

import sqlalchemy as sa
from flask_sqlalchemy import SQLAlchemy

from tests.support.apps import MakeApp
from tests.support.cli import invoke, invoke_json
from tests.support.databases import nullpool_engine
from tests.support.revisions import write_revision
from tests.upgrade.histories import REVISIONS, prepare, versions_of

DROP = "f6000000drop"
DROP_LINE = '        batch_op.drop_column("name")'
DROP_SOURCE = f'''
    """drop widgets.name

    Revision ID: {DROP}
    """
    import sqlalchemy as sa
    from alembic import op

    revision = {DROP!r}
    down_revision = {REVISIONS[1]!r}
    branch_labels = None
    depends_on = None


    def upgrade():
        with op.batch_alter_table("widgets") as batch_op:
    {DROP_LINE}


    def downgrade():
        with op.batch_alter_table("widgets") as batch_op:
            batch_op.add_column(sa.Column("name", sa.String(length=50), nullable=True))
'''


def _models_without_widget_names(db: SQLAlchemy) -> None:
    """The release that stopped mapping widgets.name (the expand/contract contract step)."""
    for table in ("widgets", "gadgets"):
        columns = [sa.Column("id", sa.Integer(), nullable=False)]
        if table != "widgets":
            columns.append(sa.Column("name", sa.String(length=50), nullable=True))
        sa.Table(table, db.metadata, *columns, sa.PrimaryKeyConstraint("id", name=f"pk_{table}"))


def test_drop_column_help_names_the_suppression_that_lets_the_drop_through(
    make_app: MakeApp, database_url: str
) -> None:
    app = make_app(
        database_url, models=_models_without_widget_names, config={"SAFEMIGRATE_BACKUP": False}
    )
    migrations = prepare(app, count=2)
    applied = invoke(app, "db", "safe-upgrade", "--no-verify")  # widgets.name exists
    assert applied.exit_code == 0, applied.output
    path = write_revision(migrations, DROP_SOURCE)

    code, data, _ = invoke_json(app, "db", "safe-upgrade", "--format", "json")
    assert code == 3, data
    (problem,) = [p for p in data["problems"] if p["check"] == "drop-column"]
    # The safe sequence, in order: unmap and deploy, then drop in a later release.
    steps = [
        "split it into two releases",
        "(1) remove the column from the model and deploy that without this drop",
        "(2) in a later release, once no server runs the old model, drop it",
    ]
    at = [problem["help"].find(step) for step in steps]
    assert -1 not in at and at == sorted(at), problem["help"]
    marker = re.search(r"`(# safemigrate: ignore\[drop-column\] -- )<[^>]+>`", problem["help"])
    assert marker is not None, problem["help"]
    assert versions_of(database_url) == [REVISIONS[1]]  # the pre-flight refused the plan

    # What the help says to write, with the reason it asks for.
    text = path.read_text()
    assert DROP_LINE in text
    path.write_text(text.replace(DROP_LINE, f"{DROP_LINE}  {marker[1]}unmapped since 2.3"))
    code, data, _ = invoke_json(app, "db", "safe-upgrade", "--format", "json")
    assert code == 0, data
    assert versions_of(database_url) == [DROP]
    engine = nullpool_engine(database_url)
    try:
        columns = {c["name"] for c in sa.inspect(engine).get_columns("widgets")}
    finally:
        engine.dispose()
    assert columns == {"id"}
