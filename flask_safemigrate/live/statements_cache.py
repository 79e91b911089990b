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
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Final

from flask_safemigrate.code_fingerprint import code_fingerprint

__all__ = ["FILE_NAME", "StatementCache"]

#: The cache file, in the directory the caller gives (safe-upgrade: ``caches.user_cache()``).
FILE_NAME: Final = "safemigrate-statements-cache.json"
#: Entries kept: those of this run first, then the most recent others.
_ENTRIES: Final = 5000
_FORMAT: Final = 1


class StatementCache:
    """The cache file of ``directory``: load, look up, store, save (a cache: never raises)."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / FILE_NAME
        self.code = code_fingerprint()
        self._entries: dict[str, Any] = {}
        self._used: dict[str, Any] = {}
        self._changed = False
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if (
                isinstance(data, dict)
                and data.get("format") == _FORMAT
                and data.get("code") == self.code
                and isinstance(data.get("entries"), dict)
            ):
                self._entries = data["entries"]
        except (OSError, ValueError):  # none yet, unreadable or not ours
            self._entries = {}

    @staticmethod
    def key(data: bytes, dialect: str | None, bind: str | None) -> str:
        """The entry of a script with bytes ``data`` read on ``dialect`` for ``bind``."""
        return f"{hashlib.sha256(data).hexdigest()}\0{dialect or ''}\0{bind!r}"

    def get(self, key: str) -> list[list[Any]] | None:
        """The stored rows (lists of JSON values), ``None`` when there are none."""
        rows = self._entries.get(key)
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            return None
        self._used[key] = rows
        return rows

    def put(self, key: str, rows: list[list[Any]]) -> None:
        self._used[key] = rows
        self._changed = True

    def save(self) -> None:
        """Write the file when this run added to it; errors are ignored (a cache)."""
        if not self._changed:
            return
        entries = dict(self._used)
        for key, value in self._entries.items():
            if len(entries) >= _ENTRIES:
                break
            entries.setdefault(key, value)
        try:
            text = json.dumps(
                {"format": _FORMAT, "code": self.code, "entries": entries}, separators=(",", ":")
            )
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle, name = tempfile.mkstemp(
                dir=self.path.parent, prefix=".safemigrate-statements-", suffix=".tmp"
            )
            temporary = Path(name)
            try:
                with os.fdopen(handle, "w", encoding="utf-8") as out:
                    out.write(text)
                temporary.replace(self.path)
            except BaseException:
                temporary.unlink(missing_ok=True)
                raise
        except (OSError, TypeError, ValueError):
            return
