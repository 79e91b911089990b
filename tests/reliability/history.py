"""A 30-revision history over seeded tables, written the way a careful team writes migrations.

Revisions 1-4 create the tables that the tests seed with rows (``customers``, ``products``,
``orders``, ``attachments``); the database is seeded at :data:`SEED_REVISION`. Revisions 5-30
mix schema changes (columns, indexes, tables, behind ``guards`` or ``if_not_exists``, because
MariaDB cannot roll DDL back and a killed revision must converge when it runs again) and data
steps that can re-run (they fill only what is still empty, insert only what is missing).
No revision changes a seeded column, so the seeded rows' checksums must survive any crash;
:func:`expected_derived` says what the data steps must have produced, exactly once.

Crash-test instrumentation in every script (inert unless the variables are set):
``$SM_MARKERS/<revision>.start|mid|end`` marker files, and a pause of ``$SM_PAUSE`` seconds at
the ``mid`` point of the revision named by ``$SM_PAUSE_AT`` (a window to kill it in; a test
ends it early by writing the marker ``<revision>.go``: :meth:`Workspace.release`), and after
it a failure in the revision named by ``$SM_FAIL_AT``.
"""

from __future__ import annotations

import hashlib
import random
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import sqlalchemy as sa
from flask_sqlalchemy import SQLAlchemy

from tests.support.databases import nullpool_engine
from tests.support.revisions import write_revision

# --------------------------------------------------------------------------- the scripts

