"""What the pending scripts drop or rename (:mod:`flask_safemigrate.compat.removals`): read
statically, so a table or column the new models stop mapping is a break only when a pending
script removes it. No database: the scripts are text."""

from __future__ import annotations

from pathlib import Path

from flask_safemigrate import history
from flask_safemigrate.compat.removals import removals_of
from tests.support.revisions import revision_script, write_revision


def scripts_of(tmp_path: Path, *upgrades: str) -> list[history.Script]:
    """One revision per ``upgrade`` body, chained, read as safe-upgrade reads its plan."""
    migrations = tmp_path / "migrations"
    (migrations / "versions").mkdir(parents=True)
    down = None
    for number, upgrade in enumerate(upgrades):
        rev = f"r{number:011d}"
        write_revision(migrations, revision_script(rev, down, upgrade, "pass"))
        down = rev
    graph = history.load_graph([migrations / "versions"])
    return sorted(graph.scripts.values(), key=lambda script: script.revision)


def test_drops_and_renames_by_operation(tmp_path: Path) -> None:
    scripts = scripts_of(
        tmp_path,
        'op.drop_table("Orders")',
        'op.rename_table("carts", "baskets")',
        """
        with op.batch_alter_table("users") as batch_op:
            batch_op.drop_column("legacy")
            batch_op.alter_column("name", new_column_name="display_name")
            batch_op.alter_column("email", nullable=False)
        op.drop_column("items", "slug", schema="shop")
        """,
    )
    removed = removals_of(scripts, "postgresql")
    assert removed.tables == {"orders", "carts"}
    assert removed.columns == {("users", "legacy"), ("users", "name"), ("items", "slug")}
    assert removed.unknown == set()
    assert removed.drops_table("orders") and not removed.drops_table("users")
    assert removed.drops_column("users", "legacy")
    assert not removed.drops_column("users", "email")  # made NOT NULL, not removed
    assert removed.drops_column("shop.items", "slug")


def test_raw_sql_counts_for_its_whole_table(tmp_path: Path) -> None:
    scripts = scripts_of(
        tmp_path,
        """
        op.execute("ALTER TABLE users DROP COLUMN legacy")
        op.execute("DROP TABLE IF EXISTS audit")
        op.execute("ALTER TABLE items ADD COLUMN note TEXT")
        op.execute("UPDATE accounts SET x = 1")
        op.execute("ALTER TABLE block_data  RENAME TO block;")
        op.execute("RENAME TABLE carts TO baskets, `Wish` TO wishes")
        """,
    )
    removed = removals_of(scripts, "postgresql")
    # A table renamed in SQL goes as a whole (its old name is no longer there).
    assert removed.tables == {"audit", "block_data", "carts", "wish"}
    assert removed.drops_table("block_data") and not removed.drops_table("block")
    assert removed.unknown == {"users"}
    assert removed.drops_column("users", "anything")
    assert not removed.drops_column("items", "note")
    assert not removed.drops_column("accounts", "x")


def test_downgrade_and_other_dialects_are_not_the_plan(tmp_path: Path) -> None:
    script = revision_script(
        "r00000000000",
        None,
        """
        if op.get_bind().dialect.name == "sqlite":
            op.drop_table("only_on_sqlite")
        """,
        'op.drop_table("users")',
    )
    migrations = tmp_path / "migrations"
    (migrations / "versions").mkdir(parents=True)
    write_revision(migrations, script)
    scripts = list(history.load_graph([migrations / "versions"]).scripts.values())
    assert removals_of(scripts, "postgresql").tables == set()
    assert removals_of(scripts, "sqlite").tables == {"only_on_sqlite"}


def test_an_unreadable_script_adds_nothing(tmp_path: Path) -> None:
    scripts = scripts_of(tmp_path, 'op.drop_table("users")')
    scripts[0].path.write_text("def upgrade(:\n", encoding="utf-8")
    assert removals_of(scripts, None).tables == set()


