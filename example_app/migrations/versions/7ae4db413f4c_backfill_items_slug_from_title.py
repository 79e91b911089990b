"""backfill items.slug from title

Revision ID: 7ae4db413f4c
Revises: 9cc6a16d2bc0
Create Date: 2025-01-21 16:52:48.004391

A data migration, no schema change. It fills ``items.slug`` from ``items.title`` where the slug
is NULL, in batches by primary-key range, so each statement touches a bounded number of rows.

- It never imports the app's models: the table is described here as this revision sees it.
- It is idempotent: only rows whose slug is NULL are read and written, so running it again
  (say after a partial failure on a database without transactional DDL) changes nothing.
- The downgrade reverses it: the slugs that equal what this migration writes go back to NULL;
  slugs set some other way (by the app after the upgrade) are kept.
- It reads rows, so it cannot run in offline (``--sql``) mode.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator

import sqlalchemy as sa
from alembic import context, op

# revision identifiers, used by Alembic.
revision = "7ae4db413f4c"
down_revision = "9cc6a16d2bc0"
branch_labels = None
depends_on = None

BATCH_SIZE = 1000

# The table as this revision knows it (never the app's models, which move on).
items = sa.table(
    "items",
    sa.column("id", sa.Integer),
    sa.column("title", sa.String),
    sa.column("slug", sa.String),
)

_NOT_SLUG = re.compile(r"[^a-z0-9]+")


def slugify(title: str) -> str:
    """Frozen copy of ``example_app.models.slugify`` as of this revision."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode("ascii")
    return _NOT_SLUG.sub("-", ascii_title.lower()).strip("-")[:200] or "item"


def id_ranges(bind: sa.Connection, batch_size: int) -> Iterator[tuple[int, int]]:
    """Half-open ``[start, stop)`` id ranges covering the table, ``batch_size`` ids each."""
    low, high = bind.execute(sa.select(sa.func.min(items.c.id), sa.func.max(items.c.id))).one()
    if low is None:
        return
    for start in range(low, high + 1, batch_size):
        yield start, start + batch_size


def backfill_slugs(bind: sa.Connection, batch_size: int = BATCH_SIZE) -> int:
    """Set ``slug`` from ``title`` where it is NULL; returns how many rows changed."""
    set_slug = (
        sa.update(items)
        .where(items.c.id == sa.bindparam("item_id"), items.c.slug.is_(None))
        .values(slug=sa.bindparam("new_slug"))
    )
    changed = 0
    for start, stop in id_ranges(bind, batch_size):
        rows = bind.execute(
            sa.select(items.c.id, items.c.title).where(
                items.c.id >= start, items.c.id < stop, items.c.slug.is_(None)
            )
        ).all()
        if rows:
            bind.execute(set_slug, [{"item_id": id_, "new_slug": slugify(t)} for id_, t in rows])
            changed += len(rows)
    return changed


def clear_backfilled_slugs(bind: sa.Connection, batch_size: int = BATCH_SIZE) -> int:
    """Put NULL back where ``slug`` is what :func:`backfill_slugs` writes; returns the count."""
    changed = 0
    for start, stop in id_ranges(bind, batch_size):
        rows = bind.execute(
            sa.select(items.c.id, items.c.title, items.c.slug).where(
                items.c.id >= start, items.c.id < stop, items.c.slug.is_not(None)
            )
        ).all()
        ids = [id_ for id_, title, slug in rows if slug == slugify(title)]
        if ids:
            bind.execute(sa.update(items).where(items.c.id.in_(ids)).values(slug=None))
            changed += len(ids)
    return changed


def _online_bind() -> sa.Connection:
    if context.is_offline_mode():
        raise RuntimeError(
            f"revision {revision} reads rows to compute slugs and cannot run in offline"
            " (--sql) mode; run it against the database."
        )
    return op.get_bind()


def upgrade() -> None:
    backfill_slugs(_online_bind())


def downgrade() -> None:
    clear_backfilled_slugs(_online_bind())
