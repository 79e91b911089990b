"""The comparison (:func:`flask_safemigrate.checks.compat.breaking_findings`) told which columns
the migrations rename: a rename is one ``column-renamed`` break, the old column compared with
the one it became. Both sides are described from SQLAlchemy tables as safe-upgrade describes
models; no database."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from flask_safemigrate.checks.compat import ADVICE, breaking_findings
from flask_safemigrate.models_snapshot import describe_metadata
from flask_safemigrate.report import Finding, Severity


def tables(*columns: sa.Column[Any] | sa.Constraint, name: str = "tag") -> dict[str, Any]:
    """One table ``name`` with an ``id`` key and ``columns``, described."""
    metadata = sa.MetaData()
    sa.Table(name, metadata, sa.Column("id", sa.Integer(), primary_key=True), *columns)
    described: dict[str, Any] = describe_metadata(metadata)
    return described


def renames(**pairs: str) -> Any:
    """``renamed(table, column)`` for ``tag``: ``pairs`` old name to new."""
    return lambda table, column: pairs.get(column) if table == "tag" else None


def summary(found: list[Finding]) -> list[tuple[str, str | None, str, Severity]]:
    return [
        (f.extra["change"], f.extra["column"], f.message.split(";")[0], f.severity) for f in found
    ]


OLD = tables(
    sa.Column("label", sa.String(40), nullable=False),
    sa.UniqueConstraint("label", name="uq_tag_label"),
)
NEW = tables(
    sa.Column("name", sa.String(40), nullable=False),
    sa.UniqueConstraint("name", name="uq_tag_label"),
)


def test_a_renamed_unique_not_null_column_is_one_break_with_the_rename_advice() -> None:
    (finding,) = breaking_findings(OLD, NEW, "v1", None, renames(label="name"))
    assert finding.severity is Severity.ERROR
    assert finding.extra == {
        "table": "tag",
        "column": "label",
        "change": "column-renamed",
        "bind": None,
        "renamed_to": "name",
    }
    assert finding.message == (
        "tag.label: column renamed to name; the previous release (v1) fails against the"
        " schema the migrations build"
    )
    assert finding.help == ADVICE["column-renamed"].format(t="tag", c="label", n="name")
    assert "release N+1 adds tag.name beside tag.label" in finding.help
    assert "release N+3 drops tag.label" in finding.help


def test_without_the_rename_known_it_reads_as_a_drop_and_an_addition() -> None:
    """``verify --compat-with`` reads only the schema: the comparison says what it did."""
    assert summary(breaking_findings(OLD, NEW, "v1", None)) == [
        ("column-dropped", "label", "tag.label: column dropped or renamed", Severity.ERROR),
        (
            "not-null-added",
            "name",
            "tag.name: NOT NULL column without a server default added",
            Severity.ERROR,
        ),
        ("unique-added", "name", "tag.name: unique (name) added", Severity.WARNING),
    ]


def test_what_the_rename_changed_besides_is_still_reported_of_the_new_column() -> None:
    old = tables(
        sa.Column("label", sa.String(80), nullable=True),
        sa.Column("owner", sa.Integer(), nullable=True),
        sa.UniqueConstraint("owner", "label", name="uq_tag_owner_label"),
        sa.CheckConstraint("length(label) > 0 AND label <> 'label'", name="ck_tag_label"),
    )
    new = tables(
        sa.Column("name", sa.String(40), nullable=False),
        sa.Column("owner", sa.Integer(), nullable=True),
        sa.Column("slug", sa.String(20), nullable=False),
        sa.UniqueConstraint("owner", "name", name="uq_tag_owner_label"),
        sa.CheckConstraint("length(name) > 0 AND name <> 'label'", name="ck_tag_label"),
    )
    assert summary(breaking_findings(old, new, "v1", None, renames(label="name"))) == [
        ("column-renamed", "label", "tag.label: column renamed to name", Severity.ERROR),
        (
            "made-not-null",
            "name",
            "tag.name: made NOT NULL without a server default (renamed from label)",
            Severity.ERROR,
        ),
        (
            "type-narrowed",
            "name",
            "tag.name: type narrowed: string(80) -> string(40) (renamed from label)",
            Severity.ERROR,
        ),
        # A column added besides is still one (the multi-column key and the check, renamed
        # with the column, are not).
        (
            "not-null-added",
            "slug",
            "tag.slug: NOT NULL column without a server default added",
            Severity.ERROR,
        ),
    ]


def test_a_string_literal_in_a_check_is_not_a_column() -> None:
    old = tables(
        sa.Column("label", sa.String(40)),
        sa.CheckConstraint("label <> 'label'", name="ck"),
    )
    new = tables(sa.Column("name", sa.String(40)), sa.CheckConstraint("name <> 'name'", name="ck"))
    found = breaking_findings(old, new, "v1", None, renames(label="name"))
    assert [(f.extra["change"], f.message.split(";")[0]) for f in found] == [
        ("column-renamed", "tag.label: column renamed to name"),
        ("check-added", "tag: check (name <> 'name') added"),
    ]


def test_a_rename_to_a_name_the_new_models_lack_reads_as_a_drop() -> None:
    """Renamed, then dropped (or not mapped): the old column is gone, nothing became of it."""
    new = tables(sa.Column("other", sa.String(40), nullable=True))
    assert summary(breaking_findings(OLD, new, "v1", None, renames(label="name"))) == [
        ("column-dropped", "label", "tag.label: column dropped or renamed", Severity.ERROR),
    ]


def test_names_match_whatever_their_case_and_a_swap_is_two_renames() -> None:
    old = tables(sa.Column("a", sa.String(40)), sa.Column("b", sa.String(40)))
    found = breaking_findings(old, old, "v1", None, renames(a="B", b="A"))
    assert [(f.extra["column"], f.extra["renamed_to"]) for f in found] == [("a", "b"), ("b", "a")]
    # Renamed back to its own name: nothing.
    assert breaking_findings(old, old, "v1", None, renames(a="a")) == []


def test_a_renamed_table_is_still_one_break() -> None:
    """The comparison walks the old release's tables: a table renamed is its one
    ``table-dropped`` (the new name is never compared), no triple to fold."""
    new = tables(
        sa.Column("label", sa.String(40), nullable=False),
        sa.UniqueConstraint("label", name="uq_tag_label"),
        name="tags",
    )
    assert summary(breaking_findings(OLD, new, "v1", None)) == [
        ("table-dropped", None, "tag: table dropped or renamed", Severity.ERROR),
    ]