_STEPS: Final[tuple[tuple[str, str, str], ...]] = (
    # (slug, message, upgrade body); every body may call _reached("mid") once
    (
        "customers",
        "create the customers table",
        """
        op.create_table(
            "customers",
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("name", sa.String(length=80), nullable=False),
            sa.Column("email", sa.String(length=120), nullable=False),
            sa.PrimaryKeyConstraint("id", name="pk_customers"),
            if_not_exists=True,
        )
        """,
    ),
    (
        "products",
        "create the products table",
        """
        op.create_table(
            "products",
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("sku", sa.String(length=32), nullable=False),
            sa.Column("title", sa.String(length=120), nullable=False),
            sa.Column("price_cents", sa.Integer(), nullable=False),
            sa.PrimaryKeyConstraint("id", name="pk_products"),
            if_not_exists=True,
        )
        """,
    ),
    (
        "orders",
        "create the orders table",
        """
        op.create_table(
            "orders",
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("customer_id", sa.Integer(), nullable=False),
            sa.Column("product_id", sa.Integer(), nullable=False),
            sa.Column("quantity", sa.Integer(), nullable=False),
            sa.Column("status", sa.String(length=16), nullable=False),
            sa.PrimaryKeyConstraint("id", name="pk_orders"),
            if_not_exists=True,
        )
        """,
    ),
    (
        "attachments",
        "create the attachments table",
        """
        op.create_table(
            "attachments",
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("customer_id", sa.Integer(), nullable=False),
            sa.Column("payload", sa.Text(), nullable=False),
            sa.PrimaryKeyConstraint("id", name="pk_attachments"),
            if_not_exists=True,
        )
        """,
    ),
    (
        "email_domain",
        "add customers.email_domain and its index",
        """
        if guards.column_missing("customers", "email_domain"):
            op.add_column(
                "customers", sa.Column("email_domain", sa.String(length=120), nullable=True)
            )
        _reached("mid")
        if guards.index_missing("customers", "ix_customers_email_domain"):
            with op.get_context().autocommit_block():
                op.create_index(
                    "ix_customers_email_domain",
                    "customers",
                    ["email_domain"],
                    postgresql_concurrently=True,
                )
        """,
    ),
    (
        "backfill_email_domain",
        "backfill customers.email_domain",
        """
        bind = op.get_bind()
        customers = sa.table(
            "customers", sa.column("id"), sa.column("email"), sa.column("email_domain")
        )
        rows = bind.execute(
            sa.select(customers.c.id, customers.c.email)
            .where(customers.c.email_domain.is_(None))
            .order_by(customers.c.id)
        ).all()
        half = len(rows) // 2
        for position, batch in enumerate((rows[:half], rows[half:])):
            if batch:
                bind.execute(
                    customers.update()
                    .where(customers.c.id == sa.bindparam("cid"))
                    .values(email_domain=sa.bindparam("domain")),
                    [
                        {"cid": row.id, "domain": row.email.split("@", 1)[1].lower()}
                        for row in batch
                    ],
                )
            if position == 0:
                _reached("mid")
        """,
    ),
    (
        "customer_stats",
        "create the customer_stats table",
        """
        op.create_table(
            "customer_stats",
            sa.Column("customer_id", sa.Integer(), autoincrement=False, nullable=False),
            sa.Column("order_count", sa.Integer(), nullable=False),
            sa.Column("total_cents", sa.Integer(), nullable=False),
            sa.PrimaryKeyConstraint("customer_id", name="pk_customer_stats"),
            if_not_exists=True,
        )
        """,
    ),
    (
        "sku_upper",
        "add products.sku_upper and its index",
        """
        if guards.column_missing("products", "sku_upper"):
            op.add_column("products", sa.Column("sku_upper", sa.String(length=32), nullable=True))
        _reached("mid")
        if guards.index_missing("products", "ix_products_sku_upper"):
            with op.get_context().autocommit_block():
                op.create_index(
                    "ix_products_sku_upper", "products", ["sku_upper"], postgresql_concurrently=True
                )
        """,
    ),
    (
        "backfill_sku_upper",
        "backfill products.sku_upper",
        """
        _reached("mid")
        op.execute(sa.text("UPDATE products SET sku_upper = UPPER(sku) WHERE sku_upper IS NULL"))
        """,
    ),
    (
        "order_totals",
        "add orders.total_cents and an index on orders.customer_id",
        """
        if guards.column_missing("orders", "total_cents"):
            op.add_column("orders", sa.Column("total_cents", sa.Integer(), nullable=True))
        _reached("mid")
        if guards.index_missing("orders", "ix_orders_customer_id"):
            with op.get_context().autocommit_block():
                op.create_index(
                    "ix_orders_customer_id", "orders", ["customer_id"], postgresql_concurrently=True
                )
        """,
    ),
    (
        "backfill_order_totals",
        "backfill orders.total_cents",
        """
        _reached("mid")
        op.execute(
            sa.text(
                "UPDATE orders SET total_cents = quantity * ("
                "SELECT p.price_cents FROM products p WHERE p.id = orders.product_id"
                ") WHERE total_cents IS NULL"
            )
        )
        """,
    ),
    (
        "fill_customer_stats",
        "fill customer_stats from the orders",
        """
        _reached("mid")
        op.execute(
            sa.text(
                "INSERT INTO customer_stats (customer_id, order_count, total_cents)"
                " SELECT o.customer_id, COUNT(*), SUM(o.total_cents) FROM orders o"
                " WHERE o.status <> 'cancelled' AND o.customer_id NOT IN"
                " (SELECT s.customer_id FROM customer_stats s)"
                " GROUP BY o.customer_id"
            )
        )
        """,
    ),
    (
        "tags",
        "create the tags table and its unique index",
        """
        op.create_table(
            "tags",
            sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
            sa.Column("name", sa.String(length=40), nullable=False),
            sa.PrimaryKeyConstraint("id", name="pk_tags"),
            if_not_exists=True,
        )
        _reached("mid")
        if guards.index_missing("tags", "ux_tags_name"):
            op.create_index("ux_tags_name", "tags", ["name"], unique=True)
        """,
    ),
    (
        "fill_tags",
        "insert the standard tags",
        """
        bind = op.get_bind()
        tags = sa.table("tags", sa.column("id"), sa.column("name"))
        present = set(bind.execute(sa.select(tags.c.id)).scalars())
        wanted = [{"id": 1, "name": "new"}, {"id": 2, "name": "regular"}, {"id": 3, "name": "vip"}]
        _reached("mid")
        missing = [row for row in wanted if row["id"] not in present]
        if missing:
            bind.execute(tags.insert(), missing)
        """,
    ),
    (
        "customer_tags",
        "create the customer_tags table",
        """
        op.create_table(
            "customer_tags",
            sa.Column("customer_id", sa.Integer(), autoincrement=False, nullable=False),
            sa.Column("tag_id", sa.Integer(), autoincrement=False, nullable=False),
            sa.PrimaryKeyConstraint("customer_id", "tag_id", name="pk_customer_tags"),
            if_not_exists=True,
        )
        """,
    ),
    (
        "fill_customer_tags",
        "tag each customer with orders",
        """
        bind = op.get_bind()
        stats = sa.table(
            "customer_stats",
            sa.column("customer_id"),
            sa.column("order_count"),
            sa.column("total_cents"),
        )
        links = sa.table("customer_tags", sa.column("customer_id"), sa.column("tag_id"))
        query = sa.select(links.c.customer_id, links.c.tag_id)
        present = {(row[0], row[1]) for row in bind.execute(query)}
        wanted = []
        for customer_id, order_count, total_cents in bind.execute(
            sa.select(stats.c.customer_id, stats.c.order_count, stats.c.total_cents).order_by(
                stats.c.customer_id
            )
        ):
            tag = 3 if total_cents >= 50000 else 2 if order_count >= 3 else 1
            if (customer_id, tag) not in present:
                wanted.append({"customer_id": customer_id, "tag_id": tag})
        half = len(wanted) // 2
        if wanted[:half]:
            bind.execute(links.insert(), wanted[:half])
        _reached("mid")
        if wanted[half:]:
            bind.execute(links.insert(), wanted[half:])
        """,
    ),
    (
        "tier",
        "add customers.tier",
        """
        if guards.column_missing("customers", "tier"):
            op.add_column("customers", sa.Column("tier", sa.String(length=16), nullable=True))
        """,
    ),
    (
        "backfill_tier",
        "backfill customers.tier from customer_stats",
        """
        bind = op.get_bind()
        customers = sa.table("customers", sa.column("id"), sa.column("tier"))
        stats = sa.table("customer_stats", sa.column("customer_id"), sa.column("total_cents"))
        totals = dict(bind.execute(sa.select(stats.c.customer_id, stats.c.total_cents)).all())
        ids = bind.execute(
            sa.select(customers.c.id).where(customers.c.tier.is_(None)).order_by(customers.c.id)
        ).scalars()
        values = []
        for cid in ids:
            tier = "none" if cid not in totals else "gold" if totals[cid] >= 50000 else "silver"
            values.append({"cid": cid, "value": tier})
        _reached("mid")
        if values:
            bind.execute(
                customers.update()
                .where(customers.c.id == sa.bindparam("cid"))
                .values(tier=sa.bindparam("value")),
                values,
            )
        """,
    ),
    (
        "tier_index",
        "index customers.tier",
        """
        if guards.index_missing("customers", "ix_customers_tier"):
            with op.get_context().autocommit_block():
                op.create_index(
                    "ix_customers_tier", "customers", ["tier"], postgresql_concurrently=True
                )
        """,
    ),
    (
        "archived_orders",
        "create the archived_orders table",
        """
        op.create_table(
            "archived_orders",
            sa.Column("order_id", sa.Integer(), autoincrement=False, nullable=False),
            sa.Column("customer_id", sa.Integer(), nullable=False),
            sa.Column("total_cents", sa.Integer(), nullable=True),
            sa.PrimaryKeyConstraint("order_id", name="pk_archived_orders"),
            if_not_exists=True,
        )
        """,
    ),
    (
        "fill_archived_orders",
        "copy the cancelled orders into archived_orders",
        """
        _reached("mid")
        op.execute(
            sa.text(
                "INSERT INTO archived_orders (order_id, customer_id, total_cents)"
                " SELECT o.id, o.customer_id, o.total_cents FROM orders o"
                " WHERE o.status = 'cancelled' AND o.id NOT IN"
                " (SELECT a.order_id FROM archived_orders a)"
            )
        )
        """,
    ),
    (
        "product_active",
        "add products.active",
        """
        if guards.column_missing("products", "active"):
            op.add_column("products", sa.Column("active", sa.Integer(), nullable=True))
        """,
    ),
    (
        "backfill_product_active",
        "backfill products.active",
        """
        _reached("mid")
        op.execute(
            sa.text(
                "UPDATE products SET active = CASE WHEN price_cents > 0 THEN 1 ELSE 0 END"
                " WHERE active IS NULL"
            )
        )
        """,
    ),
    (
        "app_settings",
        "create the app_settings table",
        """
        op.create_table(
            "app_settings",
            sa.Column("name", sa.String(length=64), nullable=False),
            sa.Column("value", sa.String(length=255), nullable=False),
            sa.PrimaryKeyConstraint("name", name="pk_app_settings"),
            if_not_exists=True,
        )
        """,
    ),
    (
        "fill_app_settings",
        "insert the default app settings",
        """
        bind = op.get_bind()
        settings = sa.table("app_settings", sa.column("name"), sa.column("value"))
        archived = sa.table("archived_orders", sa.column("order_id"))
        present = set(bind.execute(sa.select(settings.c.name)).scalars())
        count = bind.execute(sa.select(sa.func.count()).select_from(archived)).scalar_one()
        _reached("mid")
        for name, value in (("currency", "EUR"), ("archived_orders", str(count))):
            if name not in present:
                bind.execute(settings.insert().values(name=name, value=value))
        """,
    ),
    (
        "audit_events",
        "create the audit_events table",
        """
        op.create_table(
            "audit_events",
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("event", sa.String(length=64), nullable=False),
            sa.Column("detail", sa.String(length=255), nullable=True),
            sa.PrimaryKeyConstraint("id", name="pk_audit_events"),
            if_not_exists=True,
        )
        """,
    ),
    (
        "record_backfill",
        "record the backfill in audit_events",
        """
        bind = op.get_bind()
        events = sa.table("audit_events", sa.column("event"), sa.column("detail"))
        done = bind.execute(
            sa.select(sa.func.count())
            .select_from(events)
            .where(events.c.event == "backfill-complete")
        ).scalar_one()
        _reached("mid")
        if not done:
            bind.execute(events.insert().values(event="backfill-complete", detail="revision 27"))
        """,
    ),
    (
        "status_index",
        "index orders.status",
        """
        if guards.index_missing("orders", "ix_orders_status"):
            with op.get_context().autocommit_block():
                op.create_index(
                    "ix_orders_status", "orders", ["status"], postgresql_concurrently=True
                )
        """,
    ),
    (
        "attachment_size",
        "add attachments.size_bytes",
        """
        if guards.column_missing("attachments", "size_bytes"):
            op.add_column("attachments", sa.Column("size_bytes", sa.Integer(), nullable=True))
        """,
    ),
    (
        "backfill_attachment_size",
        "backfill attachments.size_bytes",
        """
        _reached("mid")
        op.execute(
            sa.text("UPDATE attachments SET size_bytes = LENGTH(payload) WHERE size_bytes IS NULL")
        )
        """,
    ),
)

