"""SM401 singular-table-name: A new table is singular in a project whose tables are plural."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping

import inflection

from flask_safemigrate.lint.index import op_facts
from flask_safemigrate.lint.model import Migration, Rule, Violation
from flask_safemigrate.lint.registry import register
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


# The app's models do not change during a lint run: their verdict is kept with them.
_CONVENTION: list[tuple[Mapping[str, frozenset[str]], bool]] = []


def _mostly_plural(mapped: Mapping[str, frozenset[str]]) -> bool:
    """Whether more of the models' tables have a plural name than a singular one
    (uncountable names, ``data`` or ``news``, count for neither)."""
    cached = _CONVENTION[0] if _CONVENTION else None  # one read: safe under threads
    if cached is not None and cached[0] is mapped:
        return cached[1]
    plural = singular = 0
    for table in mapped:
        words = _words(table)
        if not words:
            continue
        if _singular_word(table) is not None:
            singular += 1
        elif any(_strictly_plural(w) for w in words):
            plural += 1
    verdict = plural > singular
    _CONVENTION[:] = [(mapped, verdict)]
    return verdict


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
    """A new table (or a table's new name) is singular in a project whose tables are plural.

    ## What it does
    Reports `op.create_table(...)` and the new name of `op.rename_table(...)` in `upgrade()`
    when the name is singular and the project names its tables in the plural: it says so
    with `plural-tables = true` in `[tool.safemigrate.lint]`, or, left unset, most of the
    app's models' tables have plural names (`flask db lint` reads them; `safemigrate lint`
    and the pre-flight do not, and report nothing unless the setting is true). Flask-SQLAlchemy
    names a model's table after its class (`class BlogPost` -> `blog_post`), so a Flask app
    that never sets `__tablename__` is singular throughout and is not flagged;
    `plural-tables = false` turns the rule off. The last word of the name decides
    (`user_roles` is fine, `user_role` is not), judged with the `inflection` library, so
    irregular plurals (`people`) and uncountable nouns (`data`, `information`, `series`,
    `news`) pass, and so does a name whose earlier word is plural (`users_archive`).
    Downgrades are not checked: they restore names chosen long ago.

    ## Why it matters
    A schema that mixes `user` and `orders` makes every query and join a guess, and the
    inconsistency spreads to models, APIs and reports. A model added without a
    `__tablename__` to an app whose other models set plural names is the usual way in.

    ## Example
    ```python
    # the app's other tables: users, orders, invoices
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
    fix = (
        "use the plural form of the table name (`__tablename__` on the model), or set"
        " plural-tables = false in [tool.safemigrate.lint] (SAFEMIGRATE_LINT_PLURAL_TABLES)"
        " if the project names tables in the singular"
    )

    requires = (op_facts("create_table", "rename_table", receivers=("op",), upgrade=True),)

    def check(self, migration: Migration) -> Iterator[Violation]:
        config = migration.config
        if config.plural_tables is None:
            if not config.mapped or not _mostly_plural(config.mapped):
                return
            convention = "most of the app's tables are named in the plural"
        elif config.plural_tables:
            convention = "tables are named in the plural here (plural-tables = true)"
        else:
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
                    f"{verb} {table}, a singular name; {convention} (`{_pluralized(table, word)}`)",
                    node=call.node,
                )
