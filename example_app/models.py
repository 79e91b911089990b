"""The example app's models (typed SQLAlchemy 2 declarative mapping).

The models use their own typed declarative base that shares ``db.metadata`` (and so its naming
convention): Flask-SQLAlchemy sees every table, and mypy sees real classes rather than
``db.Model`` (which it cannot type).
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from example_app import db


class Base(DeclarativeBase):
    """Declarative base over ``db.metadata``."""

    metadata = db.metadata


class User(Base):
    """Someone who owns items."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(64), unique=True)
    email: Mapped[str] = mapped_column(sa.String(255))
    is_admin: Mapped[bool] = mapped_column(server_default=sa.false())
    created_at: Mapped[datetime] = mapped_column(server_default=sa.func.now())

    items: Mapped[list[Item]] = relationship(back_populates="owner")

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "username": self.username,
            "email": self.email,
            "is_admin": self.is_admin,
        }


class Item(Base):
    """A thing a user owns; ``slug`` is derived from ``title`` by :func:`slugify`."""

    __tablename__ = "items"

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    title: Mapped[str] = mapped_column(sa.String(200))
    slug: Mapped[str] = mapped_column(sa.String(220), index=True)
    is_archived: Mapped[bool] = mapped_column(server_default=sa.false())

    owner: Mapped[User] = relationship(back_populates="items")

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "owner_id": self.owner_id,
            "title": self.title,
            "slug": self.slug,
            "is_archived": self.is_archived,
        }


_NOT_SLUG = re.compile(r"[^a-z0-9]+")


def slugify(title: str) -> str:
    """``"Café au Lait!"`` -> ``"cafe-au-lait"``; ``"item"`` when nothing usable is left.

    Migration ``7ae4db413f4c`` carries its own frozen copy of this function (migrations never
    import app code); a test checks that the two agree.
    """
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode("ascii")
    return _NOT_SLUG.sub("-", ascii_title.lower()).strip("-")[:200] or "item"
