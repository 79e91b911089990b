"""singular-table-name (SM401) follows the project's convention, not one of its own.

Flask-SQLAlchemy names a model's table after its class (``class BlogPost`` -> ``blog_post``),
so a Flask app that never sets ``__tablename__`` is singular throughout: left unset,
``plural-tables`` follows the app's models (``LintConfig.mapped``, what ``flask db lint``
reads) and reports nothing without them. The end-to-end form, with ``flask db migrate``, is in
``tests/autogen/test_lint_generated.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from flask_safemigrate.errors import ConfigError
from flask_safemigrate.lint.config import config_from
from flask_safemigrate.lint.engine import LintConfig, lint

SCRIPT = '''"""add the shop tables"""
import sqlalchemy as sa
from alembic import op

revision = "5a0000000001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table("user", sa.Column("id", sa.Integer(), primary_key=True))
    op.create_table("blog_post", sa.Column("id", sa.Integer(), primary_key=True))


def downgrade():
    op.drop_table("blog_post")
    op.drop_table("user")
'''

# What Flask-SQLAlchemy generates for `class User`, `class BlogPost`, `class Tag`.
DEFAULT_NAMES = {"user": frozenset({"id"}), "blog_post": frozenset({"id"}), "tag": frozenset()}
PLURAL_NAMES = {"users": frozenset(), "orders": frozenset(), "invoices": frozenset()}


def flagged(
    tmp_path: Path,
    *,
    plural_tables: bool | None = None,
    mapped: Mapping[str, frozenset[str]] | None = None,
) -> list[str]:
    script = tmp_path / "5a0000000001_add_the_shop_tables.py"
    script.write_text(SCRIPT)
    config = LintConfig(select=("singular-table-name",), plural_tables=plural_tables, mapped=mapped)
    return [f.message for f in lint([script], config).findings]


def test_unset_without_the_app_flags_nothing(tmp_path: Path) -> None:
    assert flagged(tmp_path) == []


def test_unset_with_flask_sqlalchemys_default_names_flags_nothing(tmp_path: Path) -> None:
    assert flagged(tmp_path, mapped={**DEFAULT_NAMES, "sensor_data": frozenset()}) == []


def test_unset_with_mostly_plural_models_flags_the_singular_ones(tmp_path: Path) -> None:
    mapped = {**PLURAL_NAMES, "user": frozenset(), "blog_post": frozenset()}
    assert flagged(tmp_path, mapped=mapped) == [
        "creates user, a singular name; most of the app's tables are named in the plural (`users`)",
        "creates blog_post, a singular name; most of the app's tables are named in the plural"
        " (`blog_posts`)",
    ]


def test_the_setting_wins_over_the_models(tmp_path: Path) -> None:
    assert len(flagged(tmp_path, plural_tables=True, mapped=DEFAULT_NAMES)) == 2
    assert len(flagged(tmp_path, plural_tables=True)) == 2
    assert flagged(tmp_path, plural_tables=False, mapped=PLURAL_NAMES) == []


def test_the_setting_from_pyproject() -> None:
    assert config_from({}).plural_tables is None
    assert config_from({"plural-tables": True}).plural_tables is True
    assert config_from({"plural-tables": False}).plural_tables is False
    with pytest.raises(ConfigError, match="plural-tables must be true or false, not 'no'"):
        config_from({"plural-tables": "no"})
