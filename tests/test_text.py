"""The shared wording helpers (:mod:`flask_safemigrate.text`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from flask_safemigrate.text import display_path, one_line, placed, plural, sentence, shorten


def test_plural_adds_s_except_for_one() -> None:
    assert [plural(n, "head") for n in (0, 1, 2)] == ["0 heads", "1 head", "2 heads"]


class Wrapped(Exception):
    def __init__(self, orig: BaseException) -> None:
        super().__init__("wrapper text\n[SQL: SELECT 1]")
        self.orig = orig


def test_one_line_names_the_type_and_the_first_line_of_the_cause() -> None:
    assert one_line(ValueError("  bad value \n more detail")) == "ValueError: bad value"
    assert one_line(KeyError()) == "KeyError"
    assert one_line(Wrapped(OSError("refused"))) == "OSError: refused"


def test_one_line_masks_the_password_of_the_urls_given() -> None:
    url = "postgresql://app:s3cret-long-password@db/prod"
    error = RuntimeError(f"cannot connect to {url}; password s3cret-long-password rejected")
    line = one_line(error, [url])
    assert "s3cret-long-password" not in line
    assert line.startswith("RuntimeError: cannot connect to postgresql://app:")


def test_shorten_folds_white_space_and_cuts() -> None:
    assert shorten("a\n  b\tc") == "a b c"
    assert shorten("x" * 20, limit=10) == "xxxxxxx..."


def test_display_path_is_relative_below_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "project" / "migrations").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "project")
    assert display_path(tmp_path / "project" / "migrations") == "migrations"
    assert display_path(tmp_path / "elsewhere.py") == str(tmp_path / "elsewhere.py")


def test_display_path_follows_links_and_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The folder of a script is resolved once per run; the answer stays what resolving the
    whole path gives: a linked file or folder shows where it leads, relative paths and a
    change of working directory included."""
    versions = tmp_path / "project" / "migrations" / "versions"
    versions.mkdir(parents=True)
    (versions / "a.py").write_text("", encoding="utf-8")
    (tmp_path / "outside.py").write_text("", encoding="utf-8")
    (versions / "link.py").symlink_to(tmp_path / "outside.py")
    (tmp_path / "project" / "linked").symlink_to(versions)
    monkeypatch.chdir(tmp_path / "project")
    assert display_path(versions / "a.py") == "migrations/versions/a.py"
    assert display_path(Path("migrations/versions/a.py")) == "migrations/versions/a.py"
    assert display_path(Path("linked/a.py")) == "migrations/versions/a.py"
    assert display_path(versions / "link.py") == str(versions / "link.py")  # leads outside
    assert display_path(Path("migrations/versions/..")) == "migrations"
    monkeypatch.chdir(tmp_path)
    assert display_path(versions / "a.py") == "project/migrations/versions/a.py"
    assert display_path(Path("outside.py")) == "outside.py"
    assert display_path(versions / "link.py") == "outside.py"


def test_placed_says_where_a_relative_path_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert placed(Path("migrations")) == f"migrations ({tmp_path / 'migrations'})"
    assert placed(tmp_path / "m") == str(tmp_path / "m")


def test_sentence_ends_a_text_once() -> None:
    alembic = "CommandError: All MySQL CHANGE/MODIFY COLUMN operations require the existing type."
    assert sentence(alembic) == alembic
    assert sentence("OperationalError: (1054, \"Unknown column 'x'\")") == (
        "OperationalError: (1054, \"Unknown column 'x'\")."
    )
    assert sentence("is it?") == "is it?"
    assert sentence("no period") == "no period."
