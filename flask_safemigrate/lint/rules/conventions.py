"""Lint rules: conventions (4xx)."""

from __future__ import annotations

import ast
import functools
import re
import string
from collections.abc import Iterator
from datetime import datetime

import inflection

from flask_safemigrate.lint.calls import Call, column_calls, dotted, keyword, literal
from flask_safemigrate.lint.engine import Migration, Rule, Violation
from flask_safemigrate.lint.index import op_facts
from flask_safemigrate.lint.rules import register
from flask_safemigrate.lint.rules.correctness import (
    calls_by_function,
    has_kwargs,
    last_name,
    migration_functions,
)
from flask_safemigrate.report import Severity

# Mass nouns that `inflection` pluralises ("feedbacks") although a table of them is named
# in the singular; `inflection.UNCOUNTABLES` covers the rest (information, equipment, ...).
_MASS_NOUNS = frozenset(
    {
        "advice",
        "baggage",
        "evidence",
        "feedback",
        "furniture",
        "hardware",
        "homework",
        "knowledge",
        "luggage",
        "music",
        "personnel",
        "progress",
        "research",
        "software",
        "staff",
        "traffic",
        "weather",
    }
)


def _words(table: str) -> list[str]:
    """The words of a table name (snake_case or CamelCase); parts with digits are dropped."""
    base = table.rsplit(".", 1)[-1]
    words = re.split(r"[^a-z0-9]+", inflection.underscore(base))
    return [w for w in words if w.isalpha() and len(w) > 1]


@functools.lru_cache(maxsize=4096)  # inflection tries dozens of regexes per word
def _is_plural(word: str) -> bool:
    """Plural (``users``, ``people``), uncountable (``data``, ``news``) or a mass noun."""
    word = word.lower()
    if word in _MASS_NOUNS:
        return True
    return inflection.pluralize(word) == word or inflection.singularize(word) != word


@functools.lru_cache(maxsize=4096)
def _strictly_plural(word: str) -> bool:
    """A countable word in its plural form (``users``), not an uncountable one (``news``)."""
    word = word.lower()
    return inflection.singularize(word) != word and inflection.pluralize(word) == word


def _singular_word(table: str) -> str | None:
    """The word that makes the table name singular, or ``None`` when the name is plural.

    The last word decides (``user_roles`` is plural, ``user_role`` is not); a name whose
    earlier word is already a plural (``users_old``, ``users_backup``) is accepted.
    """
    words = _words(table)
    if not words:
        return None
    last = words[-1]
    if _is_plural(last) or any(_strictly_plural(w) for w in words[:-1]):
        return None
    return last


@functools.lru_cache(maxsize=4096)
def _plural(word: str) -> str:
    return inflection.pluralize(word)


def _pluralized(table: str, word: str) -> str:
    at = table.lower().rfind(word)
    if at < 0:
        return _plural(table)
    return table[:at] + _plural(table[at : at + len(word)]) + table[at + len(word) :]


