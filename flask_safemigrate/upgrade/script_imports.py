"""Pre-flight: the modules the pending scripts import are there.

A script whose ``import`` names a module this environment lacks (a typo, a package missing
from the deploy's image) passes lint, which reads the script as text, and fails only when
Alembic loads it: after the migration lock and the backup, as a failed migration (exit 4),
and on MySQL/MariaDB possibly after the revisions before it ran. Read statically here, it
stops the run at pre-flight (exit 3) before anything is taken or written.

Only what is certain is blocking: ``import`` statements at a script's top level (not in a
``try``, an ``if`` or a function: those may be optional), absolute, looked up without
importing anything (:func:`importlib.util.find_spec` of the top-level package), on
``sys.path`` plus Alembic's ``prepend_sys_path``, the migrations folder and the versions
folders. An ``env.py`` that changes ``sys.path`` itself, when it runs, could make a module
importable that is not yet: the finding is then a warning.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from flask_safemigrate import history
from flask_safemigrate.report import Finding, Severity
from flask_safemigrate.text import display_path
from flask_safemigrate.upgrade.state import Run

__all__ = ["check", "missing_imports", "search_paths"]


def check(run: Run) -> list[Finding]:
    """The run's pending scripts: the errors (the caller stops the run with the other
    pre-flight blockers); the warnings go to the run's findings."""
    if not run.plan:
        return []
    setup = run.setup
    prepend = setup.alembic_config().get_main_option("prepend_sys_path")
    paths = search_paths(prepend, setup.directory, setup.locations)
    found = missing_imports(run.plan, paths, setup.directory / "env.py")
    run.findings.extend(f for f in found if f.severity is not Severity.ERROR)
    return [f for f in found if f.severity is Severity.ERROR]


def missing_imports(
    scripts: Iterable[history.Script], extra_paths: Sequence[str], env_py: Path | None
) -> list[Finding]:
    """One finding per pending script line that imports a module not found here."""
    found: dict[str, bool] = {}
    moves_path = _changes_sys_path(env_py)
    findings = []
    for script in scripts:
        for module, line in _top_level_imports(script):
            top = module.partition(".")[0]
            if top not in found:
                found[top] = _findable(top, extra_paths)
            if found[top]:
                continue
            findings.append(_finding(script, module, line, moves_path))
    return findings


def _top_level_imports(script: history.Script) -> tuple[tuple[str, int], ...]:
    """``(module, line)`` of each absolute import statement directly in the module body: as
    the history read them with the rest of the script, else parsed now."""
    if script.imports is not None:
        return script.imports
    try:
        tree = history.parse_source(script.path.read_bytes(), script.path)
    except (OSError, SyntaxError, ValueError, RecursionError, MemoryError):
        return ()  # lint reports an unreadable script; nothing to add here
    return history.top_level_imports(tree)


def _findable(top: str, extra_paths: Sequence[str]) -> bool:
    try:
        if importlib.util.find_spec(top) is not None:
            return True
    except (ImportError, ValueError):  # a module in sys.modules without a spec: it is there
        return True
    return importlib.machinery.PathFinder.find_spec(top, list(extra_paths)) is not None


def _changes_sys_path(env_py: Path | None) -> bool:
    try:
        text = env_py.read_text(encoding="utf-8", errors="replace") if env_py else ""
    except OSError:
        return False
    return "sys.path" in text or "addsitedir" in text


def _finding(script: history.Script, module: str, line: int, moves_path: bool) -> Finding:
    shown = display_path(script.path)
    consequence = (
        "Alembic cannot load it, so the upgrade would stop at this revision after the lock and"
        " the backup were taken"
    )
    if moves_path:
        consequence += (
            " (unless env.py, which changes sys.path when it runs, makes it importable then)"
        )
    return Finding(
        rule="script-import-missing",
        severity=Severity.WARNING if moves_path else Severity.ERROR,
        message=(
            f"revision {script.revision} ({shown}) imports {module}, which is not installed"
            f" or not on the path here: {consequence}"
        ),
        help=(
            f"install the package that provides {module.partition('.')[0]} in this"
            " environment, or fix the import's name in the script"
        ),
        path=shown,
        line=line,
        extra={"revision": script.revision, "module": module},
    )


def search_paths(prepend: str | None, base: Path, locations: Iterable[Path]) -> list[str]:
    """Alembic's ``prepend_sys_path`` (relative to the working directory, as Alembic reads
    it, and to ``base``, the migrations folder), the migrations folder itself and the
    versions folders: real histories import helpers kept beside them (Superset's scripts
    ``import migration_utils``, a module of its migrations folder)."""
    paths: list[str] = [os.fspath(base)]
    for entry in (prepend or "").replace(os.pathsep, " ").split():
        paths += [os.fspath(Path(entry).resolve()), os.fspath(base / entry)]
    paths += [os.fspath(location) for location in locations]
    return paths
