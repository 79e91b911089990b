"""Fixtures of the two-bind tests: ``binds``, two empty databases per test (the apps and
histories on them: :mod:`tests.support.multidb`)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.apps import AppTracker
from tests.support.databases import (
    PROBE_TIMEOUT,
    DbKind,
    empty_sqlite,
    probe,
    require_server,
    scratch_database,
    server_url,
)
from tests.support.multidb import PAIRS, Binds
from tests.support.scratch_pool import ScratchPool


@pytest.fixture(params=PAIRS)
def binds(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    server_probes: dict[str, str | None],
    track_app: AppTracker,
    postgresql_pool: ScratchPool,
) -> Iterator[Binds]:
    kinds: tuple[DbKind, DbKind] = request.param
    with contextlib.ExitStack() as stack:
        urls = []
        for number, kind in enumerate(kinds):
            if kind == "sqlite":
                urls.append(empty_sqlite(tmp_path / f"bind{number}.db"))
                continue
            url = server_url(kind)
            if kind not in server_probes:
                server_probes[kind] = probe(url, PROBE_TIMEOUT)
            error = server_probes[kind]
            if error is not None:
                require_server(kind, url, error=error)
            if kind == "postgresql":
                scratch = stack.enter_context(postgresql_pool.database())
            else:
                scratch = stack.enter_context(scratch_database(kind, url))
            urls.append(scratch.render_as_string(hide_password=False))
        stack.callback(track_app.dispose_all)  # runs first: engines go before the databases
        yield Binds(kinds, urls[0], urls[1])
