"""Which migration scripts a git commit has: ``--since origin/main`` and ``safemigrate_base``.

A branch's new migrations are the scripts its base branch does not have. That is asked of git
(``git ls-tree`` of the ref, over the version locations), never by importing old code, and
works wherever the migrations folder sits in the repository.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterable
from pathlib import Path

__all__ = ["files_at", "git"]


def git(cwd: Path, *args: str, stdin: str | None = None) -> str:
    """``git -C cwd ARGS``'s output (``stdin`` written to its input); ``ValueError`` with
    git's last line of error when it fails, ``OSError`` when git cannot be run. Its output
    is read as UTF-8 whatever the locale, a file name's other bytes kept as the file system
    has them (``surrogateescape``, as :class:`~pathlib.Path` does)."""
    done = subprocess.run(
        ["git", "-C", str(cwd), *args],
        capture_output=True,
        input=None if stdin is None else stdin.encode(),
        check=False,
    )
    if done.returncode != 0:
        error = done.stderr.decode("utf-8", "replace").strip()
        raise ValueError(error.splitlines()[-1] if error else "")
    return done.stdout.decode("utf-8", "surrogateescape")


def files_at(ref: str, locations: Iterable[Path]) -> set[Path]:
    """The files below ``locations`` that commit ``ref`` has, as resolved paths. Raises
    ``ValueError`` (a location outside a repository, an unknown ref) or ``OSError`` (no git)."""
    if ref.startswith("-"):
        raise ValueError(f"{ref!r} is not a git ref")  # never an option to git
    known: set[Path] = set()
    for location in locations:
        top = Path(git(location, "rev-parse", "--show-toplevel").strip())
        where = location.resolve().relative_to(top.resolve()).as_posix()
        names = git(top, "ls-tree", "-r", "--name-only", ref, "--", where)
        known.update((top / name).resolve() for name in names.splitlines())
    return known
