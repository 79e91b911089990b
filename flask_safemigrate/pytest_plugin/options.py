"""The plugin's command-line option and ini names, and what a session's values are.

Only pytest and the standard library are imported: this module runs in every pytest session
of an environment where the package is installed, turned on or not.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import pytest

__all__ = [
    "BUILTIN_NAMES",
    "DATABASE_URL_ENV",
    "OPT_IN",
    "PluginOptions",
    "add_options",
    "enabled",
    "read_options",
]

#: The built-in tests (:data:`flask_safemigrate.verify.suite.BUILTIN_TESTS`, which a test
#: keeps equal): repeated here so that an inert plugin imports nothing of the package.
BUILTIN_NAMES: Final = (
    "single-head",
    "lint-pending",
    "upgrade-from-base",
    "models-match",
    "roundtrip",
    "seeded-roundtrip",
    "compatible-with-previous-release",
)

#: Collected only when ``safemigrate_previous_release`` names the release (or the test is
#: listed in ``safemigrate_tests``): a project without release snapshots is not asked for one.
OPT_IN: Final = frozenset({"compatible-with-previous-release"})

#: The server URL of the scratch databases, over the ini's ``safemigrate_database_url``
#: (a CI matrix runs one suite on every server with it).
DATABASE_URL_ENV: Final = "SAFEMIGRATE_TEST_DATABASE_URL"

_DEFAULT_DATA: Final = "tests/migration_data.py"

_INI: Final[tuple[tuple[str, str, Any, str], ...]] = (
    ("safemigrate", "bool", False, "turn the flask-safemigrate plugin on (as --safemigrate)"),
    ("safemigrate_app", "string", "", 'the app factory, "package.module:create_app"'),
    (
        "safemigrate_tests",
        "args",
        [],
        f"the built-in tests to collect (default: all of {', '.join(BUILTIN_NAMES)})",
    ),
    (
        "safemigrate_database_url",
        "string",
        "",
        "a PostgreSQL or MariaDB/MySQL server URL: each test gets a database created there"
        f" and dropped (default: a SQLite file per test; {DATABASE_URL_ENV} wins)",
    ),
    (
        "safemigrate_base",
        "string",
        "",
        "lint-pending lints the revisions after this revision id or git ref (default: all)",
    ),
    (
        "safemigrate_data",
        "string",
        _DEFAULT_DATA,
        "the file whose ROWS seeded-roundtrip inserts (relative to the rootdir)",
    ),
    (
        "safemigrate_previous_release",
        "string",
        "",
        "compatible-with-previous-release checks the migrations against this release: a git"
        " ref (its migrations/models.snapshot.json) or a snapshot file (default: not collected)",
    ),
    (
        "safemigrate_tests_folder",
        "string",
        "tests",
        "the folder the built-in tests are collected in (relative to the rootdir)",
    ),
)


def add_options(parser: pytest.Parser) -> None:
    """``--safemigrate`` and the ini names; nothing else happens until one turns it on."""
    group = parser.getgroup("safemigrate", "flask-safemigrate migration tests")
    group.addoption(
        "--safemigrate",
        action="store_true",
        default=False,
        help="turn the flask-safemigrate plugin on (its fixtures and built-in tests)",
    )
    for name, kind, default, text in _INI:
        parser.addini(name, text, type=kind, default=default)  # type: ignore[arg-type]


def enabled(config: pytest.Config) -> bool:
    """Whether the project turned the plugin on (option or ini)."""
    return bool(config.getoption("safemigrate", False) or config.getini("safemigrate"))


@dataclass(frozen=True)
class PluginOptions:
    """A session's settings of the plugin, read once."""

    app: str
    tests: tuple[str, ...]
    database_url: str
    base: str
    data: Path
    tests_folder: Path
    #: Whether ``safemigrate_data`` was set (a missing file is then an error).
    data_given: bool
    #: ``safemigrate_previous_release``: a git ref or a snapshot file ("" when unset).
    previous_release: str = ""


def read_options(config: pytest.Config) -> PluginOptions:
    """The session's options; a bad one is a :class:`pytest.UsageError` (one line)."""
    names = [
        part
        for value in config.getini("safemigrate_tests")
        for part in re.split(r"[,\s]+", value)
        if part
    ]
    unknown = [name for name in names if name not in BUILTIN_NAMES]
    if unknown:
        raise pytest.UsageError(
            f"safemigrate_tests: unknown built-in test {', '.join(unknown)}"
            f" (known: {', '.join(BUILTIN_NAMES)})"
        )
    root = config.rootpath
    folder = root / str(config.getini("safemigrate_tests_folder"))
    if not folder.is_dir():
        raise pytest.UsageError(
            f"safemigrate: no tests folder at {folder}: set safemigrate_tests_folder to the"
            " folder the built-in tests are to be collected in"
        )
    data = str(config.getini("safemigrate_data"))
    previous = str(config.getini("safemigrate_previous_release")).strip()
    return PluginOptions(
        app=str(config.getini("safemigrate_app")).strip(),
        tests=tuple(
            name
            for name in BUILTIN_NAMES
            if name in names or (not names and (name not in OPT_IN or previous))
        ),
        database_url=os.environ.get(DATABASE_URL_ENV, "").strip()
        or str(config.getini("safemigrate_database_url")).strip(),
        base=str(config.getini("safemigrate_base")).strip(),
        data=root / data,
        tests_folder=folder,
        data_given=data != _DEFAULT_DATA,
        previous_release=previous,
    )
