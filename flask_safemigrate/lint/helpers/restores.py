"""Whether a ``downgrade()`` op puts back what the same script's ``upgrade()`` took away.

Autogenerate's downgrade restores the previous schema: it re-adds the NOT NULL column the
upgrade dropped, sets NOT NULL again where the upgrade dropped it, re-creates the check
constraint the upgrade removed. The schema it restores was the one in production before the
upgrade; the lock rules have nothing to add about putting it back (and there is no other
way to restore it), so they skip these ops and keep judging everything else a downgrade does.
"""

from __future__ import annotations

from collections.abc import Callable

from flask_safemigrate.lint.calls import Call
from flask_safemigrate.lint.helpers.arguments import name_value
from flask_safemigrate.lint.model import Migration
from flask_safemigrate.lint.sql import ident


def _same(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and ident(a) == ident(b)


def restores(migration: Migration, call: Call, undoes: Callable[[Call], bool]) -> bool:
    """Whether ``call`` is in ``downgrade()`` and an upgrade op on the same table is one it
    undoes (``undoes(upgrade_call)``)."""
    if call.direction != "downgrade":
        return False
    return any(_same(up.table, call.table) and undoes(up) for up in migration.upgrade_calls)


def restores_not_null(migration: Migration, call: Call, column: str | None) -> bool:
    """A downgrade's SET NOT NULL on a column whose NOT NULL the upgrade dropped."""
    return restores(
        migration,
        call,
        lambda up: (
            up.name == "alter_column" and up.value("nullable") is True and _same(up.column, column)
        ),
    )


def restores_column(migration: Migration, call: Call, column: str | None) -> bool:
    """A downgrade's ``add_column`` of a column the upgrade dropped."""
    return restores(
        migration, call, lambda up: up.name == "drop_column" and _same(up.column, column)
    )


def restores_constraint(migration: Migration, call: Call) -> bool:
    """A downgrade's create of a named constraint the upgrade dropped."""
    name = name_value(call.param("constraint_name"))
    if not isinstance(name, str):
        return False
    return restores(
        migration,
        call,
        lambda up: (
            up.name == "drop_constraint" and _same(name_value(up.param("constraint_name")), name)
        ),
    )
