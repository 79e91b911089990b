"""SM311 app-model-import: The migration imports the application's models or its `db` object."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from flask_safemigrate.lint.helpers.functions import statements
from flask_safemigrate.lint.model import Migration, Rule, Violation
from flask_safemigrate.lint.registry import register
from flask_safemigrate.report import Severity

_MODEL_SEGMENTS = frozenset({"models", "model"})
_LIBRARY_ROOTS = frozenset(
    {"sqlalchemy", "alembic", "flask_sqlalchemy", "flask_migrate", "flask_safemigrate"}
)


@register
class AppModelImport(Rule):
    """The migration imports the application's models or its `db` object.

    ## What it does
    Reports imports (at module level or inside functions) of a module whose dotted path has
    a `models` or `model` segment (`from app.models import User`, `import shop.models`,
    `from ..models import Order`), of `models`/`model` from a package (`from app import
    models`), and of `db` (`from app import db`, `from app.extensions import db`). SQLAlchemy,
    Alembic and the Flask extensions themselves are not reported.

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
        for node in statements(migration.tree.body):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if self._model_module(alias.name):
                        yield Violation(
                            f"imports {alias.name}, the application's models; migrations must "
                            "not depend on code that keeps changing",
                            node=node,
                        )
                        break
            elif isinstance(node, ast.ImportFrom):
                module = node.module or ""
                shown = "." * node.level + module
                if self._model_module(module):
                    yield Violation(
                        f"imports from {shown}, the application's models; migrations must "
                        "not depend on code that keeps changing",
                        node=node,
                    )
                    continue
                if node.level == 0 and module.split(".")[0] in _LIBRARY_ROOTS:
                    continue
                names = [a.name for a in node.names if a.name in _MODEL_SEGMENTS | {"db"}]
                if names:
                    yield Violation(
                        f"imports {names[0]} from {shown}, the application's "
                        f"{'database object' if names[0] == 'db' else 'models'}; migrations "
                        "must not depend on code that keeps changing",
                        node=node,
                    )

    @staticmethod
    def _model_module(module: str) -> bool:
        parts = module.split(".")
        return parts[0] not in _LIBRARY_ROOTS and bool(_MODEL_SEGMENTS.intersection(parts))
