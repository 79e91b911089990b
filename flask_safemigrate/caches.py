"""Where safe-upgrade keeps what it remembers between runs: the user's cache directory.

Four files live there: lint results of unchanged scripts (:mod:`.lint.cache`), what the
static read of each script found (:mod:`.history.cache`), the statements pre-flight reads in
them for the live database (:mod:`.live.statements_cache`) and the fingerprints of drift
checks that found nothing (:mod:`.schema_fingerprint`). All only
ever save time, so they are kept outside the project: a run writes nothing under the app's folders
(a failed run leaves the project byte for byte as it was), and a deploy that cannot write
there simply does the work again.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from flask_safemigrate.code_fingerprint import code_fingerprint

__all__ = ["EntryFile", "replace_text", "user_cache"]


def user_cache() -> Path | None:
    """``$XDG_CACHE_HOME/flask-safemigrate``, else ``~/.cache/flask-safemigrate``; ``None``
    when neither can be named (no home directory)."""
    base = os.environ.get("XDG_CACHE_HOME")
    if base and Path(base).is_absolute():
        return Path(base) / "flask-safemigrate"
    try:
        return Path.home() / ".cache" / "flask-safemigrate"
    except (RuntimeError, KeyError, OSError):
        return None


class EntryFile:
    """A JSON file of entries keyed by strings, kept between runs: load, look up, store, save.

    The file holds its format and the :func:`.code_fingerprint` it was written with; another
    (an upgrade of this package, a module edited in a checkout) starts it afresh. Written
    whole to a temporary file and renamed (never pickle: nothing in it is executed). A cache:
    nothing here raises, a file that cannot be read or written is simply not used.
    """

    def __init__(self, path: Path, *, format_: int, limit: int, prefix: str) -> None:
        self.path = path
        self.code = code_fingerprint()
        self._format = format_
        self._limit = limit
        self._prefix = prefix
        self._entries: dict[str, Any] = {}
        self._used: dict[str, Any] = {}
        self._changed = False
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if (
                isinstance(data, dict)
                and data.get("format") == format_
                and data.get("code") == self.code
                and isinstance(data.get("entries"), dict)
            ):
                self._entries = data["entries"]
        except (OSError, ValueError):  # none yet, unreadable or not ours
            self._entries = {}

    def stored(self, key: str) -> Any:
        """The value stored under ``key`` (``None``: none); the caller checks its shape and
        calls :meth:`used` when it takes it."""
        return self._entries.get(key)

    def used(self, key: str, value: Any) -> None:
        """``value`` (stored under ``key``) served this run: it is kept first."""
        self._used[key] = value

    def put(self, key: str, value: Any) -> None:
        self._used[key] = value
        self._changed = True

    def save(self) -> None:
        """Write the file when this run added to it: this run's entries first, then the most
        recent others up to the limit. Errors are ignored (a cache)."""
        if not self._changed:
            return
        entries = dict(self._used)
        for key, value in self._entries.items():
            if len(entries) >= self._limit:
                break
            entries.setdefault(key, value)
        try:
            text = json.dumps(
                {"format": self._format, "code": self.code, "entries": entries},
                separators=(",", ":"),
            )
            replace_text(self.path, text, prefix=self._prefix)
        except (OSError, TypeError, ValueError):
            return


def replace_text(path: Path, text: str, *, prefix: str) -> None:
    """Write ``text`` as ``path`` whole or not at all: a hidden temporary file beside it
    (``prefix``), then renamed over it, so a reader never sees half a cache. Raises
    ``OSError``; the temporary file never stays behind.

    ``tempfile`` is imported here: it pulls in ``shutil``, ``random`` and more, which a
    run that only reads its caches (lint with nothing changed) never needs."""
    import tempfile

    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=prefix, suffix=".tmp")
    temporary = Path(name)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        temporary.replace(path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
