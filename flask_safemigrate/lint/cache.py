"""Lint results of unchanged scripts, kept between runs (``safemigrate lint``, ``flask db lint``
and safe-upgrade's pre-flight).

A pre-commit hook lints the same history on every commit, and a deploy that replays a long
history (a fresh database, a test environment, every tenant of a fleet) lints the same scripts
on every run. A script's findings depend on its text, where it
is (findings name it relative to the working directory), the ``env.py`` next to its history
(``concurrently-outside-autocommit`` reads it), the lint configuration, and the code of the
rules; the cache keys an entry by all of them:

- an entry: the script's resolved path, the working directory, the sha256 of its bytes and of
  the ``env.py`` files lint may read for it. An edited script (a single byte) misses;
- a file section: the configuration (every field of :class:`.LintConfig`, the SQLAlchemy
  version rules judge for included), the package version, Python's version, and the size and
  modification time of every module of the package (a rule edited in a checkout, or another
  release installed, starts a new section).

Only per-script results are kept: a script's findings and what the history rules read of it
(its revision identifiers, :class:`history.Script`). The history rules themselves, which judge
the whole graph, run on every run, from those. A section also records which rules the
configuration runs, so a run whose every script hits imports only the history rules.

Each section is a JSON file of its own (never pickle: nothing in it is executed), so a run
reads only its configuration's, written whole to a temporary file and renamed; the 16 most
recently used are kept. A cache that cannot be read or written is simply not used: it only
ever saves time.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import hashlib
import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from flask_safemigrate import history
from flask_safemigrate.caches import replace_text
from flask_safemigrate.code_fingerprint import code_fingerprint
from flask_safemigrate.lint.model import LintConfig
from flask_safemigrate.report import Finding, Severity

__all__ = ["FILE_GLOB", "Cached", "LintCache"]

#: The cache files, one per section (configuration), in the directory the caller gives
#: (``caches.user_cache()``): ``safemigrate-lint-cache-<key>.json``.
FILE_GLOB: Final = "safemigrate-lint-cache-*.json"
_PREFIX: Final = "safemigrate-lint-cache-"

#: Sections (configurations, one file each) kept: the least recently used go first.
_SECTIONS: Final = 16
#: Entries kept per section: those of this run first, then the most recent others.
_ENTRIES: Final = 5000
_FORMAT: Final = 4  # 4: entries, findings and scripts as JSON arrays


@dataclasses.dataclass(frozen=True)
class Cached:
    """One script's lint result as stored: its revision, findings and silenced count, and
    what the history rules read of it (``None`` for a script they cannot read).

    ``findings`` is ``None`` for a script read for its revision only (not linted then).
    """

    revision: str | None
    findings: list[Finding] | None
    silenced: int
    script: history.Script | None = None


def _canonical(value: Any) -> Any:
    """``value`` as JSON that does not depend on set order or hash seeds."""
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, Mapping):
        pairs = [[_canonical(k), _canonical(v)] for k, v in value.items()]
        return sorted(pairs, key=lambda pair: json.dumps(pair, sort_keys=True))
    if isinstance(value, (set, frozenset)):
        return sorted((_canonical(v) for v in value), key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return repr(value)


def section_key(config: LintConfig) -> str:
    """The key of everything but the script that a script's findings depend on."""
    fields = {f.name: _canonical(getattr(config, f.name)) for f in dataclasses.fields(config)}
    fields["sqlalchemy_version"] = list(config.sqlalchemy_version)
    text = json.dumps([code_fingerprint(), fields], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _finding_to_json(finding: Finding) -> list[Any]:
    # Positional, as every entry: a tenth of a cold run's cache work was JSON of key names.
    return [
        finding.rule,
        str(finding.severity),
        finding.message,
        finding.code,
        finding.path,
        finding.line,
        finding.col,
        finding.help,
        dict(finding.extra),
        list(finding.details),
    ]


def _finding_from_json(data: Sequence[Any]) -> Finding:
    rule, severity, message, code, path, line, col, help_, extra, details = data
    return Finding(
        rule=rule,
        severity=Severity(severity),
        message=message,
        code=code,
        path=path,
        line=line,
        col=col,
        help=help_,
        extra=dict(extra),
        details=tuple(details),
    )


class LintCache:
    """The cache file of ``directory`` for one configuration; load, look up, store, save."""

    def __init__(self, directory: Path, config: LintConfig) -> None:
        self.key = section_key(config)
        self.path = directory / f"{_PREFIX}{self.key[:32]}.json"
        self.cwd = str(Path.cwd())
        self._entries: dict[str, Any] = {}
        self._used: dict[str, Any] = {}
        self._env: dict[str, str] = {}
        #: The names of the script rules a run with this configuration runs (the report's
        #: ``rules_run``), so a run whose every script hits imports no script rule.
        self.rules_run: list[str] | None = None
        #: The modules of the history rules it runs (each one of ``registry.RULE_MODULES``).
        self.graph_modules: list[str] | None = None
        self._changed = False
        self._read = False
        try:
            section = json.loads(self.path.read_text(encoding="utf-8"))
            if section.get("format") != _FORMAT or section.get("key") != self.key:
                section = {}
        except (OSError, ValueError, AttributeError):  # none yet, unreadable or not ours
            section = {}
        entries = section.get("entries")
        self._entries = entries if isinstance(entries, dict) else {}
        self.rules_run = _names(section.get("rules_run"))
        self.graph_modules = _names(section.get("graph_modules"))
        self._read = bool(self._entries)

    def _env_digest(self, script: Path) -> str:
        """The ``env.py`` files lint may read for ``script`` (see ``helpers.env_script``)."""
        folder = os.path.dirname(script)  # noqa: PTH120 -- a str key hashes faster, per script
        digest = self._env.get(folder)
        if digest is None:
            parts = []
            directory = Path(folder)
            for candidate in (directory.parent / "env.py", directory / "env.py"):
                try:
                    parts.append(hashlib.sha256(candidate.read_bytes()).hexdigest())
                except OSError:
                    parts.append("-")
            digest = self._env[folder] = ":".join(parts)
        return digest

    def entry_key(self, path: Path, data: bytes) -> str:
        """The key of ``path`` (resolved) with the bytes ``data`` read from it."""
        digest = hashlib.sha256(data).hexdigest()
        return f"{self.cwd}\0{path}\0{digest}\0{self._env_digest(path)}"

    def get(self, key: str, path: Path) -> Cached | None:
        """The entry of ``key`` (made by :meth:`entry_key` for ``path``), if any."""
        stored = self._entries.get(key)
        if not isinstance(stored, list):
            return None
        try:
            revision, listed, silenced, script = stored
            found = Cached(
                revision=revision,
                findings=None if listed is None else [_finding_from_json(i) for i in listed],
                silenced=int(silenced),
                script=history.script_from_json(script, path),
            )
        except (KeyError, TypeError, ValueError):  # an entry of another shape: lint again
            return None
        self._used[key] = stored
        return found

    def put(self, key: str, path: Path, result: Cached) -> None:
        """Keep ``result`` (``path``'s) unless it would not read back exactly as it is."""
        listed = result.findings
        stored = [
            result.revision,
            None if listed is None else [_finding_to_json(f) for f in listed],
            result.silenced,
            history.script_to_json(result.script),
        ]
        if listed is None or all(not f.extra or _plain(f.extra) for f in listed):
            # Strings, numbers, lists and string-keyed dicts come back as they went: no need
            # to write and read each entry to know (a tenth of a cold run's time).
            self._used[key] = stored
            self._changed = True
            return
        try:
            back = json.loads(json.dumps(stored))
        except (TypeError, ValueError):
            return
        if [_finding_from_json(i) for i in back[1]] != listed:
            return  # e.g. a tuple in ``extra`` would come back a list
        self._used[key] = back
        self._changed = True

    def save(self) -> None:
        """Write the file when this run added to it; errors are ignored (a cache)."""
        if not self._changed or self.rules_run is None or self.graph_modules is None:
            if self._read:  # used: not among the least recently used the next save prunes
                with contextlib.suppress(OSError):
                    os.utime(self.path)
            return
        entries = dict(self._used)
        for key, value in self._entries.items():
            if len(entries) >= _ENTRIES:
                break
            entries.setdefault(key, value)
        section = {
            "format": _FORMAT,
            "key": self.key,
            "entries": entries,
            "rules_run": self.rules_run,
            "graph_modules": self.graph_modules,
        }
        text = json.dumps(section, separators=(",", ":"), check_circular=False)
        try:
            replace_text(self.path, text, prefix=".safemigrate-lint-")
            _prune(self.path.parent)
        except OSError:
            return


def _prune(directory: Path) -> None:
    """Remove the least recently used section files beyond :data:`_SECTIONS`."""
    dated = []
    for path in directory.glob(FILE_GLOB):
        with contextlib.suppress(OSError):
            dated.append((path.stat().st_mtime_ns, path))
    dated.sort(reverse=True)
    for _, path in dated[_SECTIONS:]:
        with contextlib.suppress(OSError):
            path.unlink()


def _names(value: object) -> list[str] | None:
    """``value`` when it is a list of strings (as :meth:`LintCache.save` writes), else ``None``."""
    if isinstance(value, list) and all(isinstance(name, str) for name in value):
        return value
    return None


def _plain(value: object) -> bool:
    """Whether ``value`` reads back from JSON as itself: ``str``, ``int``, ``bool``, ``None``,
    a finite ``float``, and lists and ``str``-keyed dicts of those (a tuple would come back a
    list, an enum a string, NaN unequal to itself)."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return True
    if kind is float:
        return math.isfinite(value)  # type: ignore[arg-type]
    if kind is list:
        return all(_plain(item) for item in value)  # type: ignore[attr-defined]
    if kind is dict:
        return all(
            type(k) is str and _plain(v)
            for k, v in value.items()  # type: ignore[attr-defined]
        )
    return False