@register
class SingularTableName(Rule):
    """A new table (or a table's new name) is singular.

    ## What it does
    Reports `op.create_table(...)` and the new name of `op.rename_table(...)` in `upgrade()`
    when the name is singular. The last word of the name decides (`user_roles` is fine,
    `user_role` is not), judged with the `inflection` library, so irregular plurals
    (`people`) and uncountable nouns (`data`, `information`, `series`, `news`) pass, and so
    does a name whose earlier word is plural (`users_archive`). Downgrades are not checked:
    they restore names chosen long ago. Turn it off with `plural-tables = false` in
    `[tool.safemigrate.lint]` if your project names tables in the singular.

    ## Why it matters
    A schema that mixes `user` and `orders` makes every query and join a guess, and the
    inconsistency spreads to models, APIs and reports. Plural table names are the
    convention most Flask and SQLAlchemy projects follow (a table holds many rows).

    ## Example
    ```python
    op.create_table("user_role", sa.Column("id", sa.Integer(), primary_key=True))
    ```

    ## Use instead
    ```python
    op.create_table("user_roles", sa.Column("id", sa.Integer(), primary_key=True))
    ```
    """

    code = "SM401"
    name = "singular-table-name"
    severity = Severity.WARNING
    fix = "use the plural form of the table name, or set plural-tables = false"

    requires = (op_facts("create_table", "rename_table", receivers=("op",), upgrade=True),)

    def check(self, migration: Migration) -> Iterator[Violation]:
        if not migration.config.plural_tables:
            return
        for call in migration.upgrade_calls:
            if call.receiver != "op":
                continue
            if call.name == "create_table":
                table, verb = call.string("table_name"), "creates"
            elif call.name == "rename_table":
                table, verb = call.string("new_table_name"), "renames a table to"
            else:
                continue
            if not table:
                continue
            word = _singular_word(table)
            if word is not None:
                yield Violation(
                    f"{verb} {table}, a singular name; tables are named in the plural "
                    f"(`{_pluralized(table, word)}`)",
                    node=call.node,
                )


# A message made only of these words (and numbers) says nothing about the change.
_VAGUE_WORDS = frozenset(
    {
        "auto",
        "autogenerate",
        "autogenerated",
        "change",
        "changes",
        "database",
        "db",
        "empty",
        "fix",
        "fixes",
        "message",
        "migrate",
        "migration",
        "migrations",
        "minor",
        "misc",
        "model",
        "models",
        "new",
        "none",
        "revision",
        "schema",
        "some",
        "stuff",
        "temp",
        "test",
        "tmp",
        "update",
        "updates",
        "various",
        "wip",
    }
)
_PUNCTUATION = str.maketrans(dict.fromkeys(string.punctuation, " "))


@register
class VagueMessage(Rule):
    """The revision's message is missing or says nothing.

    ## What it does
    Reads the revision message (the first line of the script's docstring, which
    `flask db migrate -m` writes) and reports it when it is missing or made only of generic
    words: `empty message` (what Flask-Migrate writes when `-m` is not given), `None`,
    `update`, `changes`, `fix`, `WIP: db changes`, `migration`, `auto`, `test`, `tmp`,
    `misc`, `update models` and the like, compared case-insensitively without punctuation.
    "Initial migration" is a fine message for a first revision.

    ## Why it matters
    The message is what `flask db history`, the file name and a reviewer see. During an
    incident, "empty message" does not say which revision added the column that is now
    failing, or whether it is safe to roll back.

    ## Example
    ```python
    '''empty message

    Revision ID: 3f2a1b9c8d7e
    '''
    ```

    ## Use instead
    ```python
    '''add email to users

    Revision ID: 3f2a1b9c8d7e
    '''
    ```
    (`flask db migrate -m "add email to users"`)
    """

    code = "SM402"
    name = "vague-message"
    severity = Severity.WARNING
    fix = (
        'describe the change in the first docstring line (flask db migrate -m "add email to users")'
    )

    def check(self, migration: Migration) -> Iterator[Violation]:
        if migration.info is None:
            return  # not a revision script (no `revision = ...`)
        message = migration.info.message
        if message is not None and message.lower().startswith("revision id:"):
            message = None  # `-m ""`: the docstring starts with the identifiers
        if message is None:
            yield Violation(
                "the revision has no message; `flask db history` and reviewers cannot tell "
                "what it does",
                line=1,
                col=1,
            )
            return
        words = message.lower().translate(_PUNCTUATION).split()
        if all(word in _VAGUE_WORDS or word.isdigit() for word in words):
            yield Violation(
                f"the revision message {message!r} does not say what the migration changes",
                line=1,
                col=1,
            )