#: Revision ids in order: ``r01`` ... ``r30`` and nine hex digits.
REVISIONS: Final[tuple[str, ...]] = tuple(
    f"r{i:02d}{hashlib.sha256(f'crash-{i}'.encode()).hexdigest()[:9]}"
    for i in range(1, len(_STEPS) + 1)
)
HEAD: Final = REVISIONS[-1]
#: The tests seed the database at this revision (its tables exist, nothing later ran).
SEED_INDEX: Final = 3
SEED_REVISION: Final = REVISIONS[SEED_INDEX]
#: What safe-upgrade applies after the seed.
PENDING: Final[tuple[str, ...]] = REVISIONS[SEED_INDEX + 1 :]
#: Revisions with a ``_reached("mid")`` point (a pause there is a window to kill in).
PAUSABLE: Final[tuple[str, ...]] = tuple(
    rev for rev, (_, _, body) in zip(REVISIONS, _STEPS, strict=True) if '_reached("mid")' in body
)


def _drop_table(table: str) -> str:
    return f'op.drop_table("{table}", if_exists=True)'


def _drop_index(table: str, index: str) -> str:
    return (
        f'if guards.index_exists("{table}", "{index}"):\n'
        "    with op.get_context().autocommit_block():\n"
        f'        op.drop_index("{index}", table_name="{table}", postgresql_concurrently=True)'
    )


