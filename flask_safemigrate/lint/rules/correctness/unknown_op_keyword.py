"""SM319 unknown-op-keyword: a keyword the Alembic operation does not take (a typo)."""

from __future__ import annotations

import difflib
from collections.abc import Iterator

from flask_safemigrate.lint.helpers.op_receivers import signatures_of
from flask_safemigrate.lint.model import Migration, Rule, Violation
from flask_safemigrate.lint.patterns import compiled_later
from flask_safemigrate.lint.registry import register
from flask_safemigrate.report import Severity

# Keywords a dialect reads (``postgresql_using``, ``mysql_engine``): valid wherever **kw is.
_DIALECT_KEYWORD = compiled_later(r"^(?:postgresql|mysql|mariadb|sqlite|mssql|oracle)_\w+$")
# Operations whose **kw reaches code that ignores what it does not know (checked against
# Alembic 1.20 in offline mode; the others raise TypeError).
_IGNORES_UNKNOWN = frozenset({"alter_column", "drop_column", "create_exclude_constraint"})
# ``alter_column(default=...)`` mirrors the model's Python-side default, which the ORM applies:
# nothing is lost unless the database's default (``server_default=``) was meant. A warning.
_MODEL_MIRROR = frozenset({("alter_column", "default")})


@register
class UnknownOpKeyword(Rule):
    """A keyword argument the Alembic operation does not accept: a typo that does nothing or
    fails at deploy time.

    ## What it does
    Checks the keyword arguments of `op.*` and `batch_op.*` calls against the signatures of
    the installed Alembic (and of the SQLAlchemy construct an operation passes `**kw` on to),
    read with `inspect` into a committed table. Dialect keywords (`postgresql_using`,
    `mysql_engine`) are accepted wherever the operation takes `**kw`.

    ## Why it matters
    `op.alter_column("users", "age", type=sa.BigInteger())` is a no-op: `alter_column` takes
    `type_`, passes the unknown `type` on, and nothing reads it, so the migration "succeeds"
    and the column keeps its type; `drop_column(..., if_exist=True)` ignores its typo the same
    way. Elsewhere an unknown keyword raises `TypeError` when the migration runs, at deploy
    time, after the steps before it.

    `alter_column(..., default=...)` is a warning, not an error: it also does nothing, but it
    usually restates the model's Python-side default, which the ORM applies on insert; it is a
    problem only when the database's default (`server_default=`) was meant, which the script
    does not say.

    ## Example
    ```python
    def upgrade():
        op.alter_column("users", "age", type=sa.BigInteger(), nullabel=False)
    ```

    ## Use instead
    ```python
    def upgrade():
        op.alter_column("users", "age", type_=sa.BigInteger(), nullable=False)
    ```
    """

    code = "SM319"
    name = "unknown-op-keyword"
    fix = "use the keyword Alembic's operation takes (see the suggestion or Alembic's docs)"

    def check(self, migration: Migration) -> Iterator[Violation]:
        for call in migration.calls:
            signatures = signatures_of(call.receiver)
            if signatures is None or call.name not in signatures:
                continue
            names, takes_more = signatures[call.name]
            for keyword in call.node.keywords:
                name = keyword.arg
                if name is None or name in names:
                    continue
                if takes_more and _DIALECT_KEYWORD.match(name):
                    continue
                close = difflib.get_close_matches(name, sorted(names), n=1, cutoff=0.6)
                hint = f" (did you mean {close[0]}=?)" if close else ""
                at_most = None
                if takes_more and call.name in _IGNORES_UNKNOWN:
                    effect = "Alembic passes it on and nothing reads it, so it does nothing"
                    if (call.name, name) in _MODEL_MIRROR:
                        at_most = Severity.WARNING
                        effect += " (the model's Python-side default still applies on insert)"
                else:
                    effect = "the call fails with TypeError when the migration runs"
                yield Violation(
                    f"{call.receiver}.{call.name}() takes no keyword {name}={hint}: {effect}",
                    node=keyword,
                    help=f"use {close[0]}=" if close else None,
                    at_most=at_most,
                )
