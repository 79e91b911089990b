"""Fixtures of the plugin's tests: what their in-process example-project runs need."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterator

import pytest

from flask_safemigrate.lint import registry

#: Imported once in this process before any in-process ``pytester`` run: pytester forgets the
#: modules a run imported when it ends, so a driver first imported inside one run would come
#: back as a second copy in the next, whose exception classes SQLAlchemy's cached dialect no
#: longer recognises (an unreachable server then escapes as the driver's raw error). A
#: project's ``pytest`` in a process of its own imports each once, as here.
SHARED_MODULES = (
    "psycopg",
    "pymysql",
    "sqlalchemy.dialects.postgresql.psycopg",
    "sqlalchemy.dialects.mysql.pymysql",
    # The lint rules: a run that imported some of them (the lint cache names the ones it
    # needs) would leave their classes in the registry, and a second copy of a module
    # imported later registers its rule again ("reuses the code or name").
    *registry.RULE_MODULES,
)


@pytest.fixture(autouse=True, scope="session")
def drivers_imported() -> None:
    for name in SHARED_MODULES:
        importlib.import_module(name)


@pytest.fixture(autouse=True)
def root_logging_restored() -> Iterator[None]:
    """The root logger as it was before the test.

    An in-process ``pytester`` run of an example project runs its ``env.py``, whose
    ``fileConfig(alembic.ini)`` puts a ``StreamHandler`` on the root logger, on the ``stderr``
    of that run's capture, which the run closes when it ends. Left there, the handler fails
    every later record (``I/O operation on closed file``) of a test in this process that keeps
    the existing handlers (``tests/reliability/test_secrets.py``'s in-process runs did).
    """
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in [h for h in root.handlers if h not in handlers]:
        root.removeHandler(handler)
    for handler in handlers:
        if handler not in root.handlers:
            root.addHandler(handler)
    root.setLevel(level)
