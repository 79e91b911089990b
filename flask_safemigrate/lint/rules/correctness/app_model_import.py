"""SM311 app-model-import: The migration imports the application's models or its `db` object."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from flask_safemigrate.lint.calls import dotted, nodes_below
from flask_safemigrate.lint.helpers.functions import module_nodes_of, statements
from flask_safemigrate.lint.model import Migration, Rule, Violation
from flask_safemigrate.lint.registry import register
from flask_safemigrate.report import Severity

_MODEL_SEGMENTS = frozenset({"models", "model"})
_LIBRARY_ROOTS = frozenset(
    {
        "sqlalchemy",
        "alembic",
        "flask_sqlalchemy",
        "flask_migrate",
        "flask_safemigrate",
        # Libraries that ship models of their own: their classes are not the app's.
        "flask_appbuilder",
        "flask_security",
        "flask_user",
        "flask_login",
        "sqlalchemy_utils",
        "geoalchemy2",
        "sqlmodel",
        "alembic_utils",
    }
)


@register
class AppModelImport(Rule):
    """The migration imports the application's models or its `db` object.

    ## What it does
    Reports imports (at module level or inside functions) of a module whose dotted path has
    a `models` or `model` segment (`from app.models import User`, `import shop.models`,
    `from ..models import Order`), of `models`/`model` from a package (`from app import
    models`), and of `db` (`from app import db`, `from app.extensions import db`). SQLAlchemy,
    Alembic, the Flask extensions themselves and libraries with models of their own
    (`flask_appbuilder`, `sqlalchemy_utils`, ...) are not reported. Nor is an import whose
    names the script only uses in ways that do not depend on today's models: `db.Session`,
    `db.func` and column types from `db` (not `db.session`, `db.Model` or `db.metadata`); a
    model's `__tablename__`; a column type given to `sa.Column(...)`; and constants
    (`ID_LEN`) or functions (`naming_convention`) imported from a models module.

    ## Why it matters
    A migration must describe the schema as it was on the day it was written. Models keep
    changing: when a column is later renamed or removed, the old migration that queried
    through the model breaks, and a fresh database can no longer be built from the history.
    Importing the application also runs its import-time code, configuration and side effects
    inside the migration.

    ## Example
    ```python
    from app.models import User


    def upgrade():
        for user in User.query.all():
            ...
    ```

    ## Use instead
    ```python
    users = sa.table("users", sa.column("id", sa.Integer), sa.column("plan", sa.String))


    def upgrade():
        op.execute(users.update().where(users.c.plan.is_(None)).values(plan="free"))
    ```
    """

    code = "SM311"
    name = "app-model-import"
    severity = Severity.ERROR
    fix = "describe the tables you need with sa.table()/sa.column() inside the migration"

    requires = (frozenset({"models", "model", "db"}),)

    def check(self, migration: Migration) -> Iterator[Violation]:
        source = migration.source
        if "model" not in source and "db" not in source:
            return  # every reported import names models, model or db: no statement walk
        uses: _Uses | None = None
        for node in statements(migration.tree.body):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            for message, names in self._imports(node):
                if uses is None:
                    uses = _Uses(migration)
                if all(uses.harmless(name, kind) for name, kind in names):
                    continue  # only types, constants, db.Session or a table's name
                yield Violation(message, node=node)

    def _imports(
        self, node: ast.Import | ast.ImportFrom
    ) -> Iterator[tuple[str, list[tuple[str, str]]]]:
        """Each reportable import of the statement: its message and the names it binds,
        each with its kind (``module``, ``db`` or ``name``)."""
        if isinstance(node, ast.Import):
            for alias in node.names:
                if self._model_module(alias.name):
                    yield (
                        f"imports {alias.name}, the application's models; migrations must "
                        "not depend on code that keeps changing",
                        [(alias.asname or alias.name.split(".")[0], "module")],
                    )
                    return
            return
        module = node.module or ""
        shown = "." * node.level + module
        if self._model_module(module):
            yield (
                f"imports from {shown}, the application's models; migrations must "
                "not depend on code that keeps changing",
                [(a.asname or a.name, "name") for a in node.names],
            )
            return
        if node.level == 0 and module.split(".")[0] in _LIBRARY_ROOTS:
            return
        names = [a for a in node.names if a.name in _MODEL_SEGMENTS | {"db"}]
        if names:
            first = names[0].name
            yield (
                f"imports {first} from {shown}, the application's "
                f"{'database object' if first == 'db' else 'models'}; migrations "
                "must not depend on code that keeps changing",
                [(a.asname or a.name, "db" if a.name == "db" else "module") for a in names],
            )

    @staticmethod
    def _model_module(module: str) -> bool:
        parts = module.split(".")
        return parts[0] not in _LIBRARY_ROOTS and bool(_MODEL_SEGMENTS.intersection(parts))


# What a migration may take from the app's `db` without depending on its models: the
# session class (bound to the migration's connection), SQL functions and column types.
_DB_MODEL_ATTRIBUTES = frozenset(
    {
        "Model",
        "session",
        "engine",
        "engines",
        "metadata",
        "metadatas",
        "get_engine",
        "create_all",
        "drop_all",
        "reflect",
        "query",
        "relationship",
        "backref",
        "dynamic_loader",
        "app",
        "init_app",
    }
)
_SESSION_CLEANUP = frozenset({"close", "remove", "expunge_all"})
# Uses of an imported model class that read only a constant of it.
_CONSTANT_ATTRIBUTES = frozenset({"__tablename__"})
_COLUMN_CALLS = frozenset({"Column", "column", "mapped_column"})


class _Uses:
    """How a script uses the names it imports (read once, on the first reportable import)."""

    def __init__(self, migration: Migration) -> None:
        self.uses: dict[str, list[tuple[ast.Name, ast.AST | None, bool]]] = {}
        # The attribute read on a use's attribute: `close` for db.session.close().
        self.then: dict[int, str] = {}
        # The names, attributes and calls of the whole module: those of its imports too, but
        # an import holds none (only aliases). What is found here does not depend on order.
        owners: dict[int, ast.Attribute] = {}
        in_column: set[int] = set()
        for node in module_nodes_of(migration, ast.Attribute):
            assert isinstance(node, ast.Attribute)
            owners[id(node.value)] = node
            if isinstance(node.value, ast.Attribute):
                self.then[id(node.value)] = node.attr
        for node in module_nodes_of(migration, ast.Call):
            assert isinstance(node, ast.Call)
            if (dotted(node.func) or "").rsplit(".", 1)[-1] in _COLUMN_CALLS:
                in_column.update(
                    id(sub)
                    for arg in [*node.args, *(kw.value for kw in node.keywords)]
                    for sub in nodes_below(arg)
                )
        for node in module_nodes_of(migration, ast.Name):
            if isinstance(node, ast.Name):
                self.uses.setdefault(node.id, []).append(
                    (node, owners.get(id(node)), id(node) in in_column)
                )

    def harmless(self, name: str, kind: str) -> bool:
        """Whether every use of ``name`` leaves the app's models alone."""
        uses = self.uses.get(name, [])
        if kind == "module":
            return False  # `models.Order`: the models themselves
        for _, parent, in_column in uses:
            attribute = parent.attr if isinstance(parent, ast.Attribute) else None
            if kind == "db":
                if attribute == "session" and self.then.get(id(parent)) in _SESSION_CLEANUP:
                    continue  # db.session.close(): tidying up, no model involved
                if attribute is None or attribute in _DB_MODEL_ATTRIBUTES:
                    return False
            elif name.isupper() or name[:1].islower():
                continue  # a constant (ID_LEN) or a function (naming_convention, uuid7)
            elif attribute in _CONSTANT_ATTRIBUTES or in_column:
                continue  # Model.__tablename__, or a column type (StringID())
            else:
                return False
        return True