def _drop_column(table: str, column: str, index: str | None = None) -> str:
    return (
        (_drop_index(table, index) + "\n" if index else "")
        + f'if guards.column_exists("{table}", "{column}"):\n'
        + f'    with op.batch_alter_table("{table}") as batch_op:\n'
        + f'        batch_op.drop_column("{column}")'
    )


def _sql(statement: str) -> str:
    return f"op.execute(sa.text({statement!r}))"


#: Each revision's downgrade (by slug): the reverse of its upgrade, guarded the same way.
_DOWNGRADES: Final[dict[str, str]] = {
    "customers": _drop_table("customers"),
    "products": _drop_table("products"),
    "orders": _drop_table("orders"),
    "attachments": _drop_table("attachments"),
    "email_domain": _drop_column("customers", "email_domain", "ix_customers_email_domain"),
    "backfill_email_domain": _sql("UPDATE customers SET email_domain = NULL"),
    "customer_stats": _drop_table("customer_stats"),
    "sku_upper": _drop_column("products", "sku_upper", "ix_products_sku_upper"),
    "backfill_sku_upper": _sql("UPDATE products SET sku_upper = NULL"),
    "order_totals": _drop_index("orders", "ix_orders_customer_id")
    + "\n"
    + _drop_column("orders", "total_cents"),
    "backfill_order_totals": _sql("UPDATE orders SET total_cents = NULL"),
    "fill_customer_stats": _sql(
        "DELETE FROM customer_stats WHERE customer_id IN (SELECT customer_id FROM orders)"
    ),
    "tags": _drop_table("tags"),
    "fill_tags": _sql("DELETE FROM tags WHERE id IN (1, 2, 3)"),
    "customer_tags": _drop_table("customer_tags"),
    "fill_customer_tags": _sql("DELETE FROM customer_tags WHERE tag_id IN (1, 2, 3)"),
    "tier": _drop_column("customers", "tier"),
    "backfill_tier": _sql("UPDATE customers SET tier = NULL"),
    "tier_index": _drop_index("customers", "ix_customers_tier"),
    "archived_orders": _drop_table("archived_orders"),
    "fill_archived_orders": _sql(
        "DELETE FROM archived_orders WHERE order_id IN"
        " (SELECT id FROM orders WHERE status = 'cancelled')"
    ),
    "product_active": _drop_column("products", "active"),
    "backfill_product_active": _sql("UPDATE products SET active = NULL"),
    "app_settings": _drop_table("app_settings"),
    "fill_app_settings": _sql(
        "DELETE FROM app_settings WHERE name IN ('currency', 'archived_orders')"
    ),
    "audit_events": _drop_table("audit_events"),
    "record_backfill": _sql("DELETE FROM audit_events WHERE event = 'backfill-complete'"),
    "status_index": _drop_index("orders", "ix_orders_status"),
    "attachment_size": _drop_column("attachments", "size_bytes"),
    "backfill_attachment_size": _sql("UPDATE attachments SET size_bytes = NULL"),
}

