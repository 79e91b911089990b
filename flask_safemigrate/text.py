"""Small wording helpers every report shares: counts, error lines, long text, paths.

One definition each, so that "1 revision"/"2 revisions", an error's one-line form and a
path as the user sees it read the same in every command. Pure functions on strings and paths;
credentials are masked through :mod:`flask_safemigrate.database` only when URLs are given.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

from flask_safemigrate.safe_text import driver_text

__all__ = ["display_path", "one_line", "placed", "plural", "sentence", "shorten"]


def plural(count: int, word: str) -> str:
    """``1 revision``, ``2 revisions``: English plural by ``s``, enough for our own nouns."""
    return f"{count} {word}{'' if count == 1 else 's'}"


def sentence(text: str) -> str:
    """``text`` ended as a sentence: a period added unless it already ends with one (or with
    ``!``/``?``), so an error that ends its own message (Alembic's "... require the existing
    type.") does not read ``type..`` in ours."""
    return text if text.rstrip().endswith((".", "!", "?")) else f"{text}."


def one_line(error: BaseException, urls: Iterable[URL | str] = ()) -> str:
    """The error's first line (and PostgreSQL's DETAIL) with its type, passwords masked.

    A SQLAlchemy error is shown by the driver error it wraps (``orig``): its type and first
    line name the problem, the wrapper's text repeats the statement.
    """
    cause = getattr(error, "orig", None) or error
    text = driver_text(cause)
    line = text.splitlines()[0].strip() if text else ""
    detail = _detail(cause)
    if detail and detail not in line:
        line = f"{line.rstrip('.')}; {detail}"
    line = f"{type(cause).__name__}: {line}" if line else type(cause).__name__
    urls = list(urls)
    if urls:
        # Imported here: most callers pass no URL, and this module stays free of SQLAlchemy.
        from flask_safemigrate.database import mask_text

        for url in urls:
            line = mask_text(line, url)
    return line


def _detail(cause: BaseException) -> str:
    """PostgreSQL's ``DETAIL`` and ``HINT`` of a driver error (psycopg's ``diag``), on one line.

    The first line says what failed ("could not create unique index"); the detail says
    which row ("Key (email)=(x) is duplicated"), which is what the operator must fix.
    """
    diag = getattr(cause, "diag", None)
    parts = []
    for name, label in (("message_detail", "DETAIL"), ("message_hint", "HINT")):
        text = getattr(diag, name, None)
        if isinstance(text, str) and text.strip():
            part = shorten(text, 200).rstrip(".")
            parts.append(part if label == "DETAIL" else f"{label}: {part}")
    return "; ".join(parts)


def shorten(text: str, limit: int = 300) -> str:
    """``text`` on one line (white space folded), cut to ``limit`` characters with ``...``."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def placed(path: Path) -> str:
    """``path`` as given, and where that is when it is relative: a container's working
    directory is not always the one the user thinks (``migrations (/srv/app/migrations)``)."""
    return str(path) if path.is_absolute() else f"{path} ({Path.cwd() / path})"


def display_path(path: Path) -> str:
    """A path relative to the working directory when it is below it, else as given."""
    try:
        cwd = str(Path.cwd())
        if path.name in ("", ".", "..") or path.is_symlink():
            full = Path(cwd, path).resolve()
        else:  # a run names many scripts of one folder: resolve the folder once
            full = _resolved(str(path.parent), cwd) / path.name
        return str(full.relative_to(_resolved(cwd, cwd)))
    except (ValueError, OSError, RuntimeError):  # RuntimeError: a symlink loop
        return str(path)


@functools.lru_cache(maxsize=256)
def _resolved(directory: str, cwd: str) -> Path:
    """``directory`` (relative to ``cwd``) resolved: a system call per part, made once."""
    return Path(cwd, directory).resolve()
