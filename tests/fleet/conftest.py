"""Fixtures of the fleet tests: a project folder with ``fleetapp.py``, and server databases."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from tests.support import fleet
from tests.support.databases import (
    create_database,
    drop_database,
    require_server,
    scratch_name,
    server_url,
)
from tests.support.scratch_pool import ScratchPool


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A folder with ``fleetapp.py`` and migrations holding the three-revision history."""
    fleet.write_project(tmp_path)
    return tmp_path


@pytest.fixture
def server_databases(
    postgresql_pool: ScratchPool,
) -> Iterator[Callable[[str, int], list[URL]]]:
    """``make(kind, n)``: n empty databases on the PostgreSQL or MariaDB server, gone after
    (PostgreSQL's from ``postgresql_pool``, emptied for the next test, as ``database_url``'s:
    a ``CREATE DATABASE`` there costs about a second)."""
    made: list[tuple[str, URL, str]] = []

    with contextlib.ExitStack() as pooled:

        def make(kind: str, count: int) -> list[URL]:
            assert kind in ("postgresql", "mysql")
            server = server_url(kind)  # type: ignore[arg-type]
            require_server(kind, server)  # type: ignore[arg-type]
            if kind == "postgresql":
                return [pooled.enter_context(postgresql_pool.database()) for _ in range(count)]
            urls = []
            for _ in range(count):
                name = scratch_name()
                urls.append(create_database(kind, server, name))  # type: ignore[arg-type]
                made.append((kind, server, name))
            return urls

        yield make
        for kind, server, name in made:
            drop_database(kind, server, name)  # type: ignore[arg-type]
