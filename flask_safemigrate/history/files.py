"""Finding the script files: version locations, directory listing, file kinds, resolved paths.

Everything here asks the file system with ``stat``/``scandir`` only; nothing opens a script.
"""

from __future__ import annotations

import configparser
import contextlib
import os
import re
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path

from flask_safemigrate.history.model import GraphProblem, unparseable

# The same file filter Alembic applies to a version location (alembic/script/base.py).
_ONLY_SOURCE_REV_FILE = re.compile(r"(?!\.\#|__init__)(.*\.py)$")
_LEGACY_SPLIT = re.compile(r"[,\s]+")
_SEPARATORS = {"space": None, "newline": "\n", "os": os.pathsep, ":": ":", ";": ";"}


def script_files(locations: Iterable[Path]) -> Iterator[tuple[Path, bool]]:
    """Candidate files of every location, in Alembic's discovery order (each directory once).

    Every entry Alembic would try to load is yielded with whether it is known to be a plain
    regular file (from the directory listing, no system call); anything else must be asked
    with :func:`not_regular` before it is opened. Directories are skipped, as Alembic skips
    them.
    """
    seen: set[Path] = set()
    for location in locations:
        try:
            key = location.resolve()
            if key in seen or not location.is_dir():
                continue
            seen.add(key)
            with os.scandir(location) as listing:
                entries = sorted(listing, key=lambda e: e.name)
        except (OSError, RuntimeError):  # RuntimeError: a symlink loop on older Pythons
            continue
        for entry in entries:
            if not _ONLY_SOURCE_REV_FILE.match(entry.name):
                continue
            try:
                regular = entry.is_file(follow_symlinks=False)
                if not regular and entry.is_dir():
                    continue
            except OSError:
                regular = False
            yield location / entry.name, regular


_FILE_KINDS = (
    (stat.S_ISFIFO, "a named pipe (FIFO): reading it would wait forever"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISDIR, "a directory"),
)


def unreadable_reason(path: Path) -> str | None:
    """Why ``path`` is not a regular file that can be read, or ``None`` when it is one.

    Alembic loads every ``*.py`` entry of a version directory that is not a directory: a
    symlink loop or a dangling link fails its load, and a FIFO blocks it (and anything that
    reads it) forever. Asked with ``stat`` only, so nothing here ever opens such a file.
    """
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        link = ""
        with contextlib.suppress(OSError):
            if path.is_symlink():
                link = f"a symbolic link to {str(path.readlink())!r} that cannot be followed: "
        return f"{link}{exc.strerror or exc}"
    if stat.S_ISREG(mode):
        return None
    what = next((kind for test, kind in _FILE_KINDS if test(mode)), "not a regular file")
    return f"it is {what}"


def not_regular(path: Path) -> GraphProblem | None:
    """:func:`unreadable_reason` as an ``unparseable-script`` problem naming the path."""
    reason = unreadable_reason(path)
    if reason is None:
        return None
    hint = (
        "remove the file or point the link at the real script"
        if reason.startswith(("a symbolic link", "No such file"))
        else "remove it from the versions directory; only scripts belong"
    )
    return unparseable(path, None, reason, hint)


def resolved(path: Path, directories: dict[Path, tuple[Path, frozenset[str] | None]]) -> Path:
    """``path.resolve()``, resolving each directory once (``directories`` caches them).

    A file that is not a symlink resolves to its directory's resolved path plus its name;
    resolving every file on its own costs system calls per path component. One listing of
    the directory says which of its entries are symlinks.
    """
    name = path.name
    if name in ("", ".", ".."):
        return _resolve(path)
    parent = path.parent
    directory = directories.get(parent)
    if directory is None:
        links: frozenset[str] | None
        try:
            with os.scandir(parent) as entries:
                links = frozenset(entry.name for entry in entries if entry.is_symlink())
        except OSError:
            links = None  # ask each file instead
        directory = directories[parent] = (parent.resolve(), links)
    real, links = directory
    if links is None:
        try:
            link = path.is_symlink()
        except OSError:
            link = True
    else:
        link = name in links
    return _resolve(path) if link else real / name


def _resolve(path: Path) -> Path:
    """``path.resolve()``; a link that cannot be followed (a loop, a dangling link) stands
    for itself, so findings name the entry in the versions directory, not a missing target."""
    try:
        return path.resolve(strict=True)
    except (OSError, RuntimeError):
        return path.absolute()


def version_locations(migrations_dir: Path) -> list[Path]:
    """Where Alembic looks for scripts: ``alembic.ini``'s ``version_locations``, else ``versions/``.

    Relative entries stay relative to the current directory, as Alembic treats them.
    Raises :class:`ValueError` when ``alembic.ini`` exists but cannot be read, because
    guessing would check a different history than the one Alembic runs.
    """
    default = [migrations_dir / "versions"]
    ini = migrations_dir / "alembic.ini"
    if not ini.is_file():
        return default
    here = str(ini.parent.absolute())
    parser = configparser.ConfigParser(defaults={"here": here.replace("%", "%%")})
    try:
        with ini.open(encoding="utf-8") as handle:
            parser.read_file(handle, source=str(ini))
        raw = parser.get("alembic", "version_locations", fallback=None)
        separator = parser.get("alembic", "path_separator", fallback=None)
        if separator is None:
            separator = parser.get("alembic", "version_path_separator", fallback=None)
    except (OSError, UnicodeDecodeError, configparser.Error) as exc:
        raise ValueError(f"cannot read {ini}: {exc}") from exc
    if not raw or not raw.strip():
        return default
    if separator is None:
        entries = _LEGACY_SPLIT.split(raw)
    elif separator.strip() in _SEPARATORS:
        entries = raw.split(_SEPARATORS[separator.strip()])
    else:
        raise ValueError(
            f"{ini}: {separator!r} is not a valid path separator; "
            "expected 'space', 'newline', 'os', ':' or ';'"
        )
    return [Path(entry.strip()) for entry in entries if entry.strip()]
