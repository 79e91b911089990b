"""Finding the scripts to lint and reading each one: bytes, text, tree, revision identifiers.

Scripts are read with ``ast`` only, never imported: a migration that imports the app, needs a
database, or raises at import time is linted all the same, and linting is safe in pre-commit.
A file that cannot be read or parsed becomes a :class:`Violation` (unparseable-script) rather
than an error that stops the run.
"""

from __future__ import annotations

import ast
import fnmatch
import io
import os
import stat
import tokenize
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from flask_safemigrate import history
from flask_safemigrate.errors import ConfigError
from flask_safemigrate.lint.index import build_index
from flask_safemigrate.lint.model import LintConfig, Migration, Violation
from flask_safemigrate.text import display_path


@dataclass(frozen=True)
class ReadScript:
    """A script read and parsed, before the index that only script rules need."""

    source: str
    tree: ast.Module
    info: history.Script | None


def parse(path: Path, config: LintConfig) -> Migration | Violation:
    """Read and parse one script; a file that cannot be read or parsed becomes a violation.

    Only a regular file is opened: a FIFO would block the read forever, a symlink loop or a
    directory named ``*.py`` is reported with what it is.
    """
    read = read_script(path)
    return read if isinstance(read, Violation) else migration_of(path, read, config)


def migration_of(path: Path, read: ReadScript, config: LintConfig) -> Migration:
    index = build_index(read.tree)
    return Migration(
        path=path,
        source=read.source,
        tree=read.tree,
        calls=index.calls,
        info=read.info,
        config=config,
        _index=index,
    )


def read_script(path: Path) -> ReadScript | Violation:
    """:func:`parse` without the index: what the history rules and suppressions need."""
    try:
        data = regular_bytes(path)
        if data is None:  # not a regular file (or gone since): say what it is
            reason = history.unreadable_reason(path)
            if reason is not None:
                return Violation(
                    f"cannot read the script: {reason}",
                    line=1,
                    col=1,
                    help="remove it from the versions directory, or replace it with the real"
                    " script",
                )
            data = path.read_bytes()
    except OSError as exc:
        return Violation(f"cannot read the script: {exc.strerror or exc}", line=1, col=1)
    return script_of(path, data)


#: ``os.open`` flags of a script's read (its descriptor is not inherited: PEP 446).
_READ_FLAGS = os.O_RDONLY | getattr(os, "O_BINARY", 0)


def regular_bytes(path: Path) -> bytes | None:
    """The bytes of ``path`` when it is a regular file, else ``None``; only a regular file is
    opened (a FIFO would block the read forever). Raises ``OSError`` when it cannot be read.

    Spelled with ``os``: ``Path.read_bytes`` opens a buffered file, which asks ``isatty``, the
    size and the position again; per script of a long history, a few system calls fewer.
    """
    try:
        found = path.stat()
    except OSError:
        return None
    if not stat.S_ISREG(found.st_mode):
        return None
    handle = os.open(path, _READ_FLAGS)
    try:
        chunks = []
        while chunk := os.read(handle, found.st_size + 1):  # one read, then the end
            chunks.append(chunk)
    finally:
        os.close(handle)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def script_of(path: Path, data: bytes) -> ReadScript | Violation:
    """:func:`read_script` of ``data``, the bytes already read from the regular file ``path``
    (the results cache reads each script to key it: linted from those bytes, the result is
    the one of that key)."""
    try:
        tree = history.parse_source(data, path)
        source = decode(data, parsed=True)
    except SyntaxError as exc:
        return Violation(
            f"the script does not parse: {exc.msg}",
            line=exc.lineno or 1,
            col=exc.offset or 1,
            help="fix the syntax error; Alembic cannot load this revision either",
        )
    except (UnicodeDecodeError, ValueError) as exc:
        return Violation(
            f"the script is not valid UTF-8 text: {exc}",
            line=1,
            col=1,
            help="save the file as UTF-8 (or declare its encoding in a coding comment)",
        )
    except (RecursionError, MemoryError):
        return Violation(
            "the script is too deeply nested for Python's parser",
            line=1,
            col=1,
            help="split the long expression; Alembic cannot load this revision either",
        )
    info = history.read_script(path, data=data, tree=tree)
    return ReadScript(source, tree, info if isinstance(info, history.Script) else None)


def decode(data: bytes, *, parsed: bool = False) -> str:
    """The script's text in the encoding Python reads it in: the one its coding comment
    declares (PEP 263), else UTF-8. Only the first two lines may declare one.

    ``parsed``: Python has parsed these bytes already, so what does not decode can only be
    in a comment (CPython's tokenizer skips a comment's bytes; Alembic imports such a script
    fine): it becomes U+FFFD instead of an error."""
    head = data[:1024]
    encoding = "utf-8"
    if b"coding" in head:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    return data.decode(encoding, errors="replace" if parsed else "strict")


def collect_files(
    paths: Sequence[Path], exclude: Sequence[str] = ()
) -> tuple[list[Path], list[Path]]:
    """The scripts to lint and the version directories whose graph the history rules read.

    A migrations directory (one with ``alembic.ini`` or ``env.py``) means its version
    locations; another directory means every ``*.py`` below it; a file means itself.
    """
    files: list[Path] = []
    locations: list[Path] = []
    for path in paths:
        if path.is_dir():
            if (path / "alembic.ini").is_file() or (path / "env.py").is_file():
                found = history.version_locations(path)
            else:
                found = [path]
            for location in found:
                locations.append(location)
                if location.is_dir():
                    files.extend(
                        p
                        for p in sorted(location.rglob("*.py"))
                        if p.name != "__init__.py"
                        # the text first: building the parts of every path costs more
                        and ("__pycache__" not in str(p) or "__pycache__" not in p.parts)
                    )
        elif path.exists():
            files.append(path)
            locations.append(path.parent)
        else:
            raise ConfigError(f"no such file or directory: {path}", hint="check the path")
    directories: dict[Path, tuple[Path, frozenset[str] | None]] = {}
    unique = list(dict.fromkeys(history.resolved(p, directories) for p in files))
    kept = [
        p
        for p in unique
        if not any(fnmatch.fnmatch(display_path(p), pat) or p.match(pat) for pat in exclude)
    ]
    return kept, list(dict.fromkeys(locations))
