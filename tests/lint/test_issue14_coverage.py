"""Issue #14's audit: every false-positive cause of its section 2 and every check of its
section 3 has a fixture where the unsafe form fires the expected rule and the safe form
produces nothing.

Each :class:`Item` names the issue's wording, a fixture under ``fixtures/`` (the rule
fixtures and ``causes/``), the rule the unsafe form must fire (on the statement holding
``unsafe``), and the safe forms (statements holding each ``safe`` text) that must produce
no finding of the rules linted. A fixture's ``# lint-select:`` and ``# lint-dialect:`` lines
apply unless the item overrides them: some items are about what one dialect does (MySQL
counts characters where PostgreSQL counts bytes; an ENUM member appended is in place on
MySQL only) or about the dialect being unknown.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

from flask_safemigrate.lint.engine import LintConfig, lint
from flask_safemigrate.lint.registry import all_rules
from flask_safemigrate.report import Finding
from tests.lint.test_rules import FIXTURES, expected

SELECT = re.compile(r"#\s*lint-select:\s*(.+)")


@dataclass(frozen=True)
class Item:
    section: int
    what: str  # the words
    fixture: str  # path under fixtures/
    code: str  # the rule the unsafe form fires
    unsafe: str  # text on the statement that must be flagged
    safe: tuple[str, ...]  # texts on statements that must produce nothing
    dialect: str | None = None  # None: the fixture's
    severity: str | None = None  # the unsafe finding's severity, when the item is about it
    message: str | None = None  # text the unsafe finding's message must hold

    @property
    def id(self) -> str:
        return f"s{self.section}-{re.sub(r'[^a-z0-9]+', '-', self.what.lower()).strip('-')}"


DIALECT_FORMS = (
    'if bind.dialect.name == "sqlite":',
    "if isinstance(bind.dialect, SQLiteDialect):",
    "if not isinstance(bind.dialect, SQLiteDialect):",
    'if bind.dialect.name in ("mysql", "mariadb"):',
    'if context.get_context().dialect.name == "postgresql":',
    'if op.get_bind().engine.name != "sqlite":',
    'if str(bind.engine.url).startswith("postgres"):',
)

# fmt: off
ITEMS: tuple[Item, ...] = (
    # ---------------------------------------------------------------- section 2: causes
    *(
        Item(2, f"dialect branch {form}", "causes/dialect-branch.py", "SM203",
             'op.create_index("ix_users_country"', (form,), dialect="postgresql")
        for form in DIALECT_FORMS
    ),
    Item(2, "unknown dialect: a dialect-specific finding is at most a warning",
         "causes/dialect-branch.py", "SM203", 'op.create_index("ix_users_country"',
         DIALECT_FORMS[:1], dialect="auto", severity="warning"),
    Item(2, "downgrade findings say so and never block",
         "causes/downgrade.py", "SM106", 'op.execute("DELETE FROM widgets")',
         ('op.create_index("ix_widgets_color"', 'op.create_foreign_key("fk_widgets_owner"',
          '"legacy_code", sa.String(8), autoincrement=False'),
         severity="warning", message="in downgrade(): "),
    Item(2, "autogenerate's downgrade order on SQLite: index dropped, then the column",
         "causes/downgrade-sqlite.py", "SM308", 'op.drop_column("users", "team_id")',
         ('op.drop_column("users", "email")',)),
    Item(2, "generated downgrade restores the previous schema",
         "causes/generated-downgrade.py", "SM201",
         'op.add_column("users", sa.Column("plan"',
         ('batch_op.add_column(sa.Column("legacy", sa.VARCHAR(length=20), nullable=False))',
          'batch_op.alter_column("name", existing_type=sa.String(length=50), nullable=False)',
          'batch_op.create_check_constraint(batch_op.f("ck_users_age"), "age > 0")')),
    Item(2, "session bound to the migration's connection",
         "causes/session-bound.py", "SM306", "session.rollback()  # expect", ("session.commit()",)),
    Item(2, "db.session is a separate connection",
         "causes/session-bound.py", "SM306", "db.session.commit()", ("other.commit()",)),
    Item(2, "helper functions in the same script",
         "causes/helpers-and-loops.py", "SM203",
         'op.create_index(f"ix_{table}_{column}"',
         ('op.create_index("ix_audit_history_id"', 'op.create_index(f"ix_{kind}_history_id"')),
    Item(2, "a helper named upgrade_something() is not a multi-database bind function",
         "causes/helpers-and-loops.py", "SM201",
         'batch.add_column(sa.Column(column, sa.Boolean(), nullable=False))',
         ("upgrade_data()",)),
    Item(2, "script constants", "causes/script-constants.py", "SM307",
         "op.execute(f\"UPDATE {TABLE} SET owner = '{owner}'\")",
         ("State.QUEUED.value", "json.dumps(DEFAULTS)", "VALUES ('{name}')", "LIMIT {BATCH}")),
    Item(2, "tables the same upgrade creates",
         "causes/created-in-same-upgrade.py", "SM203",
         'op.create_index("ix_users_hook"',
         ('op.create_index("ix_webhooks_id", TABLE_NAME', 'op.create_index("ix_deliveries_hook"',
          'batch_op.create_index("ix_deliveries_id"', 'op.create_index("ix_audits_id"',
          'op.create_index("ix_attempts_id"', 'op.create_unique_constraint("uq_retries_id"')),
    Item(2, "tables emptied first", "causes/table-emptied-first.py", "SM201",
         "op.add_column(  # expect: SM201",
         ('op.add_column("code_cache", sa.Column("hash"',
          'op.add_column("callback", sa.Column("kind"',
          'op.add_column("rendered_cache", sa.Column("key"')),
    Item(2, "safe type changes on PostgreSQL", "causes/safe-type-change.py", "SM105",
         '"users", "code", existing_type=sa.String(64), type_=sa.String(8)',
         ('type_=sa.String(128))', "type_=sa.Text())", "type_=sa.Numeric(12, 2))",
          "existing_type=sa.String(64) if LONG else sa.String(100)",
          'op.alter_column("users", "age", existing_type=sa.Integer(), type_=sa.Integer())')),
    Item(2, "an ENUM member appended at the end is in place on MySQL",
         "causes/safe-type-change.py", "SM105",
         '"orders", "ref", existing_type=sa.String(20), type_=sa.Integer()',
         ('type_=sa.Enum("new", "paid", "refunded", name="state")',), dialect="mysql"),
    Item(2, "db imported for db.Session or types is not an app-model import",
         "causes/app-imports.py", "SM311", "from myapp.models.jobs import Job",
         ("from myapp import db", "from flask_appbuilder.models.mixins import AuditMixin")),
    Item(2, "a data-only migration with an empty downgrade is a warning",
         "missing-downgrade/7a8b9c0d1e2f_backfill_plans.py", "SM301", "def downgrade():", (),
         severity="warning"),
    Item(2, "messages name the real object", "causes/object-names.py", "SM101",
         "op.drop_table(table)", (), message="drops table `table`"),
    Item(2, "messages resolve a script constant", "causes/object-names.py", "SM203",
         'op.create_index(INDEX, "users", ["k"])', (), message="creates index ix_users_k on users"),
    # ---------------------------------------------------------------- section 3: checks
    Item(3, "SM202's advice: VALIDATE in its own transaction before SET NOT NULL",
         "set-not-null.py", "SM202",
         'op.alter_column("users", "email", existing_type=sa.String(255), nullable=False)',
         ('op.alter_column("customers", "phone"',)),
    Item(3, "VALIDATE in the same transaction as the NOT VALID",
         "validate-in-same-transaction.py", "SM220",
         'op.execute("ALTER TABLE users VALIDATE CONSTRAINT ck_users_email_not_null")',
         ('op.execute("ALTER TABLE accounts VALIDATE CONSTRAINT ck_accounts_owner_not_null")',)),
    Item(3, "add-primary-key on an existing table", "add-primary-key.py", "SM215",
         'op.create_primary_key("pk_events"',
         ("PRIMARY KEY USING INDEX pk_orders",)),
    Item(3, "add column + backfill + nullable=False in one upgrade on an existing table",
         "backfill-then-set-not-null.py", "SM222",
         'op.alter_column("users", "plan", existing_type=sa.String(20), nullable=False)',
         ('op.alter_column("customers", "locale"', 'op.alter_column("teams", "name"')),
    Item(3, "unbounded-update", "unbounded-update.py", "SM109",
         "op.execute(\"UPDATE users SET active = true\")",
         ("WHERE id < 10000 AND active IS NULL",)),
    Item(3, "rewrite-on-add: identity", "rewrite-on-add.py", "SM217",
         'op.add_column("orders", sa.Column("number", sa.BigInteger(), sa.Identity()))',
         ('op.add_column("refunds", sa.Column("number"',)),
    Item(3, "rewrite-on-add: stored generated column", "rewrite-on-add.py", "SM217",
         "GENERATED ALWAYS AS (gross - fee) STORED",
         ('op.add_column("orders", sa.Column("total", sa.BigInteger(), nullable=True))',)),
    Item(3, "MySQL add-foreign-key with foreign_key_checks=1", "mysql-add-foreign-key.py",
         "SM218", 'op.create_foreign_key("fk_orders_user_id_users"',
         ('op.create_foreign_key("fk_tags_user_id_users"',
          'op.create_foreign_key("fk_payments_order_id_orders"')),
    Item(3, "identifier-too-long: 63 bytes on PostgreSQL", "identifier-too-long.py", "SM316",
         '"billing_period_start_of_the_customer_subscription_invoice_in_utc", sa.Date()',
         ('op.create_index("ix_csi_billing_period_currency"',), dialect="postgresql"),
    Item(3, "identifier-too-long: 64 characters on MySQL", "identifier-too-long.py", "SM316",
         "ix_customer_subscription_invoices_billing_period_start_and_currency\",",
         ('"billing_period_start_of_the_customer_subscription_invoice_in_utc", sa.Date()',
          "réduction_appliquée_au_montant_total_de_la_commande_client_éé"),
         dialect="mysql"),
    *(
        Item(3, f"non-transactional statement: {what}", fixture, code, unsafe, safe)
        for what, fixture, code, unsafe, safe in (
            ("ALTER TYPE ADD VALUE used in the same transaction",
             "non-transactional-statement.py", "SM315",
             "op.execute(\"ALTER TYPE order_status ADD VALUE 'refunded'\")",
             ("op.execute(\"ALTER TYPE order_status ADD VALUE 'archived'\")",)),
            ("VACUUM", "non-transactional-statement.py", "SM315",
             'op.execute("VACUUM ANALYZE orders")', ('op.execute("VACUUM ANALYZE invoices")',)),
            ("CREATE DATABASE", "non-transactional-statement.py", "SM315",
             'op.execute("CREATE DATABASE reporting")', ("CREATE DATABASE later",)),
            ("ALTER SYSTEM", "non-transactional-statement.py", "SM315",
             "op.execute(\"ALTER SYSTEM SET work_mem = '64MB'\")", ()),
            ("REINDEX without CONCURRENTLY", "table-rewrite-maintenance.py", "SM216",
             'op.execute("REINDEX INDEX ix_orders_created_at")',
             ('op.execute("REINDEX INDEX CONCURRENTLY ix_orders_created_at")',)),
            ("DETACH PARTITION without CONCURRENTLY", "table-rewrite-maintenance.py", "SM216",
             'op.execute("ALTER TABLE events DETACH PARTITION events_2019")',
             ("DETACH PARTITION events_2020 CONCURRENTLY",)),
            ("VACUUM FULL", "table-rewrite-maintenance.py", "SM216",
             'op.execute("VACUUM FULL orders")', ('op.execute("VACUUM (ANALYZE) orders")',)),
            ("CLUSTER", "table-rewrite-maintenance.py", "SM216",
             'op.execute("CLUSTER orders USING ix_orders_created_at")',
             ("CLUSTER rebuilt",)),
        )
    ),
    Item(3, "enum ADD VALUE without BEFORE/AFTER", "enum-value-appended.py", "SM321",
         "ADD VALUE 'approved'\")", ("ADD VALUE 'in_review' AFTER 'draft'",), severity="info"),
    Item(3, "enum RENAME VALUE", "rename-enum-value.py", "SM110",
         "RENAME VALUE 'canceled' TO 'cancelled'",
         ("ADD VALUE IF NOT EXISTS 'refunded'", "RENAME VALUE 'cancelled' TO 'canceled'")),
    Item(3, "unique constraint on existing data, with the duplicates query",
         "unique-on-existing-data.py", "SM221",
         'op.create_unique_constraint("uq_users_email", "users", ["email"])',
         ('op.create_unique_constraint("uq_members_email"',
          'op.create_unique_constraint("uq_tags_name"'),
         severity="warning",
         message="SELECT email, COUNT(*) FROM users GROUP BY email HAVING COUNT(*) > 1"),
    Item(3, "drop-schema", "drop-schema.py", "SM107", 'op.execute("DROP SCHEMA reporting CASCADE")',
         ('op.execute("CREATE SCHEMA tmp_import")',
          'op.execute("DROP SCHEMA tmp_import CASCADE")')),
    Item(3, "drop-database", "drop-database.py", "SM108",
         'op.execute("DROP DATABASE IF EXISTS legacy_reports")',
         ('op.drop_table("legacy_report_rows")', "DROP DATABASE legacy_reports by hand")),
    Item(3, "drop-constraint(None) is an error", "drop-constraint-without-name.py", "SM317",
         'op.drop_constraint(None, "payments", type_="check")',
         ('op.drop_constraint("fk_orders_shop_id_shops"', 'op.drop_constraint(name, "invoices"'),
         severity="error"),
    Item(3, "swallowed DDL errors", "swallowed-ddl-error.py", "SM318",
         "except Exception:",
         ('log.error("creating ix_users_phone failed")', "except ImportError:")),
    Item(3, "no-op by typo: unknown op keywords", "unknown-op-keyword.py", "SM319",
         'op.alter_column("users", "age", type=sa.BigInteger())',
         ('op.alter_column("users", "age", type_=sa.BigInteger(), existing_type=sa.Integer())',)),
    *(
        Item(3, f"SQLAlchemy 2 breakage: {what}", "removed-sqlalchemy-api.py", "SM320",
             unsafe, (safe,))
        for what, unsafe, safe in (
            ("MetaData(bind=...)", "meta = sa.MetaData(bind=bind)", "meta = sa.MetaData()"),
            ("autoload=True", 'users = sa.Table("users", meta, autoload=True)',
             'users = sa.Table("users", meta, autoload_with=bind)'),
            ("select([...])", "sa.select([users.c.id, users.c.name])",
             "rows = bind.execute(sa.select(users.c.id, users.c.name))"),
            ("session.execute of a raw string",
             'session.execute("UPDATE users SET handle = lower(name)")',
             'session.execute(sa.text("UPDATE users SET handle = lower(name)"))'),
            ("engine.execute", "rows = bind.engine.execute(",
             "session.execute(sa.update(users).values(handle=users.c.name))"),
        )
    ),
    Item(3, "string SQL to Connection.execute", "raw-sql-string.py", "SM305",
         "conn.execute(\"UPDATE users SET plan = 'free' WHERE plan IS NULL\")",
         ('conn.execute(sa.text("UPDATE users SET plan = :plan WHERE plan IS NULL")',
          "conn.execute(query)")),
    Item(3, "info: prefer bigint keys", "prefer-bigint-key.py", "SM406",
         'op.create_table("tags", sa.Column("id", sa.Integer, primary_key=True))',
         ('sa.Column("user_id", sa.Integer(), nullable=False)',
          'op.create_table("legacy", sa.Column("id", sa.Integer(), primary_key=True))'),
         severity="info"),
    Item(3, "info: timestamptz", "prefer-timestamptz.py", "SM407",
         'sa.Column("shipped_at", sa.DateTime(), nullable=True)',
         ("sa.DateTime(timezone=True)", "timestamp with time zone"), severity="info"),
    Item(3, "info: jsonb", "prefer-jsonb.py", "SM408",
         'sa.Column("payload", sa.JSON(), nullable=True)',
         ("postgresql.JSONB(), nullable=True", 'with_variant(postgresql.JSONB(), "postgresql")'),
         severity="info"),
    Item(3, "info: drop-not-null", "drop-not-null.py", "SM113",
         'op.alter_column("users", "name", existing_type=sa.String(50), nullable=True)',
         ("existing_nullable=True, nullable=True", 'op.alter_column("users", "locale"'),
         severity="info"),
    Item(3, "info: drop-foreign-key", "drop-foreign-key.py", "SM111",
         'op.drop_constraint("fk_orders_shop_id_shops", "orders", type_="foreignkey")',
         ('op.drop_constraint("uq_orders_number"', 'op.drop_constraint("fk_tmp_links_id"'),
         severity="info"),
    Item(3, "info: alembic-utils entity ops understood", "entity-change.py", "SM112",
         "op.drop_entity(public_to_upper)", ("op.create_entity(public_active_users_v2)",),
         severity="info"),
)
# fmt: on


def _selected(path: Path, code: str) -> tuple[str, ...]:
    match = SELECT.search(path.read_text(encoding="utf-8"))
    return tuple(s.strip() for s in match[1].split(",")) if match else (code,)


@cache
def _statements(path: Path) -> list[tuple[int, int]]:
    """(first, last) line of every simple statement, and of the header of every compound
    statement and ``except`` clause."""
    spans = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.stmt | ast.ExceptHandler):
            continue
        body = getattr(node, "body", None)
        if isinstance(body, list) and body:
            spans.append((node.lineno, max(body[0].lineno - 1, node.lineno)))
        else:
            spans.append((node.lineno, node.end_lineno or node.lineno))
    return spans


def _span(path: Path, text: str) -> tuple[int, int]:
    """Where findings about the first line holding ``text`` point: the statement (or compound
    header) that line starts; for an argument line of a longer call, the lines from the
    call's start down to it."""
    lines = path.read_text(encoding="utf-8").splitlines()
    number = next((n for n, line in enumerate(lines, 1) if text in line), None)
    assert number is not None, f"{path.name} has no line with {text!r}"
    spans = _statements(path)
    starting = [(a, b) for a, b in spans if a == number]
    if starting:
        return min(starting, key=lambda s: s[1] - s[0])
    around = [(a, b) for a, b in spans if a <= number <= b]
    assert around, f"{path.name}:{number} is in no statement"
    return max(a for a, _ in around), number


