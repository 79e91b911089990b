"""The README's first screen is true: ``make demo``/``make test`` first, then a quickstart for an
existing Flask-Migrate app that works as written (issues #17 and #21), and the docs site's
quickstart for a new app works as written too.

The code is taken from the README and from docs/quickstart.md themselves and run in a fresh
directory on SQLite, as a new user would.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

from tests.support.apps import REPO_ROOT

README = REPO_ROOT / "README.md"
QUICKSTART_PAGE = REPO_ROOT / "docs" / "quickstart.md"
BIN = Path(sys.executable).parent

#: An app as Flask-Migrate's own documentation writes it: what the README's quickstart starts from.
FLASK_MIGRATE_APP = """\
from flask import Flask
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy

db = SQLAlchemy()


class User(db.Model):
    __tablename__ = "users"
    id = db.Column(db.Integer, primary_key=True)
    email = db.Column(db.String(120), nullable=False)


def create_app():
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = "sqlite:///app.db"
    db.init_app(app)
    Migrate(app, db)
    return app
"""


def blocks(section: str) -> list[tuple[str, str]]:
    """``(language, text)`` of each fenced block in ``section``."""
    return re.findall(r"^```(\w+)\n(.*?)^```$", section, re.MULTILINE | re.DOTALL)


def readme_quickstart() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("## Quickstart")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def commands(shell: str) -> list[str]:
    return [line.split("#")[0].strip() for line in shell.splitlines() if line.split("#")[0].strip()]


def test_the_readme_starts_with_make_demo_and_make_test() -> None:
    text = README.read_text(encoding="utf-8")
    first = blocks(text)[0]
    assert first[0] == "sh"
    assert commands(first[1]) == ["make demo", "make test"]
    makefile = (REPO_ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^demo:", makefile, re.MULTILINE)
    assert re.search(r"^test:", makefile, re.MULTILINE)
    assert text.index("## Quickstart") < 2000, "on the first screen"


def test_the_readme_is_a_first_screen_and_its_quickstart_about_twenty_lines() -> None:
    text = README.read_text(encoding="utf-8")
    # The reference lives on the docs site: the README is what it is, two commands, a
    # quickstart and links.
    assert [line for line in text.splitlines() if line.startswith("## ")] == [
        "## Quickstart: an existing Flask-Migrate app",
        "## Documentation",
    ]
    assert len(text.splitlines()) <= 80
    shown = [
        line
        for line in readme_quickstart().splitlines()[1:]
        if line.strip() and not line.startswith("```")
    ]
    assert len(shown) <= 20, f"the quickstart takes {len(shown)} lines"


def test_the_install_lines_name_extras_that_exist() -> None:
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    for section in (readme_quickstart(), QUICKSTART_PAGE.read_text(encoding="utf-8")):
        installs = [text for lang, text in blocks(section) if "pip install" in text]
        extras = set(re.findall(r"\[(\w+)\]", installs[0]))
        assert extras == {"postgres", "mysql"}
        assert extras <= set(pyproject["project"]["optional-dependencies"])


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": f"{BIN}:/usr/bin:/bin", "FLASK_APP": "app:create_app", "HOME": str(cwd)}
    return subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def run_ok(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    result = run(shlex.split(command), cwd)
    assert result.returncode == 0, (command, result.stdout, result.stderr)
    return result


def test_the_readme_quickstart_runs_on_an_existing_flask_migrate_app(tmp_path: Path) -> None:
    # The existing app: a history Flask-Migrate wrote, applied by `flask db upgrade`, and a new
    # revision still pending, as at the deploy where the team switches.
    app = tmp_path / "app.py"
    app.write_text(FLASK_MIGRATE_APP, encoding="utf-8")
    for command in ("flask db init", "flask db migrate -m 'create users'", "flask db upgrade"):
        run_ok(command, tmp_path)
    app.write_text(
        FLASK_MIGRATE_APP.replace(
            "nullable=False)\n", "nullable=False)\n    name = db.Column(db.String(80))\n"
        ),
        encoding="utf-8",
    )
    run_ok("flask db migrate -m 'add users.name'", tmp_path)

    # The README's two lines, each replacing the line its comment names.
    found = blocks(readme_quickstart())
    (python,) = [text for lang, text in found if lang == "python"]
    source = app.read_text(encoding="utf-8")
    for line in filter(None, python.splitlines()):
        new, was = (part.strip() for part in line.split("# was:"))
        assert source.count(was) == 1, f"{was!r} is not one line of a Flask-Migrate app"
        source = source.replace(was, new)
    assert "flask_migrate" not in source
    app.write_text(source, encoding="utf-8")

    (shell,) = [text for lang, text in found if lang == "sh" and "flask db" in text]
    outputs = {command: run_ok(command, tmp_path).stdout for command in commands(shell)}
    assert list(outputs) == ["flask db lint", "flask db safe-upgrade", "flask db verify"]
    assert "Applied 1 revision" in outputs["flask db safe-upgrade"]
    assert "no drift" in outputs["flask db safe-upgrade"]
    assert "All checks passed" in outputs["flask db verify"]


def test_the_docs_quickstart_runs_as_written(tmp_path: Path) -> None:
    found = blocks(QUICKSTART_PAGE.read_text(encoding="utf-8").split("\n## ")[0])
    (app_source,) = [text for lang, text in found if lang == "python"]
    (shell,) = [text for lang, text in found if lang == "sh" and "flask db init" in text]
    (hook,) = [text for lang, text in found if lang == "yaml"]
    (tmp_path / "app.py").write_text(app_source, encoding="utf-8")

    steps = commands(shell)
    assert steps[0] == "export FLASK_APP=app:create_app"
    for command in steps[1:]:
        result = run_ok(command, tmp_path)
    assert "Applied 1 revision" in result.stdout and "no drift" in result.stdout

    # The pre-commit hook: its entry, on the files its pattern selects.
    entry = re.search(r"entry: (.+)", hook)
    pattern = re.search(r"files: (.+)", hook)
    assert entry is not None and pattern is not None
    scripts = [
        str(path.relative_to(tmp_path))
        for path in sorted(tmp_path.rglob("*.py"))
        if re.search(pattern.group(1).strip(), str(path.relative_to(tmp_path)))
    ]
    assert len(scripts) == 1 and scripts[0].startswith("migrations/versions/")
    result = run([*entry.group(1).split(), *scripts], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
