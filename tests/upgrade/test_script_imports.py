"""Pre-flight reads the modules the pending scripts import (a newcomer's trial): one that is
not installed stops the run at pre-flight (exit 3), before the lock and the backup, instead
of failing as a migration after them (exit 4)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.apps import MakeApp
from tests.support.cli import invoke
from tests.upgrade.histories import REVISIONS, models, prepare

NO_BACKUP = {"SAFEMIGRATE_BACKUP": False}
SQLITE_ONLY = pytest.mark.parametrize("db_kind", ["sqlite"], indirect=True)


def _import_in_second_script(migrations: Path, line: str) -> Path:
    (script,) = (migrations / "versions").glob(f"{REVISIONS[1]}*.py")
    text = script.read_text(encoding="utf-8")
    script.write_text(
        text.replace("import sqlalchemy as sa\n", f"{line}\nimport sqlalchemy as sa\n", 1)
    )
    return script


@SQLITE_ONLY
def test_a_missing_module_stops_the_run_at_preflight(make_app: MakeApp, database_url: str) -> None:
    app = make_app(database_url, models=models(), config=NO_BACKUP)
    migrations = prepare(app)
    _import_in_second_script(migrations, "import slugifyy")

    result = invoke(app, "db", "safe-upgrade", "--format", "json")

    assert result.exit_code == 3, result.output
    data = json.loads(result.stdout)
    assert data["stage"] == "preflight" and data["applied"] == []
    (problem,) = [p for p in data["problems"] if p["check"] == "script-import-missing"]
    assert problem["severity"] == "error" and problem["module"] == "slugifyy"
    assert problem["revision"] == REVISIONS[1] and problem["line"] == 5
    assert "install the package that provides slugifyy" in problem["help"]


@SQLITE_ONLY
def test_installed_optional_and_relative_imports_pass(make_app: MakeApp, database_url: str) -> None:
    app = make_app(database_url, models=models(), config=NO_BACKUP)
    migrations = prepare(app)
    _import_in_second_script(
        migrations,
        "import json\nfrom sqlalchemy.dialects import postgresql\n"
        "try:\n    import not_installed_anywhere\nexcept ImportError:\n    pass",
    )

    result = invoke(app, "db", "safe-upgrade")

    assert result.exit_code == 0, result.output


@SQLITE_ONLY
def test_an_env_py_that_moves_sys_path_makes_it_a_warning(
    make_app: MakeApp, database_url: str
) -> None:
    app = make_app(database_url, models=models(), config=NO_BACKUP)
    migrations = prepare(app)
    env = migrations / "env.py"
    env.write_text("import sys\nsys.path.insert(0, '/opt/extra')\n" + env.read_text("utf-8"))
    _import_in_second_script(migrations, "import slugifyy")

    result = invoke(app, "db", "safe-upgrade")

    assert result.exit_code == 4, result.output  # Alembic then fails to load it, as warned
    assert "warning[script-import-missing]" in result.output
    assert "unless env.py, which changes sys.path" in result.output


@SQLITE_ONLY
def test_a_helper_module_beside_the_versions_folder_is_found(
    make_app: MakeApp, database_url: str
) -> None:
    """Superset's scripts ``import migration_utils``, a module of its migrations folder."""
    app = make_app(database_url, models=models(), config=NO_BACKUP)
    migrations = prepare(app)
    (migrations / "sm_migration_utils.py").write_text("VALUE = 1\n", encoding="utf-8")
    _import_in_second_script(migrations, "import sm_migration_utils")

    result = invoke(app, "db", "safe-upgrade", "--dry-run")

    assert result.exit_code == 0, result.output
    assert "script-import-missing" not in result.output
