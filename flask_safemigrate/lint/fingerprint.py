"""A finding's identity that survives edits around it: what a baseline and a triage file key on.

A line number moves whenever lines are added above a finding, and a message changes whenever
a rule's wording is improved; neither says the finding is a different one. The fingerprint is
instead the file (relative to a root the caller picks), the rule, a hash of the source line the
finding points at (whitespace collapsed, so re-indenting keeps it; the message when the
finding has no line, as history findings about the whole graph have) and which occurrence of
that same (file, rule, hash) it is, counted in source order: two identical ``drop_column``
lines in one script are ``#0`` and ``#1``.

``safemigrate lint --baseline`` keys on it. ``benchmarks/corpus.py`` did too until December
2026; its scripts never change, so its triage ids now name a finding by its place instead
(occurrence numbers here move when an earlier finding on an identical line comes or goes).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from flask_safemigrate.report import Finding

_SPACE = re.compile(r"\s+")
#: Hex digits of the sha1 kept: 40 bits, unique enough among one file's findings of one rule.
DIGEST_LENGTH = 10


@dataclass(frozen=True, order=True)
class Fingerprint:
    """Where a finding is and what it points at, without its line number or wording."""

    file: str  # POSIX path relative to the root (``..`` parts when outside it)
    rule: str  # the kebab-case rule name
    digest: str  # hash of the normalised source line (or message), DIGEST_LENGTH hex digits
    occurrence: int  # earlier findings with the same file, rule and digest

    @property
    def token(self) -> str:
        """``digest#occurrence``: the part that identifies the finding within its file and rule."""
        return f"{self.digest}#{self.occurrence}"


def relative_file(path: str | Path, root: str | Path) -> str:
    """``path`` as a POSIX path relative to ``root``, ``..`` parts when outside it.

    Both are taken as absolute and already resolved, as lint's own paths are (the engine
    resolves every script once): this is arithmetic on the text, with no system call and no
    ``Path`` object per finding, which shows on a history with thousands of them.
    """
    try:
        relative = os.path.relpath(path, root)
    except ValueError:  # another drive on Windows: no relative path exists
        relative = os.fspath(path)
    return relative.replace(os.sep, "/") if os.sep != "/" else relative


def normalised(text: str) -> str:
    """The text with runs of whitespace collapsed to one space, stripped."""
    return _SPACE.sub(" ", text).strip()


def digest(text: str) -> str:
    return hashlib.sha1(normalised(text).encode("utf-8")).hexdigest()[:DIGEST_LENGTH]


def fingerprints(
    findings: Iterable[Finding], root: Path, *, cwd: Path | None = None
) -> list[tuple[Fingerprint, Finding]]:
    """Each finding with its fingerprint, its file taken relative to ``root``.

    A finding's ``path`` is as the report shows it (relative to the working directory,
    ``cwd``, or absolute; resolved, as the engine shows them); each script is read once.
    Findings come back in source order (path, line, column, message), the order occurrences
    are counted in.
    """
    here = os.fspath(Path.cwd() if cwd is None else cwd)
    base = os.fspath(root.resolve())
    sources: dict[str, list[str]] = {}
    files: dict[str, tuple[str, str]] = {}
    counts: Counter[tuple[str, str, str]] = Counter()
    out = []
    ordered = sorted(findings, key=lambda f: (f.path or "", f.line or 0, f.col or 0, f.message))
    for finding in ordered:
        shown = finding.path or ""
        if shown not in files:
            path = os.path.normpath(os.path.join(here, shown))  # noqa: PTH118 (per finding: no Path objects) if shown else base
            files[shown] = (path, relative_file(path, base))
        path, file = files[shown]
        text = finding.message
        if finding.line:
            lines = _source_lines(path, sources)
            if 0 < finding.line <= len(lines):
                text = lines[finding.line - 1]
        key = (file, finding.rule, digest(text))
        out.append((Fingerprint(*key, counts[key]), finding))
        counts[key] += 1
    return out


def _source_lines(path: str, cache: dict[str, list[str]]) -> list[str]:
    if path not in cache:
        try:
            with open(path, encoding="utf-8", errors="replace") as script:  # noqa: PTH123
                cache[path] = script.read().splitlines()
        except OSError:  # gone since the run, or a directory (a history finding's location)
            cache[path] = []
    return cache[path]
