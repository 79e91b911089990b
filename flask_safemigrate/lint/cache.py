"""Lint results of unchanged scripts, kept between runs (safe-upgrade's pre-flight).

A deploy that replays a long history (a fresh database, a test environment, every tenant of a
fleet) lints the same scripts on every run. A script's findings depend on its text, where it
is (findings name it relative to the working directory), the ``env.py`` next to its history
(``concurrently-outside-autocommit`` reads it), the lint configuration, and the code of the
rules; the cache keys an entry by all of them:

- an entry: the script's resolved path, the working directory, the sha256 of its bytes and of
  the ``env.py`` files lint may read for it. An edited script (a single byte) misses;
- a file section: the configuration (every field of :class:`.LintConfig`, the SQLAlchemy
  version rules judge for included), the package version, Python's version, and the size and
  modification time of every module of the package (a rule edited in a checkout, or another
  release installed, starts a new section).

Only per-script results are kept, for a run limited to some revisions (``only_revisions``:
the history rules, which read the whole graph, do not run there). The file is JSON (never
pickle: nothing in it is executed), written whole to a temporary file and renamed. A cache
that cannot be read or written is simply not used: it only ever saves time.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from flask_safemigrate.code_fingerprint import code_fingerprint
from flask_safemigrate.lint.model import LintConfig
from flask_safemigrate.report import Finding, Severity

__all__ = ["FILE_NAME", "Cached", "LintCache"]

#: The cache file, in the directory the caller gives (safe-upgrade: ``caches.user_cache()``).
FILE_NAME: Final = "safemigrate-lint-cache.json"

#: Sections (configurations) kept in one file, the most recently used first.
_SECTIONS: Final = 16
#: Entries kept per section: those of this run first, then the most recent others.
_ENTRIES: Final = 5000
_FORMAT: Final = 1


@dataclasses.dataclass(frozen=True)
class Cached:
    """One script's lint result as stored: its revision, findings and silenced count.

    ``findings`` is ``None`` for a script read for its revision only (not linted then).
    """

    revision: str | None
    findings: list[Finding] | None
    silenced: int


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


def _finding_to_json(finding: Finding) -> dict[str, Any]:
    return {
        "rule": finding.rule,
        "severity": str(finding.severity),
        "message": finding.message,
        "code": finding.code,
        "path": finding.path,
        "line": finding.line,
        "col": finding.col,
        "help": finding.help,
        "extra": dict(finding.extra),
        "details": list(finding.details),
    }


def _finding_from_json(data: Mapping[str, Any]) -> Finding:
    return Finding(
        rule=data["rule"],
        severity=Severity(data["severity"]),
        message=data["message"],
        code=data["code"],
        path=data["path"],
        line=data["line"],
        col=data["col"],
        help=data["help"],
        extra=dict(data["extra"]),
        details=tuple(data["details"]),
    )


class LintCache:
    """The cache file of ``directory`` for one configuration; load, look up, store, save."""

    def __init__(self, directory: Path, config: LintConfig) -> None:
        self.path = directory / FILE_NAME
        self.key = section_key(config)
        self.cwd = str(Path.cwd())
        self._sections: dict[str, dict[str, Any]] = {}
        self._entries: dict[str, Any] = {}
        self._used: dict[str, Any] = {}
        self._env: dict[Path, str] = {}
        #: The names of the rules a run with this configuration runs (the report's
        #: ``rules_run``), so a run whose every script hits imports no rule.
        self.rules_run: list[str] | None = None
        self._changed = False
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if data.get("format") == _FORMAT and isinstance(data.get("sections"), dict):
                self._sections = data["sections"]
        except (OSError, ValueError, AttributeError):  # none yet, unreadable or not ours
            self._sections = {}
        section = self._sections.get(self.key)
        section = section if isinstance(section, dict) else {}
        entries = section.get("entries")
        self._entries = entries if isinstance(entries, dict) else {}
        ran = section.get("rules_run")
        if isinstance(ran, list) and all(isinstance(name, str) for name in ran):
            self.rules_run = ran

    def _env_digest(self, script: Path) -> str:
        """The ``env.py`` files lint may read for ``script`` (see ``helpers.env_script``)."""
        folder = script.parent
        digest = self._env.get(folder)
        if digest is None:
            parts = []
            for candidate in (folder.parent / "env.py", folder / "env.py"):
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

    def get(self, key: str) -> Cached | None:
        stored = self._entries.get(key)
        if not isinstance(stored, dict):
            return None
        try:
            listed = stored["findings"]
            found = Cached(
                revision=stored["revision"],
                findings=None if listed is None else [_finding_from_json(i) for i in listed],
                silenced=int(stored["silenced"]),
            )
        except (KeyError, TypeError, ValueError):  # an entry of another shape: lint again
            return None
        self._used[key] = stored
        return found

    def put(self, key: str, result: Cached) -> None:
        """Keep ``result`` unless its findings would not read back exactly as they are."""
        listed = result.findings
        stored = {
            "revision": result.revision,
            "findings": None if listed is None else [_finding_to_json(f) for f in listed],
            "silenced": result.silenced,
        }
        try:
            back = json.loads(json.dumps(stored))
        except (TypeError, ValueError):
            return
        if listed is not None and [_finding_from_json(i) for i in back["findings"]] != listed:
            return  # e.g. a tuple in ``extra`` would come back a list
        self._used[key] = back
        self._changed = True

    def save(self) -> None:
        """Write the file when this run added to it; errors are ignored (a cache)."""
        if not self._changed or self.rules_run is None:
            return
        entries = dict(self._used)
        for key, value in self._entries.items():
            if len(entries) >= _ENTRIES:
                break
            entries.setdefault(key, value)
        sections: dict[str, Any] = {self.key: {"entries": entries, "rules_run": self.rules_run}}
        for key, value in self._sections.items():
            if len(sections) >= _SECTIONS:
                break
            sections.setdefault(key, value)
        text = json.dumps({"format": _FORMAT, "sections": sections}, separators=(",", ":"))
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle, name = tempfile.mkstemp(
                dir=self.path.parent, prefix=".safemigrate-lint-", suffix=".tmp"
            )
            temporary = Path(name)
            try:
                with os.fdopen(handle, "w", encoding="utf-8") as out:
                    out.write(text)
                temporary.replace(self.path)
            except BaseException:
                temporary.unlink(missing_ok=True)
                raise
        except OSError:
            return