def test_a_table_held_by_a_variable_may_be_any_table(tmp_path: Path) -> None:
    """A drop or rename whose table is a variable the script does not fill with literals (a
    list read at run time) counts for every table: reading it as nothing let a running
    release that maps the table pass."""
    loops = scripts_of(
        tmp_path,
        """
        for old, new in zip(old_names(), new_names()):
            op.rename_table(old, new)
        """,
    )
    removed = removals_of(loops, "postgresql")
    assert removed.any_table
    assert removed.drops_table("anything") and removed.drops_column("anything", "id")

    columns = scripts_of(
        tmp_path / "columns",
        """
        for table_name in resource_tables():
            with op.batch_alter_table(table_name) as batch_op:
                batch_op.drop_column("access_control")
        """,
    )
    removed = removals_of(columns, "postgresql")
    assert not removed.any_table and not removed.drops_table("users")
    assert removed.drops_column("users", "access_control")
    assert not removed.drops_column("users", "email")

    literal = scripts_of(
        tmp_path / "literal",
        """
        for name in ("carts", "wishes"):
            op.drop_table(name)
        """,
    )
    removed = removals_of(literal, "postgresql")
    assert removed.tables == {"carts", "wishes"} and not removed.drops_table("users")


def test_renamed_columns_keep_their_new_names(tmp_path: Path) -> None:
    """A rename is read with its new name (the comparison folds the old column into it), in
    each form a script writes it; a column renamed twice has its last name, from either of
    its earlier ones."""
    scripts = scripts_of(
        tmp_path,
        """
        op.alter_column("tag", "Label", new_column_name="name", schema="shop")
        with op.batch_alter_table("users") as batch_op:
            batch_op.alter_column("nick", new_column_name="handle")
        op.execute("ALTER TABLE items RENAME COLUMN sku TO code;ALTER TABLE items RENAME note TO x")
        op.execute("ALTER TABLE `orders` CHANGE COLUMN `total` `amount` INT NOT NULL")
        op.execute("ALTER TABLE carts CHANGE qty qty BIGINT")
        """,
        'op.alter_column("users", "handle", new_column_name="screen_name")',
        'op.alter_column("items", "code", new_column_name="code")',
    )
    removed = removals_of(scripts, "postgresql")
    assert removed.renamed == {
        ("tag", "label"): "name",
        ("users", "nick"): "screen_name",
        ("users", "handle"): "screen_name",  # a snapshot taken between the two renames
        ("items", "sku"): "code",
        ("items", "note"): "x",
        ("orders", "total"): "amount",
    }
    assert removed.renamed_column("shop.tag", "label") == "name"
    assert removed.renamed_column("users", "NICK") == "screen_name"
    assert removed.renamed_column("users", "email") is None
    # The old names are gone as before; a renamed column's table is not unknown as a whole.
    assert removed.drops_column("items", "sku") and not removed.drops_column("items", "price")
    # A CHANGE that keeps the name redefines the column: its table counts as a whole, as before.
    assert removed.unknown == {"carts"}


def test_a_renamed_column_renamed_back_keeps_its_name(tmp_path: Path) -> None:
    scripts = scripts_of(
        tmp_path,
        'op.alter_column("tag", "label", new_column_name="name")',
        'op.alter_column("tag", "name", new_column_name="label")',
    )
    removed = removals_of(scripts, None)
    assert removed.renamed_column("tag", "label") is None
    # A snapshot taken between the two maps ``name``: the second rename is its break.
    assert removed.renamed_column("tag", "name") == "label"


def test_a_rename_on_a_table_held_by_a_variable_is_on_any_table(tmp_path: Path) -> None:
    scripts = scripts_of(
        tmp_path,
        """
        for table_name in resource_tables():
            with op.batch_alter_table(table_name) as batch_op:
                batch_op.alter_column("owner", new_column_name="owner_id")
        """,
    )
    removed = removals_of(scripts, "postgresql")
    assert removed.renamed_column("anything", "owner") == "owner_id"
    assert removed.renamed_column("anything", "email") is None