# Operations that take ``schema=`` (create_foreign_key takes ``source_schema=``).
_SCHEMA_OPS = frozenset(
    {
        "create_table",
        "drop_table",
        "rename_table",
        "add_column",
        "drop_column",
        "alter_column",
        "create_index",
        "drop_index",
        "create_unique_constraint",
        "create_check_constraint",
        "create_primary_key",
        "create_exclude_constraint",
        "drop_constraint",
        "create_foreign_key",
        "create_table_comment",
        "drop_table_comment",
    }
)


@register
class MissingSchema(Rule):
    """An operation does not name the project's schema.

    ## What it does
    Only when `schema` is configured (`schema = "app"` in `[tool.safemigrate.lint]`):
    reports `op.*` operations that accept `schema=` (`create_table`, `drop_table`,
    `add_column`, `drop_column`, `alter_column`, `create_index`, `drop_index`, the
    constraint operations, `rename_table`; `source_schema=` for `create_foreign_key`) and
    `op.batch_alter_table(...)` blocks called without it or with a different schema. A
    `batch_op` operation takes its schema from its block, so the block is reported.

    ## Why it matters
    Without a schema the table lands in whatever schema is first in the connection's
    `search_path` (PostgreSQL) or in the connection's default database: usually `public`,
    not the application's schema. The migration succeeds, the application does not see
    the table, and the next autogenerate wants to create it again.

    ## Example
    ```python
    op.add_column("users", sa.Column("email", sa.String(120)))
    ```

    ## Use instead
    ```python
    op.add_column("users", sa.Column("email", sa.String(120)), schema="app")
    ```
    """

    code = "SM403"
    name = "missing-schema"
    severity = Severity.WARNING
    fix = "pass schema= (the configured schema) to the operation or its batch_alter_table"

    def check(self, migration: Migration) -> Iterator[Violation]:
        expected = migration.config.schema
        if not expected:
            return
        for call in migration.calls:
            if call.receiver != "op" or call.name not in _SCHEMA_OPS or has_kwargs(call.node):
                continue
            param = "source_schema" if call.name == "create_foreign_key" else "schema"
            problem = self._problem(keyword(call.node, param), expected, param)
            if problem is not None:
                yield Violation(
                    f"op.{call.name}() on {call.table or 'a table'} {problem}", node=call.node
                )
        if "batch_alter_table" not in migration.source:
            return
        for _, function in migration_functions(migration.tree):
            for node in ast.walk(function):
                if (
                    isinstance(node, ast.Call)
                    and dotted(node.func) == "op.batch_alter_table"
                    and not has_kwargs(node)
                ):
                    value = keyword(node, "schema")
                    if value is None and len(node.args) > 1:
                        value = node.args[1]
                    problem = self._problem(value, expected, "schema")
                    if problem is not None:
                        table = literal(node.args[0]) if node.args else None
                        name = table if isinstance(table, str) else "a table"
                        yield Violation(f"op.batch_alter_table() on {name} {problem}", node=node)

    @staticmethod
    def _problem(value: ast.expr | None, expected: str, param: str) -> str | None:
        schema = literal(value)
        if value is None or schema is None:
            return (
                f"has no {param}=, so it acts on the connection's default schema instead of "
                f"{expected!r}"
            )
        if isinstance(schema, str) and schema != expected:
            return f"uses {param}={schema!r}, not the configured schema {expected!r}"
        return None  # the expected schema, or decided at run time


def _strings(value: object) -> tuple[str, ...] | None:
    if isinstance(value, list | tuple) and value and all(isinstance(v, str) for v in value):
        return tuple(value)
    return None


