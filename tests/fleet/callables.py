"""``SAFEMIGRATE_TARGETS`` callables the validation tests name (``tests.fleet.callables:...``)."""

from __future__ import annotations

from typing import Any

NOT_CALLABLE = 5


def raises_with_password() -> list[str]:
    raise RuntimeError("registry at postgresql://admin:hunter2@db/tenants is down")


def returns_a_string() -> str:
    return "tenant_a"


def duplicates() -> list[str]:
    return ["sqlite:////tmp/a.db", "sqlite:////tmp/a.db"]


def bad_item() -> list[Any]:
    return ["sqlite:////tmp/a.db", 42]


def bad_schema() -> list[str]:
    return ["pg_catalog"]


def schemas() -> list[str]:
    return ["tenant_a", "tenant_b"]


def named(app: Any) -> dict[str, str]:
    assert app is not None
    return {"acme": "sqlite:////tmp/acme.db", "globex": "postgresql://u:secret@h/globex"}


def url_with_password() -> list[str]:
    return ["postgresql://u:secret@h/db1"]
