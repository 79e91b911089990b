"""A deploy whose models gained a column that no pending migration builds (``flask db
migrate`` forgotten): the release-compatibility check predicts the schema from the models, so
it reports the column as added by the migrations. Its help now says that no pending migration
names it, and how to make one; a column a pending migration does build gets no such words."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from flask_sqlalchemy import SQLAlchemy

from tests.compat.test_deploy import ADD_NICKNAME, V1, V2, Deploys, upgrade
from tests.support.apps import MakeApp
from tests.support.revisions import revision_script

NOT_BUILT = (
    "; no pending migration names users.kind: if the models gained it without one, generate it"
    " first (`flask db migrate`), review it and deploy again"
)

#: The same revision as ADD_NICKNAME, and it builds ``kind`` (NOT NULL, no server default).
ADD_NICKNAME_AND_KIND = revision_script(
    V2,
    V1,
    """
    with op.batch_alter_table("users") as batch_op:
        batch_op.add_column(sa.Column("nickname", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("kind", sa.String(length=20), nullable=False))
    """,
    'raise RuntimeError("one way")',
    message="add users nickname and kind",
)


def release_2(db: SQLAlchemy) -> None:
    """Release 1's users, plus ``nickname`` and a NOT NULL ``kind``."""
    sa.Table(
        "users",
        db.metadata,
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("email", sa.String(50)),
        sa.Column("legacy", sa.Integer()),
        sa.Column("nickname", sa.String(40)),
        sa.Column("kind", sa.String(20), nullable=False),
    )


@pytest.mark.usefixtures("db_kind")
@pytest.mark.parametrize(("script", "said"), [(ADD_NICKNAME, True), (ADD_NICKNAME_AND_KIND, False)])
def test_a_column_no_pending_migration_names_is_said_to_be_missing_from_them(
    make_app: MakeApp, database_url: str, tmp_path: Path, script: str, said: bool
) -> None:
    deploys = Deploys(make_app, database_url, tmp_path)
    deploys.first()
    code, data = upgrade(deploys.release(release_2, script))
    assert code == 3, data
    (problem,) = [p for p in data["problems"] if p["check"] == "breaks-previous-release"]
    assert (problem["change"], problem["table"], problem["column"]) == (
        "not-null-added",
        "users",
        "kind",
    )
    assert (NOT_BUILT in problem["help"]) is said, problem["help"]
    assert problem["help"].startswith("expand/contract: add users.kind nullable")