_TEMPLATE = '''\
"""{message}

Revision ID: {revision}
"""
import os
import time

import sqlalchemy as sa
from alembic import op

from flask_safemigrate import guards

revision = "{revision}"
down_revision = {down}
branch_labels = None
depends_on = None


def _reached(point):
    """Crash-test instrumentation: a marker file per point; a pause where the test asks."""
    folder = os.environ.get("SM_MARKERS")
    if folder:
        with open(os.path.join(folder, f"{{revision}}.{{point}}"), "w"):
            pass
    if point == "mid" and os.environ.get("SM_PAUSE_AT") == revision:
        # Until $SM_PAUSE seconds have passed, or the test lets it go on earlier by writing
        # the marker <revision>.go (a test that kills inside the pause never writes it).
        end = time.monotonic() + float(os.environ.get("SM_PAUSE", "0"))
        go = os.path.join(folder, f"{{revision}}.go") if folder else None
        while time.monotonic() < end and not (go and os.path.exists(go)):
            time.sleep(0.02)
    if point == "mid" and os.environ.get("SM_FAIL_AT") == revision:
        raise RuntimeError("failing on purpose: SM_FAIL_AT names this revision")


def upgrade():
    _reached("start")
{body}
    _reached("end")


def downgrade():
{downgrade}'''


