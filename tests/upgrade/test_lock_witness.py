"""PostgreSQL: each revision's lock check rides on its ledger insert (the lock's witness).

Before a revision commits, safe-upgrade must know its migration lock is still held. On
PostgreSQL the ledger insert returns the lock's witness (``pg_locks``, read by the migration
session), so the lock's own connection is asked only for the first revision's start and when
the witness does not answer "held". A lost lock still stops the run (the witness is false:
``tests/reliability/test_lock_loss.py`` and ``tests/multidb/test_lock_loss.py`` cut real
locks); here, that the probes are saved and that a witness this login cannot read falls back
to the probes without losing or doubling a ledger row.
"""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from sqlalchemy.engine import Connection

from flask_safemigrate import upgrade
from flask_safemigrate.errors import ExitCode
from flask_safemigrate.locks import advisory_key, lock_name
from flask_safemigrate.locks.postgresql import PostgresqlLock
from tests.support.apps import MakeApp, init_migrations
from tests.support.databases import DbKind
from tests.support.revisions import write_revision
from tests.upgrade.histories import (
    REVISIONS,
    TABLES,
    ledger_rows,
    models,
    prepare,
    revision_source,
    tables_of,
    versions_of,
)

pytestmark = pytest.mark.parametrize(
    "db_kind", [pytest.param("postgresql", marks=pytest.mark.postgresql)], indirect=True
)


def _count_probes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The run's own probes of the lock connection (not the keepalive thread's)."""
    probes: list[int] = []
    real = PostgresqlLock.still_ours

    def counted(self: PostgresqlLock, conn: Connection) -> bool:
        if threading.current_thread().name != "safemigrate-lock-keepalive":
            probes.append(1)
        return real(self, conn)

    monkeypatch.setattr(PostgresqlLock, "still_ours", counted)
    return probes


def _upgraded_once(database_url: str) -> None:
    assert versions_of(database_url) == [REVISIONS[-1]]
    rows = [r for r in ledger_rows(database_url) if r["direction"] == "upgrade"]
    assert Counter(r["revision"] for r in rows) == Counter(REVISIONS)
    assert all(r["success"] for r in rows)


def test_the_ledger_insert_answers_for_the_lock(
    make_app: MakeApp, database_url: str, db_kind: DbKind, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app(database_url, models=models())
    prepare(app)
    probes = _count_probes(monkeypatch)

    outcome = upgrade.safe_upgrade(app, upgrade.Options(backup=False), upgrade.Progress())

    assert outcome.exit_code is ExitCode.OK, outcome.report.findings
    _upgraded_once(database_url)
    # The first revision's start check; each commit check was the witness.
    assert len(probes) == 1, probes


def test_a_witness_that_never_says_held_falls_back_to_the_lock_connection(
    make_app: MakeApp, database_url: str, db_kind: DbKind, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A login that cannot see the lock in ``pg_locks``: the probe decides, once per commit."""
    app = make_app(database_url, models=models())
    prepare(app)
    probes = _count_probes(monkeypatch)
    real = PostgresqlLock.witness

    def blind(self: PostgresqlLock, conn: Connection) -> str | None:
        return "false" if real(self, conn) is not None else None

    monkeypatch.setattr(PostgresqlLock, "witness", blind)

    outcome = upgrade.safe_upgrade(app, upgrade.Options(backup=False), upgrade.Progress())

    assert outcome.exit_code is ExitCode.OK, outcome.report.findings
    _upgraded_once(database_url)
    # The first start check, then every revision's commit check (the first after its witness
    # said no, the others directly): as without a witness, a start check after a commit probe
    # asks nothing.
    assert len(probes) == 1 + len(REVISIONS), probes


#: An ``extra_upgrade`` that ends the run's own lock session (found by its key, ``{c}`` and
#: ``{o}``) and waits until the server has dropped its lock: the loss happens inside the
#: revision, long before the keepalive's next probe, so only the commit check can see it.
CUT_OWN_LOCK = """
import time
holder = (
    "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1"
    " AND classid::bigint = {c} AND objid::bigint = {o}"
    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)
bind = op.get_bind()
pid = bind.execute(sa.text(holder)).scalar()
bind.execute(sa.text("SELECT pg_terminate_backend(:p)"), {{"p": pid}})
deadline = time.monotonic() + 10
while bind.execute(sa.text(holder)).first() is not None and time.monotonic() < deadline:
    time.sleep(0.05)
"""


def test_a_lock_lost_inside_a_revision_stops_it_before_it_commits(
    make_app: MakeApp, database_url: str, db_kind: DbKind
) -> None:
    """The witness is false at the revision's commit check: the run stops, the revision rolls
    back with its ledger row, the ones before it stay."""
    app = make_app(database_url, models=models())
    migrations = init_migrations(app)
    unsigned = advisory_key(lock_name(database_url)) & 0xFFFFFFFFFFFFFFFF
    cut = CUT_OWN_LOCK.format(c=unsigned >> 32, o=unsigned & 0xFFFFFFFF)
    for index in range(3):
        write_revision(migrations, revision_source(index, extra_upgrade=cut if index == 2 else ""))

    outcome = upgrade.safe_upgrade(app, upgrade.Options(backup=False), upgrade.Progress())

    assert outcome.exit_code is ExitCode.LOCK_TIMEOUT, outcome.report.findings
    problems = [f for f in outcome.report.findings if f.severity.value == "error"]
    assert [f.rule for f in problems] == ["lock-lost"], problems
    assert REVISIONS[2] in problems[0].message
    assert versions_of(database_url) == [REVISIONS[1]]
    rows = [r for r in ledger_rows(database_url) if r["direction"] == "upgrade" and r["success"]]
    assert [r["revision"] for r in rows] == list(REVISIONS[:2])
    assert TABLES[2] not in tables_of(database_url)
