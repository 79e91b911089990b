"""The test matrix, run on demand: ``nox`` (all sessions) or ``nox -s minimum``.

CI runs ``make test`` (the newest releases of everything, on the machine's Python); these
sessions cover what one run cannot: the declared minimum versions of the runtime dependencies,
the oldest and the newest supported Python, and the docs build.

Pythons are found on ``PATH`` as ``python3.11``, ``python3.12``, ``python3.13``; where ``PATH``
has none but pyenv has one installed (``$PYENV_ROOT/versions/3.13.*``), its newest is put first on
``PATH``, so ``nox`` finds them without ``PYENV_VERSION``. A Python not found is skipped with a
message, except under ``CI=true``, where nox fails instead.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

import nox

ROOT = Path(__file__).resolve().parent
# From the oldest Python that requires-python admits to the newest this machine has (pyenv; no
# newer one is on offer here): each is a classifier in pyproject.toml.
PYTHONS = ["3.11", "3.12", "3.13"]
OLDEST_PYTHON = PYTHONS[0]


def _pyenv_python_on_path(version: str) -> None:
    """Put pyenv's newest ``version.*`` first on PATH when no real ``python<version>`` is there.

    pyenv's shims answer ``python3.13`` only for the versions ``PYENV_VERSION`` (or the global
    setting) names; nox would find the shim, or nothing, and skip the session.
    """
    root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    found = shutil.which(f"python{version}")
    if found is not None and Path(found).parent != root / "shims":
        return
    builds = [
        (tuple(int(part) for part in path.name.split(".")), path / "bin")
        for path in (root / "versions").glob(f"{version}.*")
        if re.fullmatch(rf"{re.escape(version)}\.\d+", path.name)
        and (path / "bin" / f"python{version}").is_file()
    ]
    if builds:
        newest = max(builds)[1]
        os.environ["PATH"] = os.pathsep.join([str(newest), os.environ.get("PATH", "")])


for _version in PYTHONS:
    _pyenv_python_on_path(_version)

nox.options.default_venv_backend = "venv"
nox.options.reuse_venv = "yes"
nox.options.sessions = ["tests", "docs"]


def _pytest_args(session: nox.Session) -> list[str]:
    """The Makefile's xdist options (``PYTEST_WORKERS``, default every core), then posargs."""
    workers = os.environ.get("PYTEST_WORKERS", "auto")
    return ["-n", workers, "--dist", "loadgroup", *session.posargs]


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """The suite on the newest release of every dependency: what CI runs, on each Python."""
    session.install("-e", ".[test]")
    session.run("pytest", *_pytest_args(session))


@nox.session(python=OLDEST_PYTHON)
def minimum(session: nox.Session) -> None:
    """The suite with every runtime dependency pinned to its ``>=`` bound in pyproject.toml."""
    # In the session's virtualenv, not session.create_tmp(): that also points TMPDIR into the
    # project, where the commands print the tests' paths relative to it and the tests' expected
    # absolute paths no longer match.
    location = session.virtualenv.location
    assert isinstance(location, str)
    constraints = Path(location) / "minimum-constraints.txt"
    pins = session.run(
        sys.executable, str(ROOT / ".ci" / "minimum_constraints.py"), silent=True, external=True
    )
    assert isinstance(pins, str)
    constraints.write_text(pins)
    session.log("pinned: " + ", ".join(pins.split()))
    session.install("-c", str(constraints), "-e", ".[test]")
    session.run("python", "-m", "pip", "list", "--format", "freeze")
    session.run("pytest", *_pytest_args(session))


@nox.session(python=OLDEST_PYTHON)
def docs(session: nox.Session) -> None:
    """The Sphinx site, warnings as errors (as ``make docs`` builds it in CI)."""
    session.install("-e", ".[docs]")
    build = ["sphinx-build", "-W", "--keep-going", "-b", "html", "docs", "docs/_build/html"]
    session.run(*build, *session.posargs)
