"""The ``timing`` groups: tests that kill processes, race migrators or measure seconds.

Under pytest-xdist (``make test`` runs ``--dist loadgroup``) every test of a group runs on
one worker, one at a time, so two of them never compete for the CPU or for a server's locks;
the other workers run the rest of the suite meanwhile. Without xdist the markers do nothing.
Mark a module with ``pytestmark = TIMING`` (or a test with ``@TIMING``) when what it asserts
depends on how fast something happens: a SIGKILL at a chosen moment, a lock wait, a deadline.

One group for all of them made it the floor of the suite's wall time: its tests ran one after
the other on one worker for longer than the other worker took for everything else. Tests that
each work on their own database and hold no server-wide lock only compete with tests on the
same server, so ``TIMING_PER_DATABASE`` puts them in a group per ``db_kind``
(``timing-sqlite``, ``timing-postgresql``, ``timing-mysql``, see :func:`split_per_database`),
and the three groups run beside each other and beside ``timing``.
"""

from __future__ import annotations

import pytest

TIMING = pytest.mark.xdist_group("timing")
#: Placeholder group, replaced by ``timing-<db_kind>`` at collection.
TIMING_PER_DATABASE = pytest.mark.xdist_group("timing-per-database")


def split_per_database(items: list[pytest.Item]) -> None:
    """Give each ``TIMING_PER_DATABASE`` test the group of its ``db_kind`` parameter."""
    placeholder = TIMING_PER_DATABASE.mark
    for item in items:
        if not isinstance(item, pytest.Function) or placeholder not in item.own_markers:
            continue
        kind = item.callspec.params.get("db_kind") if hasattr(item, "callspec") else None
        if kind is None:
            raise pytest.UsageError(f"{item.nodeid}: TIMING_PER_DATABASE needs a db_kind param")
        item.own_markers.remove(placeholder)
        item.add_marker(pytest.mark.xdist_group(f"timing-{kind}"))
