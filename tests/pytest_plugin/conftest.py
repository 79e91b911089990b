"""Fixtures of the plugin's tests: what their in-process example-project runs need."""

from __future__ import annotations

import importlib

import pytest

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
)


@pytest.fixture(autouse=True, scope="session")
def drivers_imported() -> None:
    for name in SHARED_MODULES:
        importlib.import_module(name)
