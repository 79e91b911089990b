"""Adopting lint on an existing history: record today's findings once, report only new ones.

``lint --write-baseline FILE`` writes every finding of the run to FILE; ``lint --baseline
FILE`` (or ``baseline = "FILE"`` in ``[tool.safemigrate.lint]``) then drops the findings FILE
records and reports the rest, so a team can turn lint on for a 300-revision history in one
commit and still be stopped by the next bad revision.

Entries are keyed by :mod:`~flask_safemigrate.lint.fingerprint` (file, rule, hash of the
source line, occurrence), not by line number or message: adding lines above a recorded finding,
or a rule's message being reworded, keeps it recorded. Files are relative to the baseline's
own directory, so the same entries match whether lint runs from the project root, from the
migrations directory or from pre-commit with single file names.

The file is JSON, one entry per line, sorted: the standard library reads and writes it (TOML
it could only read), and a diff of the file shows one line per finding added or fixed. It is
written to a temporary file next to it and renamed over it, so it is never half-written.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask_safemigrate.errors import ConfigError
from flask_safemigrate.lint.fingerprint import Fingerprint, fingerprints, relative_file
from flask_safemigrate.report import Finding, Report
from flask_safemigrate.text import display_path

VERSION = 1
_TOKEN = re.compile(r"([0-9a-f]+)#(\d+)")
_KEYS = ("file", "rule", "fingerprint", "code", "message")


@dataclass(frozen=True)
class Baseline:
    """The findings a baseline file records, by fingerprint (a finding may be there once)."""

    path: Path
    entries: frozenset[Fingerprint]


@dataclass(frozen=True)
class Applied:
    """What comparing a run with a baseline gave."""

    report: Report  # the run with the recorded findings taken out
    suppressed: int  # findings the baseline records
    stale: int  # entries about what this run judged that no finding matches any more


def _usage(path: Path, problem: str) -> ConfigError:
    return ConfigError(
        f"baseline {path}: {problem}",
        hint=f"write it again: `flask db lint --write-baseline {shlex.quote(str(path))}`",
    )


def load(path: Path) -> Baseline:
    """Read a baseline file; anything but a readable baseline of this version is a usage
    error (exit 2) naming the file, never a traceback."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"baseline {path} does not exist",
            hint=f"create it: `flask db lint --write-baseline {shlex.quote(str(path))}`",
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise _usage(path, f"cannot be read ({reason})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _usage(path, f"is not valid JSON (line {exc.lineno}: {exc.msg})") from None
    if not isinstance(data, dict) or not isinstance(data.get("findings"), list):
        raise _usage(path, "is not a safemigrate lint baseline (no findings list)")
    if data.get("version") != VERSION:
        raise _usage(
            path,
            f"has version {data.get('version')!r}; this safemigrate reads version {VERSION}",
        )
    entries = set()
    for number, entry in enumerate(data["findings"], 1):
        fingerprint = _entry(entry)
        if fingerprint is None:
            raise _usage(
                path, f"finding {number} needs file, rule and fingerprint (hex#number) strings"
            )
        entries.add(fingerprint)
    return Baseline(path, frozenset(entries))


def _entry(entry: Any) -> Fingerprint | None:
    if not isinstance(entry, Mapping):
        return None
    file, rule, token = entry.get("file"), entry.get("rule"), entry.get("fingerprint")
    if not (isinstance(file, str) and isinstance(rule, str) and isinstance(token, str)):
        return None
    match = _TOKEN.fullmatch(token)
    if match is None:
        return None
    return Fingerprint(file, rule, match[1], int(match[2]))


def apply(report: Report, baseline: Baseline, *, cwd: Path | None = None) -> Applied:
    """The report without the findings the baseline records.

    An entry counts as stale only when this run judged its file with its rule and found
    nothing there: linting a few files (pre-commit), ``--since`` or ``--select`` leaves the
    rest of the baseline alone.
    """
    root = baseline.path.resolve().parent
    matched: set[Fingerprint] = set()
    recorded: set[int] = set()  # ids of the findings the baseline records
    for fingerprint, finding in fingerprints(report.findings, root, cwd=cwd):
        if fingerprint in baseline.entries:
            matched.add(fingerprint)
            recorded.add(id(finding))
    kept = [finding for finding in report.findings if id(finding) not in recorded]
    judged_files = {relative_file(path, root) for path in report.facts.get("scope", ())}
    judged_rules = set(report.facts.get("rules_run", ()))
    stale = sum(
        1
        for entry in baseline.entries - matched
        if entry.file in judged_files and entry.rule in judged_rules
    )
    # A baseline found through pyproject.toml is absolute: shown relative to the working directory.
    summary = {"file": display_path(baseline.path), "suppressed": len(matched), "stale": stale}
    facts = {**report.facts, "baseline": summary}
    filtered = dataclasses.replace(report, findings=kept, facts=facts)
    return Applied(filtered, len(matched), stale)


def entries_of(
    findings: Iterable[Finding], root: Path, *, cwd: Path | None = None
) -> list[dict[str, str]]:
    """The baseline entries for these findings, sorted by file, rule and fingerprint."""
    return [
        {
            "file": fingerprint.file,
            "rule": fingerprint.rule,
            "fingerprint": fingerprint.token,
            "code": finding.code or "",
            "message": finding.message,
        }
        for fingerprint, finding in sorted(
            fingerprints(findings, root, cwd=cwd), key=lambda pair: pair[0]
        )
    ]


def render(entries: Sequence[Mapping[str, str]]) -> str:
    """The file's text: deterministic, one entry per line."""
    lines = [
        json.dumps({key: entry[key] for key in _KEYS}, ensure_ascii=False) for entry in entries
    ]
    body = ",\n    ".join(lines)
    findings = f"[\n    {body}\n  ]" if lines else "[]"
    return (
        "{\n"
        f'  "version": {VERSION},\n'
        '  "tool": "flask-safemigrate lint",\n'
        f'  "findings": {findings}\n'
        "}\n"
    )


def write(path: Path, report: Report, *, cwd: Path | None = None) -> int:
    """Record every finding of ``report`` in ``path``, atomically; returns how many."""
    target = path.resolve() if path.parent.exists() else path
    if not target.parent.is_dir():
        raise ConfigError(
            f"cannot write baseline {path}: no directory {target.parent}",
            hint="create the directory first, or name a file in an existing one",
        )
    if target.is_dir():
        raise ConfigError(f"cannot write baseline {path}: it is a directory", hint="name a file")
    entries = entries_of(report.findings, target.parent, cwd=cwd)
    text = render(entries)
    # Imported here: tempfile brings in shutil and random, which every other lint run (and
    # the start-up of `safemigrate lint`) would pay for nothing.
    import tempfile

    try:
        handle, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as exc:
        raise ConfigError(
            f"cannot write baseline {path}: {exc.strerror or exc}",
            hint="check the directory's permissions",
        ) from None
    temporary = Path(name)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        with contextlib.suppress(OSError):  # a file to commit and share, not mkstemp's 0600
            temporary.chmod(target.stat().st_mode & 0o7777 if target.exists() else 0o644)
        temporary.replace(target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise ConfigError(
            f"cannot write baseline {path}: {exc.strerror or exc}",
            hint="check the directory's permissions and free space",
        ) from None
    return len(entries)