class _Keys:
    """The indexed column lists per table, and the foreign keys to check, of one function."""

    def __init__(self) -> None:
        self.indexed: dict[str | None, list[tuple[str, ...]]] = {}
        self.foreign: list[tuple[str | None, tuple[str, ...], ast.AST]] = []

    def index(self, table: str | None, columns: tuple[str, ...] | None) -> None:
        if columns:
            self.indexed.setdefault(table, []).append(columns)

    def covered(self, table: str | None, columns: tuple[str, ...]) -> bool:
        wanted = set(columns)
        return any(
            len(index) >= len(columns) and set(index[: len(columns)]) == wanted
            for index in self.indexed.get(table, ())
        )

    def column(self, table: str | None, column: ast.Call) -> str | None:
        """Record what one ``sa.Column`` indexes and references; returns its name."""
        name = literal(column.args[0]) if column.args else literal(keyword(column, "name"))
        if not isinstance(name, str):
            return None
        if any(literal(keyword(column, flag)) is True for flag in ("index", "unique")):
            self.index(table, (name,))
        for arg in column.args:
            if isinstance(arg, ast.Call) and last_name(arg.func) == "ForeignKey":
                self.foreign.append((table, (name,), arg))
        return name

    def table_items(self, call: Call) -> None:
        table = call.table
        primary: list[str] = []
        items = [*call.node.args[1:], *(k.value for k in call.node.keywords)]
        for item in items:
            if not isinstance(item, ast.Call):
                continue
            kind = last_name(item.func)
            if kind == "Column":
                name = self.column(table, item)
                if name is not None and literal(keyword(item, "primary_key")) is True:
                    primary.append(name)
            elif kind in {"PrimaryKeyConstraint", "UniqueConstraint"}:
                self.index(table, _strings([literal(a) for a in item.args]))
            elif kind == "Index":
                self.index(table, _strings([literal(a) for a in item.args[1:]]))
            elif kind == "ForeignKeyConstraint" and item.args:
                columns = _strings(literal(item.args[0]))
                if columns:
                    self.foreign.append((table, columns, item))
        self.index(table, tuple(primary))


@register
class ForeignKeyWithoutIndex(Rule):
    """A foreign key is created without an index on its columns.

    ## What it does
    In each `upgrade()`, finds foreign keys: `sa.ForeignKey(...)` in a column of
    `create_table`/`add_column`, `sa.ForeignKeyConstraint([...], ...)` in `create_table`, and
    `create_foreign_key(...)` (`op` and `batch_op`). Reports those whose local columns are not
    the leading columns of an index created in the same function: `create_index`, `sa.Index`
    in the table, `index=True` or `unique=True` on the column, the primary key, or a unique
    constraint. Downgrades are not checked: they restore keys whose indexes usually still
    exist.

    ## Why it matters
    PostgreSQL (and SQLite) do not index foreign keys. Every delete or key update on the
    parent table then scans the whole child table to check references, under lock, and
    joins from parent to children scan as well: fine in development, an outage at
    scale. MySQL creates such an index implicitly, so an explicit one also keeps the schema
    the same on every database.

    ## Example
    ```python
    op.add_column("orders", sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id")))
    ```

    ## Use instead
    ```python
    op.add_column(
        "orders",
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", name="fk_orders_user_id")),
    )
    op.create_index("ix_orders_user_id", "orders", ["user_id"])
    ```
    """

    code = "SM404"
    name = "foreign-key-without-index"
    severity = Severity.WARNING
    fix = "create an index on the foreign key's columns (op.create_index or index=True)"

    requires = (
        op_facts("create_foreign_key", upgrade=True) | {"ForeignKey", "ForeignKeyConstraint"},
    )

    def check(self, migration: Migration) -> Iterator[Violation]:
        for direction, _, calls in calls_by_function(migration):
            if direction != "upgrade":
                continue
            keys = _Keys()
            for call in calls:
                if call.receiver == "connection":
                    continue
                if call.name == "create_table" and call.receiver == "op":
                    keys.table_items(call)
                elif call.name == "add_column":
                    node = call.param("column")
                    for column in column_calls(node) if node is not None else ():
                        keys.column(call.table, column)
                elif call.name in {
                    "create_index",
                    "create_unique_constraint",
                    "create_primary_key",
                }:
                    keys.index(call.table, _strings(call.value("columns")))
                elif call.name == "create_foreign_key":
                    columns = _strings(call.value("local_cols"))
                    if columns:
                        keys.foreign.append((call.table, columns, call.node))
            for table, columns, key in keys.foreign:
                if not keys.covered(table, columns):
                    yield Violation(
                        f"foreign key on {table or '?'}({', '.join(columns)}) has no index on "
                        "those columns; deletes on the referenced table scan the whole table",
                        node=key,
                    )


