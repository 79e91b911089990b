"""The README's first screen is true: ``make demo``/``make test`` first, then a quickstart that
works as written (issue #17, README acceptance).

The quickstart's ``app.py`` block, its ``flask`` commands and its pre-commit hook are taken
from the README itself and run in a fresh directory on SQLite, as a new user would.
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
BIN = Path(sys.executable).parent


def blocks(section: str) -> list[tuple[str, str]]:
    """``(language, text)`` of each fenced block in ``section``."""
    return re.findall(r"^```(\w+)\n(.*?)^```$", section, re.MULTILINE | re.DOTALL)


def quickstart() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("## Quickstart")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def test_the_readme_starts_with_make_demo_and_make_test() -> None:
    text = README.read_text(encoding="utf-8")
    first = blocks(text)[0]
    assert first[0] == "sh"
    commands = [line.split("#")[0].strip() for line in first[1].splitlines()]
    assert commands == ["make demo", "make test"]
    makefile = (REPO_ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^demo:", makefile, re.MULTILINE)
    assert re.search(r"^test:", makefile, re.MULTILINE)
    assert text.index("## Quickstart") < text.index("## Use"), "the quickstart comes first"
    assert text.index("## Quickstart") < 1500, "on the first screen"


def test_the_install_line_names_extras_that_exist() -> None:
    (install,) = [text for lang, text in blocks(quickstart()) if "pip install" in text]
    extras = set(re.findall(r"\[(\w+)\]", install))
    assert extras == {"postgres", "mysql"}
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert extras <= set(pyproject["project"]["optional-dependencies"])


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": f"{BIN}:/usr/bin:/bin", "FLASK_APP": "app:create_app", "HOME": str(cwd)}
    return subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_the_quickstart_runs_as_written(tmp_path: Path) -> None:
    found = blocks(quickstart())
    (app_source,) = [text for lang, text in found if lang == "python"]
    (shell,) = [text for lang, text in found if lang == "sh" and "flask db init" in text]
    (hook,) = [text for lang, text in found if lang == "yaml"]
    (tmp_path / "app.py").write_text(app_source, encoding="utf-8")

    commands = [line.split("#")[0].strip() for line in shell.splitlines()]
    assert commands[0] == "export FLASK_APP=app:create_app"
    for command in commands[1:]:
        result = run(shlex.split(command), tmp_path)
        assert result.returncode == 0, (command, result.stdout, result.stderr)
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
