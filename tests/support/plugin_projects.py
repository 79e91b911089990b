"""Complete example projects for the pytest plugin's tests (``tests/pytest_plugin``).

A project is what a team has: a package ``shop`` with an app factory and models, the stock
``migrations/`` that ``flask db init`` writes (kept byte for byte), three revisions
(``users``, ``orders``, ``email`` on users), a ``wsgi.py`` as Flask finds it, a tests folder
with a test of its own and the rows ``seeded-roundtrip`` inserts, and ``pytest.ini`` with the
one line that turns the plugin on. :data:`VARIANTS` each break one thing.

The project's ``tests/conftest.py`` wraps ``migration_database`` (a project may override the
plugin's fixtures) to record the name of every scratch database in ``scratch_names.txt``, so
that a test can check each one is gone from the server afterwards.
"""

from __future__ import annotations

import importlib
import os
import shutil
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import flask_migrate
from flask import Flask
from flask_sqlalchemy import SQLAlchemy

from tests.support.apps import dispose_app
from tests.support.revisions import revision_script, write_revision

#: The three revisions' ids, in order.
R1: Final = "a1000000c0de"
R2: Final = "b2000000c0de"
R3: Final = "c3000000c0de"
#: The second head of the ``second-head`` variant.
R4: Final = "d4000000c0de"

_APP = """\
from flask import Flask
from flask_sqlalchemy import SQLAlchemy

from flask_safemigrate import SafeMigrate

db = SQLAlchemy()
safe = SafeMigrate()


def create_app():
    app = Flask(__name__)
    # The app's own database: the plugin never opens it (every test has a scratch one).
    app.config["SQLALCHEMY_DATABASE_URI"] = "sqlite:///shop.db"
    db.init_app(app)
    safe.init_app(app, db)
    from shop import models  # noqa: F401
    return app
"""

_MODELS = """\
from shop import db


class User(db.Model):
    __tablename__ = "users"
    id = db.Column(db.Integer, primary_key=True)
    name = db.Column(db.String({name_length}), nullable=True)
    email = db.Column(db.String(120), nullable=True)
{extra_user_columns}

class Order(db.Model):
    __tablename__ = "orders"
    id = db.Column(db.Integer, primary_key=True)
    user_id = db.Column(db.Integer, db.ForeignKey("users.id"), nullable=False)
    total = db.Column(db.Integer, nullable=False)
{extra_models}"""

_TAG_MODEL = """

class Tag(db.Model):
    __tablename__ = "tags"
    id = db.Column(db.Integer, primary_key=True)
    label = db.Column(db.String(30), nullable=False)
"""

_SETTING_MODEL = """

class Setting(db.Model):
    __tablename__ = "settings"
    setting = db.Column(db.String(40), primary_key=True)
    value = db.Column(db.String(40), nullable=False)
"""

_ROWS = f'''\
"""The rows seeded-roundtrip inserts before each revision, and looks for after it."""

ROWS = {{
    "{R2}": {{"users": [{{"id": 1, "name": "ann"}}]}},
    "{R3}": {{
        "users": [{{"id": 2, "name": "bob"}}],
        "orders": [{{"id": 1, "user_id": 1, "total": 5}}],
    }},
}}
'''

_OWN_TEST = """\
def test_the_project_own_test():
    assert 1 + 1 == 2
"""

#: Records each scratch database's name (``database`` of the URL, a path on SQLite) and, in
#: the process that reports (the xdist controller with ``-n``), each test's outcome.
_CONFTEST = """\
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
REPORTING = []


def pytest_configure(config):
    REPORTING.append(not hasattr(config, "workerinput"))


def pytest_runtest_logreport(report):
    if REPORTING[0]:
        with (ROOT / "outcomes.txt").open("a") as out:
            out.write(f"{report.nodeid}\\t{report.when}\\t{report.outcome}\\n")


@pytest.fixture
def migration_database(migration_database):
    if migration_database is not None:
        with (ROOT / "scratch_names.txt").open("a") as out:
            out.write(f"{migration_database.database}\\n")
    return migration_database
"""