def script_source(index: int) -> str:
    """The source of revision ``index`` (0-based)."""
    slug, message, body = _STEPS[index]
    down = repr(REVISIONS[index - 1]) if index else "None"
    return _TEMPLATE.format(
        message=message,
        revision=REVISIONS[index],
        down=down,
        body=textwrap.indent(textwrap.dedent(body).strip("\n"), "    "),
        downgrade=textwrap.indent(_DOWNGRADES[slug], "    ") + "\n",
    )


def write_history(migrations: Path) -> None:
    """Write the 30 scripts into ``migrations/versions`` (the directory must be initialised)."""
    for index, (slug, _message, _body) in enumerate(_STEPS):
        write_revision(migrations, script_source(index), filename=f"{REVISIONS[index]}_{slug}.py")


# --------------------------------------------------------------------------- the models at head


def declare_models(db: SQLAlchemy) -> None:
    """The tables as they stand at :data:`HEAD` (post-upgrade verification compares them)."""
    md = db.metadata
    integer, string = sa.Integer, sa.String
    sa.Table(
        "customers",
        md,
        sa.Column("id", integer(), primary_key=True),
        sa.Column("name", string(80), nullable=False),
        sa.Column("email", string(120), nullable=False),
        sa.Column("email_domain", string(120), nullable=True),
        sa.Column("tier", string(16), nullable=True),
        sa.Index("ix_customers_email_domain", "email_domain"),
        sa.Index("ix_customers_tier", "tier"),
    )
    sa.Table(
        "products",
        md,
        sa.Column("id", integer(), primary_key=True),
        sa.Column("sku", string(32), nullable=False),
        sa.Column("title", string(120), nullable=False),
        sa.Column("price_cents", integer(), nullable=False),
        sa.Column("sku_upper", string(32), nullable=True),
        sa.Column("active", integer(), nullable=True),
        sa.Index("ix_products_sku_upper", "sku_upper"),
    )
    sa.Table(
        "orders",
        md,
        sa.Column("id", integer(), primary_key=True),
        sa.Column("customer_id", integer(), nullable=False),
        sa.Column("product_id", integer(), nullable=False),
        sa.Column("quantity", integer(), nullable=False),
        sa.Column("status", string(16), nullable=False),
        sa.Column("total_cents", integer(), nullable=True),
        sa.Index("ix_orders_customer_id", "customer_id"),
        sa.Index("ix_orders_status", "status"),
    )
    sa.Table(
        "attachments",
        md,
        sa.Column("id", integer(), primary_key=True),
        sa.Column("customer_id", integer(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("size_bytes", integer(), nullable=True),
    )
    sa.Table(
        "customer_stats",
        md,
        sa.Column("customer_id", integer(), primary_key=True, autoincrement=False),
        sa.Column("order_count", integer(), nullable=False),
        sa.Column("total_cents", integer(), nullable=False),
    )
    sa.Table(
        "tags",
        md,
        sa.Column("id", integer(), primary_key=True, autoincrement=False),
        sa.Column("name", string(40), nullable=False),
        sa.Index("ux_tags_name", "name", unique=True),
    )
    sa.Table(
        "customer_tags",
        md,
        sa.Column("customer_id", integer(), primary_key=True, autoincrement=False),
        sa.Column("tag_id", integer(), primary_key=True, autoincrement=False),
    )
    sa.Table(
        "archived_orders",
        md,
        sa.Column("order_id", integer(), primary_key=True, autoincrement=False),
        sa.Column("customer_id", integer(), nullable=False),
        sa.Column("total_cents", integer(), nullable=True),
    )
    sa.Table(
        "app_settings",
        md,
        sa.Column("name", string(64), primary_key=True),
        sa.Column("value", string(255), nullable=False),
    )
    sa.Table(
        "audit_events",
        md,
        sa.Column("id", integer(), primary_key=True),
        sa.Column("event", string(64), nullable=False),
        sa.Column("detail", string(255), nullable=True),
    )


# --------------------------------------------------------------------------- seed rows

#: The seeded tables and the columns no revision may change.
SEEDED: Final[dict[str, tuple[str, ...]]] = {
    "customers": ("id", "name", "email"),
    "products": ("id", "sku", "title", "price_cents"),
    "orders": ("id", "customer_id", "product_id", "quantity", "status"),
    "attachments": ("id", "customer_id", "payload"),
}
STATUSES: Final = ("placed", "shipped", "cancelled")
DOMAINS: Final = ("Example.com", "mail.test", "Shop.EXAMPLE", "corp.test")


@dataclass(frozen=True)
class Seed:
    """The seeded rows, per table, as tuples in :data:`SEEDED` column order."""

    rows: dict[str, list[tuple[Any, ...]]]

    def of(self, table: str) -> list[tuple[Any, ...]]:
        return self.rows[table]


#: Attachments seeded into SQLite: 2 kB each, about 40 MB, so a backup takes a moment.
SQLITE_ATTACHMENTS: Final = 20_000
#: Attachments seeded on the servers (their backups are not what the size is for).
SERVER_ATTACHMENTS: Final = 40


def make_seed(*, customers: int = 240, orders: int = 900, attachments: int = 40) -> Seed:
    """Deterministic rows; ``attachments`` of 2 kB each decide the database's size."""
    rng = random.Random(20240607)
    rows: dict[str, list[tuple[Any, ...]]] = {
        "customers": [
            (i, f"Customer {i}", f"c{i}@{rng.choice(DOMAINS)}") for i in range(1, customers + 1)
        ],
        "products": [
            (i, f"sku-{i:03d}x", f"Product {i}", 0 if i % 9 == 0 else rng.randrange(500, 40000))
            for i in range(1, 41)
        ],
        "orders": [
            (
                i,
                rng.randrange(1, customers + 1),
                rng.randrange(1, 41),
                rng.randrange(1, 6),
                rng.choice(STATUSES),
            )
            for i in range(1, orders + 1)
        ],
        "attachments": [
            (i, rng.randrange(1, customers + 1), rng.randbytes(1000).hex())
            for i in range(1, attachments + 1)
        ],
    }
    return Seed(rows)


def insert_seed(url: str, seed: Seed) -> None:
    """Insert the rows (the tables exist: the database is at :data:`SEED_REVISION`)."""
    engine = nullpool_engine(url)
    try:
        with engine.begin() as conn:
            for table, columns in SEEDED.items():
                target = sa.table(table, *(sa.column(c) for c in columns))
                conn.execute(
                    target.insert(), [dict(zip(columns, r, strict=True)) for r in seed.rows[table]]
                )
    finally:
        engine.dispose()


def seeded_checksums(url: str) -> dict[str, str]:
    """sha256 per seeded table over its seeded columns, rows in id order."""
    engine = nullpool_engine(url)
    out = {}
    try:
        with engine.connect() as conn:
            for table, columns in SEEDED.items():
                digest = hashlib.sha256()
                target = sa.table(table, *(sa.column(c) for c in columns))
                query = sa.select(*target.c).order_by(target.c.id)
                count = 0
                for row in conn.execute(query):
                    digest.update(repr(tuple(row)).encode())
                    count += 1
                out[table] = f"{count}:{digest.hexdigest()}"
    finally:
        engine.dispose()
    return out


# --------------------------------------------------------------------------- derived data


def expected_derived(seed: Seed) -> dict[str, Any]:
    """What revisions 5-30 must have produced from the seed (each data step exactly once)."""
    price = {pid: cents for pid, _sku, _title, cents in seed.of("products")}
    totals = {oid: qty * price[pid] for oid, _cid, pid, qty, _status in seed.of("orders")}
    stats: dict[int, list[int]] = {}
    for oid, cid, _pid, _qty, status in seed.of("orders"):
        if status != "cancelled":
            entry = stats.setdefault(cid, [0, 0])
            entry[0] += 1
            entry[1] += totals[oid]
    cancelled = [
        (oid, cid, totals[oid])
        for oid, cid, _p, _q, status in seed.of("orders")
        if status == "cancelled"
    ]
    return {
        "email_domain": {
            cid: email.split("@")[1].lower() for cid, _n, email in seed.of("customers")
        },
        "tier": {
            cid: "none" if cid not in stats else "gold" if stats[cid][1] >= 50000 else "silver"
            for cid, _n, _e in seed.of("customers")
        },
        "sku_upper": {pid: sku.upper() for pid, sku, _t, _c in seed.of("products")},
        "active": {pid: 1 if cents > 0 else 0 for pid, _s, _t, cents in seed.of("products")},
        "order_total": totals,
        "customer_stats": sorted((cid, n, total) for cid, (n, total) in stats.items()),
        "tags": [(1, "new"), (2, "regular"), (3, "vip")],
        "customer_tags": sorted(
            (cid, 3 if total >= 50000 else 2 if n >= 3 else 1) for cid, (n, total) in stats.items()
        ),
        "archived_orders": sorted(cancelled),
        "app_settings": sorted([("archived_orders", str(len(cancelled))), ("currency", "EUR")]),
        "audit_events": [("backfill-complete", "revision 27")],
        "size_bytes": {aid: len(payload) for aid, _cid, payload in seed.of("attachments")},
    }


def actual_derived(url: str) -> dict[str, Any]:
    """The same facts as :func:`expected_derived`, read from the database."""

    def pairs(conn: sa.Connection, sql: str) -> dict[Any, Any]:
        return {row[0]: row[1] for row in conn.execute(sa.text(sql))}

    def rows(conn: sa.Connection, sql: str) -> list[tuple[Any, ...]]:
        return sorted(tuple(row) for row in conn.execute(sa.text(sql)))

    engine = nullpool_engine(url)
    try:
        with engine.connect() as conn:
            return {
                "email_domain": pairs(conn, "SELECT id, email_domain FROM customers"),
                "tier": pairs(conn, "SELECT id, tier FROM customers"),
                "sku_upper": pairs(conn, "SELECT id, sku_upper FROM products"),
                "active": pairs(conn, "SELECT id, active FROM products"),
                "order_total": pairs(conn, "SELECT id, total_cents FROM orders"),
                "customer_stats": rows(
                    conn, "SELECT customer_id, order_count, total_cents FROM customer_stats"
                ),
                "tags": rows(conn, "SELECT id, name FROM tags"),
                "customer_tags": rows(conn, "SELECT customer_id, tag_id FROM customer_tags"),
                "archived_orders": rows(
                    conn, "SELECT order_id, customer_id, total_cents FROM archived_orders"
                ),
                "app_settings": rows(conn, "SELECT name, value FROM app_settings"),
                "audit_events": rows(conn, "SELECT event, detail FROM audit_events"),
                "size_bytes": pairs(conn, "SELECT id, size_bytes FROM attachments"),
            }
    finally:
        engine.dispose()


def revisions_between(after: str | None, upto: str | None) -> list[str]:
    """The revisions after ``after`` up to and including ``upto`` (``None`` = base)."""
    start = REVISIONS.index(after) + 1 if after else 0
    end = REVISIONS.index(upto) + 1 if upto else 0
    return list(REVISIONS[start:end])


def applied_upto(versions: Sequence[str]) -> str | None:
    """The one revision of the version table (``None`` at base); asserts there is at most one."""
    assert len(versions) <= 1, f"the version table holds {len(versions)} rows: {versions}"
    if not versions:
        return None
    assert versions[0] in REVISIONS, f"the version table holds an unknown revision {versions[0]}"
    return versions[0]
