"""The previous release's models snapshot, from a snapshot file or a git ref.

``verify --compat-with REF``: ``REF`` names an existing file (a snapshot kept elsewhere),
else a git revision (tag, branch, commit) whose ``migrations/models.snapshot.json`` is read
with ``git show REF:<path>``. Nothing of the old code is imported or checked out.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask_safemigrate import models_snapshot
from flask_safemigrate.errors import ConfigError
from flask_safemigrate.text import display_path

__all__ = ["OldSnapshot", "load_old_snapshot"]

#: Seconds ``git show`` may take (a local read; a hung credential prompt must not hang CI).
GIT_TIMEOUT = 30


@dataclass(frozen=True)
class OldSnapshot:
    """A past release's snapshot and how messages name it (``v1.4:migrations/...``)."""

    data: dict[str, Any]
    label: str
    #: The git ref it was read at (its migration scripts are the release's), ``None`` for a
    #: snapshot file (which does not say which revisions its release had).
    ref: str | None = None


def _hint(directory: Path) -> str:
    shown = display_path(models_snapshot.path_in(directory))
    return (
        "name a git ref (tag, branch or commit) whose tree has "
        f"{shown} (written by `flask db snapshot`), or the path of a snapshot file"
    )


def _git_show(ref: str, directory: Path) -> tuple[str, str]:
    """The snapshot's text at ``ref`` and its label; :class:`ConfigError` when git cannot
    give it (no git, not a repository, an unknown ref, no such file there)."""
    spec = f"{ref}:./{models_snapshot.SNAPSHOT_NAME}"
    try:
        done = subprocess.run(
            ["git", "show", spec],
            cwd=directory,
            capture_output=True,
            timeout=GIT_TIMEOUT,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ConfigError(
            f"--compat-with {ref}: git could not be run ({exc})", hint=_hint(directory)
        ) from None
    if done.returncode != 0:
        error = done.stderr.decode("utf-8", "replace").strip().splitlines()
        reason = error[0].removeprefix("fatal: ") if error else f"git exited {done.returncode}"
        raise ConfigError(
            f"--compat-with {ref}: not a file, and git cannot read it: {reason}",
            hint=_hint(directory),
        )
    label = f"{ref}:{display_path(models_snapshot.path_in(directory))}"
    return done.stdout.decode("utf-8", "replace"), label


def load_old_snapshot(ref: str, directory: Path) -> OldSnapshot:
    """The snapshot ``ref`` names (a file path, else a git ref read in ``directory``'s
    repository); :class:`ConfigError` (exit 2, one line) when it cannot be read or is not one."""
    path = Path(ref)
    git_ref = None
    if path.is_file():
        try:
            text, label = path.read_text(encoding="utf-8"), display_path(path)
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"--compat-with {ref}: cannot read it ({exc})") from None
    elif path.exists():
        raise ConfigError(f"--compat-with {ref}: a directory, not a snapshot file")
    else:
        text, label = _git_show(ref, directory)
        git_ref = ref
    try:
        data = models_snapshot.parse(text)
    except ValueError as exc:
        raise ConfigError(f"--compat-with {ref}: {label} is {exc}", hint=_hint(directory)) from None
    return OldSnapshot(data, label, git_ref)
