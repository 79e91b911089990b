"""What each script's ``upgrade()`` does to named tables, kept between runs.

Pre-flight reads every pending script's statements on every run (:mod:`.statements`), but a
deploy that replays a long history (a fresh database, every tenant of a fleet, a no-op re-run
after a failed one) reads the same scripts each time, and parsing them is most of the cost
(lint's results of unchanged scripts are kept the same way: :mod:`..lint.cache`). A script's
rows depend on its bytes, the live dialect, the bind (the multi-database template's
``upgrade_<bind>()``) and the code that reads them, so:

- an entry is keyed by the sha256 of the script's bytes, the dialect and the bind (a single
  byte edited misses; where the script lives does not matter: rows hold no path);
- the file holds the :func:`.code_fingerprint` it was written with; another (an upgrade of
  this package, a module edited in a checkout) starts the file afresh.

The file is JSON (never pickle: nothing in it is executed), written whole to a temporary file
and renamed; a cache that cannot be read or written is simply not used.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Final

from flask_safemigrate.caches import EntryFile

__all__ = ["FILE_NAME", "StatementCache"]

#: The cache file, in the directory the caller gives (safe-upgrade: ``caches.user_cache()``).
FILE_NAME: Final = "safemigrate-statements-cache.json"
#: Entries kept: those of this run first, then the most recent others.
_ENTRIES: Final = 5000
_FORMAT: Final = 1


class StatementCache(EntryFile):
    """The cache file of ``directory``: load, look up, store, save (a cache: never raises)."""

    def __init__(self, directory: Path) -> None:
        super().__init__(
            directory / FILE_NAME,
            format_=_FORMAT,
            limit=_ENTRIES,
            prefix=".safemigrate-statements-",
        )

    @staticmethod
    def key(data: bytes, dialect: str | None, bind: str | None) -> str:
        """The entry of a script with bytes ``data`` read on ``dialect`` for ``bind``."""
        return f"{hashlib.sha256(data).hexdigest()}\0{dialect or ''}\0{bind!r}"

    def get(self, key: str) -> list[list[Any]] | None:
        """The stored rows (lists of JSON values), ``None`` when there are none."""
        rows = self.stored(key)
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            return None
        self.used(key, rows)
        return rows
