"""Whether the values an old column type holds still fit a new one (both described by
:func:`flask_safemigrate.models_snapshot.describe_type`).

Only narrowings are reported; a change between unrelated families (a date made text) or a
difference a database merely reads back differently (MariaDB's ``TINYINT`` for a
``Boolean``, SQLite's ``VARCHAR`` for an ``Enum``) is not a narrowing.

Used by the release check (:mod:`flask_safemigrate.checks.compat`) and by lint's
``alter-column-type`` (SM105), which must say the same of the same change; it imports only the
standard library, so ``safemigrate lint`` stays free of Flask and SQLAlchemy.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["narrowing"]

#: Integer kinds by size (a value of one fits every later one).
_INTEGERS = ("tinyint", "smallint", "mediumint", "integer", "bigint")
_STRINGS = ("string", "text")

Described = Mapping[str, Any]


def _integer_digits(type_: Described) -> int | None:
    precision, scale = type_.get("precision"), type_.get("scale") or 0
    return precision - scale if isinstance(precision, int) else None


def _strings(old: Described, new: Described) -> str | None:
    old_length, new_length = old.get("length"), new.get("length")
    if new_length is None:
        return None
    if old_length is None:
        return f"{old['type']} of any length -> {new['type']}({new_length})"
    if new_length < old_length:
        return f"{old['type']}({old_length}) -> {new['type']}({new_length})"
    return None


def _numbers(old: Described, new: Described) -> str | None:
    if old["type"] in _INTEGERS and new["type"] in _INTEGERS:
        if _INTEGERS.index(new["type"]) < _INTEGERS.index(old["type"]):
            return f"{old['type']} -> {new['type']}"
        return None
    if old["type"] == "numeric" and new["type"] in _INTEGERS:
        return f"numeric -> {new['type']} (the fractions are lost)"
    if old["type"] == "numeric" and new["type"] == "numeric":
        old_digits, new_digits = _integer_digits(old), _integer_digits(new)
        fewer = old_digits is not None and new_digits is not None and new_digits < old_digits
        if fewer or (new.get("scale") or 0) < (old.get("scale") or 0):
            return (
                f"numeric({old.get('precision')}, {old.get('scale') or 0}) ->"
                f" numeric({new.get('precision')}, {new.get('scale') or 0})"
            )
    return None


def _enums(old: Described, new: Described) -> str | None:
    values = [str(value) for value in old.get("enum", [])]
    if new["type"] == "enum":
        gone = [value for value in values if value not in new.get("enum", [])]
        return (
            f"enum value{'s' if len(gone) > 1 else ''} {', '.join(gone)} removed" if gone else None
        )
    if new["type"] in _STRINGS and isinstance(new.get("length"), int) and values:
        too_long = [value for value in values if len(value) > new["length"]]
        if too_long:
            return f"enum -> {new['type']}({new['length']}), shorter than {', '.join(too_long)}"
    return None


def narrowing(old: Described, new: Described) -> str | None:
    """What no longer fits (``varchar(120) -> varchar(40)``), or ``None`` when every value
    of ``old`` fits ``new`` as far as the descriptions tell."""
    if old["type"] == "enum":
        return _enums(old, new)
    if old["type"] in _STRINGS and new["type"] in _STRINGS:
        return _strings(old, new)
    if old["type"] in _STRINGS and new["type"] == "enum":
        return f"{old['type']} -> enum ({', '.join(map(str, new.get('enum', [])))})"
    return _numbers(old, new)
