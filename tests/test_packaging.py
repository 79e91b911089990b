"""The package as installed: its license, changelog and version agree with what the docs show.

A version that the package, the changelog and the pre-commit example disagree on sends a user to the
wrong release; a license named in ``pyproject.toml`` without its file cannot be redistributed as is.
"""

from __future__ import annotations

import ast
import importlib.util
import re
import tomllib
from pathlib import Path
from types import ModuleType

import pytest

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


def test_the_nox_matrix_runs_every_python_the_classifiers_name() -> None:
    # noxfile.py imports nox, which the test extra does not install: read its PYTHONS as code.
    tree = ast.parse((ROOT / "noxfile.py").read_text(encoding="utf-8"))
    (pythons,) = [
        ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign)
        and [getattr(target, "id", None) for target in node.targets] == ["PYTHONS"]
    ]
    classifiers = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["classifiers"]
    named = [
        c.rsplit(" :: ", 1)[1]
        for c in classifiers
        if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)
    ]
    assert pythons == named


def _pre_commit_repository() -> str:
    """The repository URL the shipped ``.pre-commit-hooks.yaml`` tells users to reference."""
    match = re.search(r"- repo: (\S+)", (ROOT / ".pre-commit-hooks.yaml").read_text())
    assert match is not None
    return match.group(1)


def test_project_urls_point_into_one_repository() -> None:
    urls = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["urls"]
    assert set(urls) == {"Homepage", "Documentation", "Changelog", "Issues"}
    repository = _pre_commit_repository()
    assert urls["Homepage"] == repository
    assert all(url.startswith(repository + "/") for name, url in urls.items() if name != "Homepage")
    assert urls["Changelog"].endswith("/CHANGELOG.md")


def test_docs_pre_commit_example_pins_the_current_version() -> None:
    # The lint page shows the hook as pre-commit users add it (the README links to that page).
    page = (ROOT / "docs" / "commands" / "lint.md").read_text(encoding="utf-8")
    assert re.findall(r"^\s*rev: v(\S+)$", page, re.MULTILINE) == [__version__]
    assert f"- repo: {_pre_commit_repository()}\n" in page


def _minimum_constraints() -> ModuleType:
    path = ROOT / ".ci" / "minimum_constraints.py"
    spec = importlib.util.spec_from_file_location("minimum_constraints", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_minimum_constraints_pin_every_runtime_dependency_at_its_bound() -> None:
    pins = _minimum_constraints().minimum_pins(ROOT / "pyproject.toml")
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert len(pins) == len(dependencies)
    names = [pin.split("==")[0] for pin in pins]
    assert {"flask", "flask-sqlalchemy", "flask-migrate", "alembic", "sqlalchemy"} <= set(names)
    for pin, requirement in zip(pins, dependencies, strict=True):
        name, version = pin.split("==")
        assert requirement.lower().replace(" ", "").startswith(f"{name}>={version}")


def test_minimum_constraints_refuse_a_dependency_without_a_lower_bound(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project]\ndependencies = ["flask>=3", "inflection"]\n')
    module = _minimum_constraints()
    with pytest.raises(ValueError, match="'inflection' has no '>=' lower bound"):
        module.minimum_pins(pyproject)
    assert module.main([str(pyproject)]) == 2
    pyproject.write_text('[project]\ndependencies = ["Flask[async] >= 3.0", "sqlalchemy>=2.1"]\n')
    assert module.minimum_pins(pyproject) == ["flask==3.0", "sqlalchemy==2.1"]