@dataclass(frozen=True)
class Variant:
    """A project: its revisions' bodies and models, and the outcome of each built-in test."""

    name: str
    #: revision -> (upgrade body, downgrade body); the others are the passing project's.
    bodies: dict[str, tuple[str, str]] = field(default_factory=dict)
    extra_user_columns: str = ""
    extra_models: str = ""
    name_length: int = 50
    #: A fourth revision, a second head beside R3.
    second_head: bool = False
    #: Built-in test -> "failed" (the others pass), and what the failure names.
    failed: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: Built-in tests skipped (with the reason's words).
    skipped: dict[str, str] = field(default_factory=dict)


_PASSING_BODIES: Final[dict[str, tuple[str, str]]] = {
    R1: (
        """
        op.create_table(
            "users",
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("name", sa.String(length=50), nullable=True),
            sa.PrimaryKeyConstraint("id"),
        )
        """,
        'op.drop_table("users")',
    ),
    R2: (
        """
        op.create_table(
            "orders",
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("user_id", sa.Integer(), nullable=False),
            sa.Column("total", sa.Integer(), nullable=False),
            sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
            sa.PrimaryKeyConstraint("id"),
        )
        """,
        'op.drop_table("orders")',
    ),
    R3: (
        """
        with op.batch_alter_table("users") as batch_op:
            batch_op.add_column(sa.Column("email", sa.String(length=120), nullable=True))
        """,
        """
        with op.batch_alter_table("users") as batch_op:
            batch_op.drop_column("email")
        """,
    ),
}

PASSING: Final = Variant("passing")

#: One project per failure kind (the issue's acceptance list).
VARIANTS: Final = {
    variant.name: variant
    for variant in (
        PASSING,
        Variant(
            # R2 also creates tags (guarded, so the re-upgrade runs) and its downgrade
            # forgets it: only the schema comparison after the downgrade can tell.
            "downgrade-leaves-table",
            bodies={
                R2: (
                    _PASSING_BODIES[R2][0]
                    + """
        from flask_safemigrate import guards
        if not guards.table_exists("tags"):
            op.create_table(
                "tags",
                sa.Column("id", sa.Integer(), nullable=False),
                sa.Column("label", sa.String(length=30), nullable=False),
                sa.PrimaryKeyConstraint("id"),
            )
        """,
                    _PASSING_BODIES[R2][1],
                )
            },
            extra_models=_TAG_MODEL,
            failed={"roundtrip": ("downgrade-leaves-trace", R2, "tags")},
        ),
        Variant(
            # R3 also writes a setting its downgrade does not delete: the upgrade again
            # fails on the primary key (the schema after the downgrade is the same).
            "leftover-row",
            bodies={
                R1: (
                    _PASSING_BODIES[R1][0]
                    + """
        op.create_table(
            "settings",
            sa.Column("setting", sa.String(length=40), nullable=False),
            sa.Column("value", sa.String(length=40), nullable=False),
            sa.PrimaryKeyConstraint("setting"),
        )
        """,
                    'op.drop_table("settings")\n' + _PASSING_BODIES[R1][1],
                ),
                R3: (
                    _PASSING_BODIES[R3][0]
                    + """
        op.execute("INSERT INTO settings (setting, value) VALUES ('email', 'optional')")
        """,
                    _PASSING_BODIES[R3][1],
                ),
            },
            extra_models=_SETTING_MODEL,
            failed={
                "roundtrip": ("roundtrip-failed", R3, "re-upgrade"),
                "seeded-roundtrip": ("roundtrip-failed", R3, "re-upgrade"),
            },
        ),
        Variant(
            "second-head",
            second_head=True,
            # lint's SM501 says the same of each head.
            failed={
                "single-head": ("multiple-heads", R3, R4),
                "lint-pending": ("SM501 multiple-heads", R3, R4),
            },
            skipped=dict.fromkeys(
                ("upgrade-from-base", "models-match", "roundtrip", "seeded-roundtrip"),
                "history has problems",
            ),
        ),
        Variant(
            # The models have a column no revision creates.
            "drift",
            extra_user_columns="    phone = db.Column(db.String(20), nullable=True)\n",
            failed={"models-match": ("schema-drift", R3, "phone")},
        ),
        Variant(
            # R3 widens users.name by dropping and adding it again: the names are lost.
            "seeded-row-lost",
            bodies={
                R3: (
                    """
        with op.batch_alter_table("users") as batch_op:
            batch_op.add_column(sa.Column("email", sa.String(length=120), nullable=True))
            batch_op.drop_column("name")
        with op.batch_alter_table("users") as batch_op:
            batch_op.add_column(sa.Column("name", sa.String(length=80), nullable=True))
        """,
                    """
        with op.batch_alter_table("users") as batch_op:
            batch_op.drop_column("name")
        with op.batch_alter_table("users") as batch_op:
            batch_op.add_column(sa.Column("name", sa.String(length=50), nullable=True))
            batch_op.drop_column("email")
        """,
                )
            },
            name_length=80,
            # The schema is restored (roundtrip passes); lint sees the dropped column too.
            failed={
                "seeded-roundtrip": ("seeded-row-lost", R3, "bob", "in its upgrade"),
                "lint-pending": ("SM102 drop-column", R3),
            },
        ),
    )
}


def stock_migrations(into: Path) -> Path:
    """``flask db init``'s single-database template in ``into/migrations`` (no revisions)."""
    app = Flask("stock")
    app.config["SQLALCHEMY_DATABASE_URI"] = "sqlite://"
    db = SQLAlchemy(app)
    directory = into / "migrations"
    flask_migrate.Migrate(app, db, directory=str(directory))
    with app.app_context():
        flask_migrate.init(str(directory))
    return directory


def write_project(root: Path, variant: Variant, stock: Path, ini: str = "") -> Path:
    """Write ``variant``'s project into ``root`` (``stock``: :func:`stock_migrations`);
    ``ini`` adds lines to ``pytest.ini`` after ``safemigrate = true``."""
    (root / "shop").mkdir(parents=True, exist_ok=True)
    (root / "shop" / "__init__.py").write_text(_APP, encoding="utf-8")
    models = _MODELS.format(
        name_length=variant.name_length,
        extra_user_columns=variant.extra_user_columns,
        extra_models=variant.extra_models,
    )
    (root / "shop" / "models.py").write_text(models, encoding="utf-8")
    (root / "wsgi.py").write_text("from shop import create_app\n\napp = create_app()\n")
    migrations = root / "migrations"
    shutil.copytree(stock, migrations)
    bodies = {**_PASSING_BODIES, **variant.bodies}
    messages = {R1: "create users", R2: "create orders", R3: "add email to users"}
    for down, rev in ((None, R1), (R1, R2), (R2, R3)):
        upgrade, downgrade = bodies[rev]
        write_revision(
            migrations,
            revision_script(rev, down, upgrade, downgrade, message=messages[rev]),
            filename=f"{rev}_{messages[rev].replace(' ', '_')}.py",
        )
    if variant.second_head:
        write_revision(
            migrations,
            revision_script(R4, R2, "pass", "pass", message="a branch"),
            filename=f"{R4}_a_branch.py",
        )
    tests = root / "tests"
    tests.mkdir(exist_ok=True)
    (tests / "test_own.py").write_text(_OWN_TEST, encoding="utf-8")
    (tests / "migration_data.py").write_text(_ROWS, encoding="utf-8")
    (tests / "conftest.py").write_text(_CONFTEST, encoding="utf-8")
    (root / "pytest.ini").write_text(
        "[pytest]\nsafemigrate = true\n" + textwrap.dedent(ini), encoding="utf-8"
    )
    return root


@contextmanager
def project_app(root: Path) -> Iterator[Flask]:
    """The project's app, made in this process as ``flask --app shop:create_app`` makes it
    from ``root`` (the working directory and the first import path for the block; the
    project's ``shop`` modules are forgotten afterwards, as each project has its own)."""
    before = Path.cwd()
    sys.path.insert(0, str(root))
    os.chdir(root)
    app: Flask | None = None
    try:
        app = importlib.import_module("shop").create_app()
        assert isinstance(app, Flask)
        yield app
    finally:
        if app is not None:
            dispose_app(app)
        os.chdir(before)
        sys.path.remove(str(root))
        for name in [m for m in sys.modules if m == "shop" or m.startswith("shop.")]:
            del sys.modules[name]
