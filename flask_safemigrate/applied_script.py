"""What an applied migration script did, compared with the script as it is now.

``flask db ledger accept`` is for edits that change nothing the database sees. The ledger
keeps only the applied script's checksum, so its text is looked up in git: the newest of the
file's last commits whose text has that checksum (:func:`applied_text`). :func:`operations`
reduces a script to the calls its ``upgrade()`` and ``downgrade()`` make, as ``ast`` dumps
them: comments, formatting, docstrings and line numbers aside, two scripts with the same
operations do the same to the schema.
"""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

from flask_safemigrate import ledger

__all__ = ["applied_text", "operations"]

#: Seconds each git command may take (a local read).
GIT_TIMEOUT = 10
#: How many of the file's commits are searched for the applied text, newest first.
COMMITS = 50


def operations(source: bytes) -> str | None:
    """The calls ``upgrade()`` and ``downgrade()`` make, as one comparable text; ``None``
    for a script that does not parse."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return None
    parts = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name in ("upgrade", "downgrade"):
            calls = [ast.dump(n) for n in ast.walk(node) if isinstance(n, ast.Call)]
            parts.append(f"{node.name}: " + "\n".join(calls))
    return "\n\n".join(sorted(parts))


def applied_text(path: Path, recorded: str) -> bytes | None:
    """The text of ``path`` whose checksum is ``recorded``, from its git history (the
    working tree's last commit first); ``None`` when git has none (no git, not tracked, or
    not committed as applied)."""
    where = path.resolve().parent
    log = _git(where, "log", f"-n{COMMITS}", "--format=%H", "--", path.name)
    if log is None:
        return None
    for commit in log.decode().split():
        data = _git(where, "show", f"{commit}:./{path.name}")
        if data is not None and ledger.matches_data(data, recorded):
            return data
    return None


def _git(directory: Path, *args: str) -> bytes | None:
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=directory,
            capture_output=True,
            timeout=GIT_TIMEOUT,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None