_FILE_NAME = re.compile(r"(\d{4})_(\d{2})_(\d{2})_(\d{2})(\d{2})_(.+)\.py")
_SLUG = re.compile(r"[a-z0-9]+(?:_[a-z0-9]+)*")


def _slug(message: str | None) -> str:
    """Alembic's slug of a message (``%(slug)s``, truncated to 40 characters)."""
    words = re.findall(r"\w+", message or "", flags=re.UNICODE)
    slug = "_".join(words).lower()
    if len(slug) > 40:
        slug = slug[:40].rsplit("_", 1)[0] or slug[:40]
    return slug or "migration"


def _suggestion(migration: Migration) -> str:
    info = migration.info
    assert info is not None
    stamp = None
    if info.create_date:
        try:
            stamp = datetime.fromisoformat(info.create_date.strip())
        except ValueError:
            stamp = None
    prefix = stamp.strftime("%Y_%m_%d_%H%M") if stamp else "YYYY_MM_DD_HHMM"
    return f"{prefix}_{info.revision}_{_slug(info.message)}.py"


def _name_problem(file_name: str, revision: str) -> str | None:
    """What is wrong with a script's file name, or ``None`` when it follows the convention."""
    match = _FILE_NAME.fullmatch(file_name)
    if match is None:
        return "does not start with a YYYY_MM_DD_HHMM_ timestamp"
    year, month, day, hour, minute, rest = match.groups()
    try:
        datetime(int(year), int(month), int(day), int(hour), int(minute))
    except ValueError:
        return (
            f"starts with {year}_{month}_{day}_{hour}{minute}, which is not a valid date and time"
        )
    if not rest.startswith(revision + "_"):
        return f"does not carry the script's revision id {revision} after the timestamp"
    if _SLUG.fullmatch(rest[len(revision) + 1 :]) is None:
        return "does not end in a lowercase slug of [a-z0-9_]"
    return None


@register
class FileNameConvention(Rule):
    """The script's file name is not `YYYY_MM_DD_HHMM_<revision>_<slug>.py`.

    ## What it does
    Off by default. Reports a script whose file name is not a valid date and time
    (`YYYY_MM_DD_HHMM`), then the script's own revision id, then a lowercase slug of
    `[a-z0-9_]`. That is what Alembic writes with
    `file_template = %%(year)d_%%(month).2d_%%(day).2d_%%(hour).2d%%(minute).2d_%%(rev)s_%%(slug)s`
    in `alembic.ini`.

    ## Why it matters
    Alembic orders scripts by their revision graph, but people read the directory: with
    dated names the listing is the history, merge conflicts between branches show up next
    to each other, and a file whose name carries another revision id (a copied script)
    stands out.

    ## Example
    ```text
    migrations/versions/3f2a1b9c8d7e_.py
    migrations/versions/add users.py
    ```

    ## Use instead
    ```text
    migrations/versions/2024_05_14_0932_3f2a1b9c8d7e_add_users.py
    ```
    """

    code = "SM405"
    name = "file-name-convention"
    severity = Severity.WARNING
    default_enabled = False
    fix = (
        "rename the file to YYYY_MM_DD_HHMM_<revision>_<slug>.py (set file_template in alembic.ini)"
    )

    def check(self, migration: Migration) -> Iterator[Violation]:
        if migration.info is None:
            return
        name = migration.path.name
        problem = _name_problem(name, migration.info.revision)
        if problem is not None:
            yield Violation(
                f"file name {name} {problem}; expected YYYY_MM_DD_HHMM_<revision>_<slug>.py, "
                f"such as {_suggestion(migration)}",
                line=1,
                col=1,
            )
