"""The package as installed: its license, changelog and version agree with what the docs show.

A version that the package, the changelog and the pre-commit example disagree on sends a user to the
wrong release; a license named in ``pyproject.toml`` without its file cannot be redistributed as is.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from flask_safemigrate.version import __version__

ROOT = Path(__file__).resolve().parent.parent


def test_license_file_is_shipped() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT"
    assert project["license-files"] == ["LICENSE"]
    assert (ROOT / "LICENSE").read_text().startswith("MIT License\n")


def test_changelog_has_the_current_version() -> None:
    headings = re.findall(r"^## (\S+)", (ROOT / "CHANGELOG.md").read_text(), re.MULTILINE)
    assert headings[0] == __version__


def test_pre_commit_example_pins_the_current_version() -> None:
    hooks = (ROOT / ".pre-commit-hooks.yaml").read_text()
    assert re.findall(r"rev: v(\S+)", hooks) == [__version__]
    assert re.findall(r"^- id: (\S+)", hooks, re.MULTILINE) == ["flask-safemigrate-lint"]


def test_python_classifiers_match_requires_python() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    minimum = re.fullmatch(r">=(\d+\.\d+)", project["requires-python"])
    assert minimum is not None
    versions = [
        c.rsplit(" :: ", 1)[1]
        for c in project["classifiers"]
        if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)
    ]
    assert versions and versions[0] == minimum.group(1)
