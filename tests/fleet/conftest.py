"""Fixtures of the fleet tests: a project folder with ``fleetapp.py``, and server databases."""

from __future__ import annotations

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


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A folder with ``fleetapp.py`` and migrations holding the three-revision history."""
    fleet.write_project(tmp_path)
    return tmp_path


@pytest.fixture
def server_databases() -> Iterator[Callable[[str, int], list[URL]]]:
    """``make(kind, n)``: n new databases on the PostgreSQL or MariaDB server, dropped after."""
    made: list[tuple[str, URL, str]] = []

    def make(kind: str, count: int) -> list[URL]:
        assert kind in ("postgresql", "mysql")
        server = server_url(kind)  # type: ignore[arg-type]
        require_server(kind, server)  # type: ignore[arg-type]
        urls = []
        for _ in range(count):
            name = scratch_name()
            urls.append(create_database(kind, server, name))  # type: ignore[arg-type]
            made.append((kind, server, name))
        return urls

    yield make
    for kind, server, name in made:
        drop_database(kind, server, name)  # type: ignore[arg-type]
