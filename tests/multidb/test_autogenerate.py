"""``flask db migrate`` on two binds: guarded ops in each bind's section, applied twice."""

from __future__ import annotations

from pathlib import Path

from tests.autogen.scenario import migrate
from tests.support.apps import AppTracker
from tests.support.cli import invoke_json, invoke_ok
from tests.support.multidb import Binds, multidb_app, safe_upgrade, state_of


def section(source: str, name: str) -> str:
    """The body of ``def name():`` in a generated script."""
    return source.split(f"def {name}():", 1)[1].split("\ndef ", 1)[0]


def test_each_bind_section_is_guarded_and_applies_twice(
    binds: Binds, tmp_path: Path, track_app: AppTracker
) -> None:
    app = multidb_app(binds, tmp_path, track_app, scripts=[])
    path = migrate(app, tmp_path / "migrations", "users, events and audit")
    source = path.read_text(encoding="utf-8")
    default, logs = section(source, "upgrade_"), section(source, "upgrade_logs")
    assert "if guards.table_missing('users'):" in default
    assert "events" not in default and "audit" not in default
    assert "if guards.table_missing('events'):" in logs
    assert "if guards.table_missing('audit'):" in logs
    assert "users" not in logs
    assert "if guards.table_exists('audit'):" in section(source, "downgrade_logs")

    code, data = safe_upgrade(app)
    assert code == 0, data["problems"]
    revision = data["to"][0]
    assert [(s["bind"], s["revision"]) for s in data["applied"]] == [
        (None, revision),
        ("logs", revision),
    ]

    # Every bind's version table back to base, the tables left: the guarded script converges.
    invoke_ok(app, "db", "stamp", "base")
    assert state_of(binds.default).current == () == state_of(binds.logs).current
    code, data = safe_upgrade(app)
    assert code == 0, data["problems"]
    assert [(b["bind"], b["current"]) for b in data["binds"]] == [
        (None, [revision]),
        ("logs", [revision]),
    ]
    assert state_of(binds.default).tables == {"users"}
    assert state_of(binds.logs).tables == {"events", "audit"}
    assert [entry[:2] for entry in state_of(binds.logs).ledger] == [
        (revision, "upgrade"),
        (revision, "upgrade"),
    ]
    code, verified, _ = invoke_json(app, "db", "verify", "--format", "json")
    assert (code, verified["problems"]) == (0, [])
