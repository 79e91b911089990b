"""What the static read of each revision script found, kept between runs (safe-upgrade).

safe-upgrade reads the whole history before anything else (:func:`.load_graph`: one read and
one ``ast.parse`` per script), on every run; a deploy that replays a long history (a fresh
database, every tenant of a fleet, a no-op re-run) parses the same scripts each time, and the
parse is most of the cost (about 0.07 s of CPU for 200 scripts). What the read finds
(:class:`.Script`) depends on the script's bytes alone, its path aside, so:

- an entry is keyed by the sha256 of the script's bytes (a single byte edited misses) and
  holds the :class:`.Script` without its path (the file read gives it);
- the file holds the :func:`.code_fingerprint` it was written with (:class:`.EntryFile`):
  another version of the reader starts it afresh.

A script the read finds a defect in (a :class:`.GraphProblem`) is never stored: it is read,
and reported, the same way every time. Every file is still read whole on every run: the
bytes decide, never a modification time.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Final

from flask_safemigrate.caches import EntryFile
from flask_safemigrate.history.files import not_regular
from flask_safemigrate.history.model import GraphProblem, Script
from flask_safemigrate.history.script_json import script_from_json, script_to_json
from flask_safemigrate.history.scripts import read_script

__all__ = ["FILE_NAME", "ScriptCache"]

#: The cache file, in the directory the caller gives (safe-upgrade: ``caches.user_cache()``).
FILE_NAME: Final = "safemigrate-scripts-cache.json"
#: Entries kept: those of this run first, then the most recent others.
_ENTRIES: Final = 5000
_FORMAT: Final = 1


class ScriptCache(EntryFile):
    """The cache file of ``directory``; :meth:`read` is :func:`.read_script` through it."""

    def __init__(self, directory: Path) -> None:
        super().__init__(
            directory / FILE_NAME, format_=_FORMAT, limit=_ENTRIES, prefix=".safemigrate-scripts-"
        )

    def read(self, path: Path) -> Script | GraphProblem:
        """:func:`.read_script` of ``path``, without its parse when these bytes were read before."""
        if not_regular(path) is not None:
            return read_script(path)  # never opened: the read reports it
        try:
            data = path.read_bytes()
        except OSError:
            return read_script(path)  # the read reports why it cannot be opened
        key = hashlib.sha256(data).hexdigest()
        stored = self.stored(key)
        if isinstance(stored, list):
            try:
                script = script_from_json(stored, path)
            except (TypeError, ValueError):  # not an entry this version wrote
                script = None
            if script is not None:
                self.used(key, stored)
                return script
        result = read_script(path, data=data)
        if isinstance(result, Script):
            self.put(key, script_to_json(result))
        return result
