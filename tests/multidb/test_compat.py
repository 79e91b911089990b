"""safe-upgrade's release-compatibility check on two binds: one record per database, each
bind's release compared with its own part of the models (issue #19 part 3)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask

from tests.support.apps import AppTracker
from tests.support.databases import connection_to
from tests.support.multidb import SECOND, Binds, multidb_app, safe_upgrade
from tests.support.revisions import multidb_script

THIRD = "f3f3f3f3f3f3"

#: Drops ``audit`` on the logs bind, which the release recorded before still maps.
DROP_AUDIT = multidb_script(
    THIRD,
    SECOND,
    """
    pass
    ---
    pass
    """,
    """
    op.drop_table("audit")  # safemigrate: ignore[drop-table] -- test
    ---
    op.create_table("audit", sa.Column("id", sa.Integer(), primary_key=True))
    """,
    "drop audit",
)


def recorded(url: str) -> list[dict[str, Any]]:
    """Each row of the database's ``safemigrate_release``: heads and the tables it maps."""
    with connection_to(url) as connection:
        if not sa.inspect(connection).has_table("safemigrate_release"):
            return []
        rows = connection.exec_driver_sql(
            "SELECT heads, snapshot, allow_breaking FROM safemigrate_release ORDER BY id"
        )
        out = []
        for heads, snapshot, allowed in rows:
            (database,) = json.loads(snapshot)["databases"]
            out.append(
                {
                    "heads": heads,
                    "bind": database["bind"],
                    "tables": sorted(database["tables"]),
                    "allowed": bool(allowed),
                }
            )
        return out


def without_audit(app: Flask) -> Flask:
    """The next release: its models no longer map ``audit`` (logs bind)."""
    db = app.extensions["sqlalchemy"]
    metadata = db.metadatas["logs"]
    metadata.remove(metadata.tables["audit"])
    return app


def test_each_bind_records_its_release_and_is_compared_with_it(
    binds: Binds, tmp_path: Path, track_app: AppTracker
) -> None:
    code, data = safe_upgrade(multidb_app(binds, tmp_path, track_app))
    assert code == 0, data
    assert [(b["bind"], b["skipped"], b["recorded"]) for b in data["compat"]["binds"]] == [
        (None, "no release recorded yet", True),
        ("logs", "no release recorded yet", True),
    ]
    assert recorded(binds.default) == [
        {"heads": SECOND, "bind": None, "tables": ["users"], "allowed": False}
    ]
    assert recorded(binds.logs) == [
        {"heads": SECOND, "bind": "logs", "tables": ["audit", "events"], "allowed": False}
    ]

    app = without_audit(multidb_app(binds, tmp_path, track_app, scripts=[DROP_AUDIT]))
    code, data = safe_upgrade(app)
    assert code == 3, data
    errors = [p for p in data["problems"] if p["severity"] == "error"]
    assert [(p["check"], p["bind"], p["table"], p["change"]) for p in errors] == [
        ("breaks-previous-release", "logs", "audit", "table-dropped")
    ]
    assert "(bind 'logs')" in errors[0]["message"]
    assert [(b["bind"], b["ran"], b["findings"]) for b in data["compat"]["binds"]] == [
        (None, True, 0),
        ("logs", True, 1),
    ]

    code, data = safe_upgrade(app, "--allow-breaking")
    assert code == 0, data
    assert recorded(binds.logs)[-1] == {
        "heads": THIRD,
        "bind": "logs",
        "tables": ["events"],
        "allowed": True,
    }
    # Nothing broke on the default bind: its record is not marked allowed.
    assert recorded(binds.default)[-1] == {
        "heads": THIRD,
        "bind": None,
        "tables": ["users"],
        "allowed": False,
    }
