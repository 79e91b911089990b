"""A tiny JSON API over the models, enough to show the schema in use."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Blueprint, abort, request

from example_app import db
from example_app.models import Item, User, slugify

bp = Blueprint("example", __name__)


def _json_body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        abort(400, description="expected a JSON object")
    return body


def _field(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if value is None or value == "":
        abort(400, description=f"missing field {name!r}")
    return str(value)


@bp.get("/health")
def health() -> dict[str, str]:
    db.session.execute(sa.select(1))
    return {"status": "ok"}


@bp.post("/users")
def create_user() -> tuple[dict[str, object], int]:
    body = _json_body()
    user = User(username=_field(body, "username"), email=_field(body, "email"))
    db.session.add(user)
    db.session.commit()
    return user.to_dict(), 201


@bp.get("/items")
def list_items() -> dict[str, list[dict[str, object]]]:
    items = db.session.scalars(sa.select(Item).order_by(Item.id))
    return {"items": [item.to_dict() for item in items]}


@bp.post("/items")
def create_item() -> tuple[dict[str, object], int]:
    body = _json_body()
    owner = db.session.get(User, _field(body, "owner_id"))
    if owner is None:
        abort(404, description="no such owner")
    title = _field(body, "title")
    item = Item(owner=owner, title=title, slug=slugify(title))
    db.session.add(item)
    db.session.commit()
    return item.to_dict(), 201
