"""A login that may not create the dedicated schema: a one-line pre-flight error (exit 3)."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy.engine import make_url

from tests.support.cli import invoke
from tests.support.databases import execute, tables_by_schema, worker_suffix
from tests.support.revisions import write_revision
from tests.support.schema import SCHEMA, users_revision

AppFactory = Callable[..., Flask]


@pytest.fixture
def login_without_create(database_url: str) -> Iterator[str]:
    """The test database's URL for a fresh role with no CREATE privilege on it."""
    role = f"sm_user_{secrets.token_hex(4)}{worker_suffix()}"
    execute(database_url, f"CREATE ROLE {role} LOGIN", autocommit=True)
    try:
        yield make_url(database_url).set(username=role).render_as_string(hide_password=False)
    finally:
        execute(database_url, f"DROP OWNED BY {role}", f"DROP ROLE {role}", autocommit=True)


def test_a_login_that_may_not_create_the_schema_fails_preflight(
    schema_app: AppFactory, login_without_create: str, database_url: str
) -> None:
    app = schema_app(url=login_without_create)
    write_revision(Path(app.extensions["migrate"].directory), users_revision())

    result = invoke(app, "db", "safe-upgrade")

    assert result.exit_code == 3, result.output
    (line,) = [line for line in result.output.splitlines() if line.startswith("error[")]
    assert f"schema '{SCHEMA}' does not exist" in line
    assert "may not create it" in line
    assert "Traceback" not in result.output
    assert SCHEMA not in tables_by_schema(database_url)


def test_a_login_that_may_not_create_in_the_existing_schema_fails_preflight(
    schema_app: AppFactory, login_without_create: str, database_url: str
) -> None:
    execute(database_url, f"CREATE SCHEMA {SCHEMA}", autocommit=True)
    app = schema_app(url=login_without_create)
    write_revision(Path(app.extensions["migrate"].directory), users_revision())

    result = invoke(app, "db", "safe-upgrade", "--format", "json")

    assert result.exit_code == 3, result.output
    assert f"may not create tables in schema '{SCHEMA}'" in result.stdout
    assert f"GRANT USAGE, CREATE ON SCHEMA {SCHEMA}" in result.stdout