def _findings(item: Item) -> tuple[Path, list[Finding]]:
    path = FIXTURES / item.fixture
    _, fixture_dialect = expected(path)
    config = LintConfig(select=_selected(path, item.code), dialect=item.dialect or fixture_dialect)
    return path, lint([path], config).findings


def test_every_item_names_a_rule_that_exists() -> None:
    codes = {rule.code for rule in all_rules()}
    assert {item.code for item in ITEMS} <= codes
    assert len({item.id for item in ITEMS}) == len(ITEMS)


@pytest.mark.parametrize("item", ITEMS, ids=lambda i: i.id)
def test_the_unsafe_form_fires_and_the_safe_forms_do_not(item: Item) -> None:
    path, findings = _findings(item)
    first, last = _span(path, item.unsafe)
    hits = [f for f in findings if f.code == item.code and first <= (f.line or 0) <= last]
    assert hits, f"{item.code} does not fire on {path.name}:{first} ({item.unsafe!r})"
    if item.severity is not None:
        assert {str(f.severity) for f in hits} == {item.severity}
    if item.message is not None:
        assert any(item.message in f.message for f in hits), [f.message for f in hits]
    for text in item.safe:
        first, last = _span(path, text)
        quiet = [f for f in findings if first <= (f.line or 0) <= last]
        assert quiet == [], f"the safe form {text!r} is flagged: {[f.message for f in quiet]}"
