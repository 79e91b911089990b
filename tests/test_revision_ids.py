"""revision_ids: what a revision id or a branch label may hold."""

from __future__ import annotations

import pytest

from flask_safemigrate.revision_ids import id_defect, label_defect, overlong


@pytest.mark.parametrize("value", ["a1b2c3d4e5f6", "0001_initial", "v1.2_users", "A_b.9"])
def test_plain_ids_pass(value: str) -> None:
    assert id_defect(value) is None


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("c3-fix", "Alembic"),
        ("a@head", "Alembic"),
        ("a+1", "Alembic"),
        ("a:b", "Alembic"),
        ("b2'; DROP TABLE t1; --", "quoted literal"),
        ("with space", "quoted literal"),
        ("new\nline", "quoted literal"),
        ("caf\u00e9", "quoted literal"),
        ("", "empty"),
    ],
)
def test_bad_ids_say_why(value: str, says: str) -> None:
    why = id_defect(value)
    assert why is not None and says in why
    assert "\n" not in why  # the value is shown escaped


@pytest.mark.parametrize("value", ["feature", "release-x", "team.billing", "_private"])
def test_plain_labels_pass(value: str) -> None:
    assert label_defect(value) is None


@pytest.mark.parametrize("value", ["release-2", "v+1", "x@head", 'x"""', "-lead", "a b", ""])
def test_bad_labels(value: str) -> None:
    assert label_defect(value) is not None


def test_overlong() -> None:
    assert overlong("a" * 32, 32) is None
    why = overlong("a" * 33, 32)
    assert why is not None and "33 characters" in why and "holds 32" in why
