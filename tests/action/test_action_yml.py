"""The GitHub Action (``action.yml``, composite): its shape, and the commands it runs, run
here against the example app: each step's files exist and hold what the next step reads.

What cannot run here (setup-python, the SARIF upload, the GitHub API) is checked as far as it
goes: pinned by major tag, given the file the step before wrote; the comment script runs under
Node with a stand-in for the GitHub client.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

import example_app
from flask_safemigrate.render.markdown import COMMENT_LIMIT, COMMENT_MARKER
from tests.markdown.support import headings
from tests.markdown.test_verify_lint import previous_release
from tests.support.apps import REPO_ROOT, AppTracker
from tests.support.cli import invoke_ok
from tests.support.databases import sqlite_url

ACTION = REPO_ROOT / "action.yml"
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
PINNED = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@v\d+$")


def action() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(ACTION.read_text(encoding="utf-8"))
    return data


def steps() -> list[dict[str, Any]]:
    return list(action()["runs"]["steps"])


def step(step_id: str) -> dict[str, Any]:
    return next(s for s in steps() if s.get("id") == step_id)


# --------------------------------------------------------------------------- the schema


def test_action_has_the_keys_github_requires() -> None:
    data = action()
    assert {"name", "description", "inputs", "runs"} <= data.keys()
    assert data["runs"]["using"] == "composite"
    assert set(data["inputs"]) >= {
        "migrations-directory",
        "app",
        "python-version",
        "comment",
        "sarif",
        "fail-on",
    }
    for name, spec in data["inputs"].items():
        assert spec.get("description"), name
        assert "default" in spec or spec.get("required"), name
    assert data["inputs"]["comment"]["default"] == "true"
    assert data["inputs"]["sarif"]["default"] == "true"


def test_every_input_is_used_and_every_reference_exists() -> None:
    data = action()
    text = yaml.safe_dump(data["runs"]) + yaml.safe_dump(data.get("outputs", {}))
    used = set(re.findall(r"inputs\.([\w-]+)", text))
    assert used == set(data["inputs"])
    ids = {s["id"] for s in steps() if "id" in s}
    referenced = set(re.findall(r"steps\.([\w-]+)\.outputs", text))
    assert referenced <= ids


def test_every_step_is_named_shelled_and_pinned() -> None:
    for item in steps():
        assert item.get("name"), item
        assert ("run" in item) != ("uses" in item), item["name"]
        if "run" in item:
            assert item.get("shell") == "bash", item["name"]
            # Inputs reach scripts through env only, never pasted into the script (a branch
            # name or input cannot inject shell).
            assert "${{" not in item["run"], item["name"]
        else:
            assert PINNED.match(item["uses"]), item["uses"]
    uses = {s["uses"].split("@")[0] for s in steps() if "uses" in s}
    assert uses == {
        "actions/setup-python",
        "github/codeql-action/upload-sarif",
        "actions/github-script",
    }


# --------------------------------------------------------------------------- the commands


def resolve(
    value: str, inputs: dict[str, str], outputs: dict[str, dict[str, str]], temp: Path
) -> str:
    def one(match: re.Match[str]) -> str:
        expression = match.group(1)
        if expression.startswith("inputs."):
            return inputs[expression.removeprefix("inputs.")]
        if expression == "runner.temp":
            return str(temp)
        found = re.fullmatch(r"steps\.([\w-]+)\.outputs\.([\w-]+)", expression)
        if found:
            return outputs.get(found.group(1), {}).get(found.group(2), "")
        raise AssertionError(f"an expression the test does not know: {expression}")

    return EXPRESSION.sub(one, value)


def run_step(
    item: dict[str, Any],
    inputs: dict[str, str],
    outputs: dict[str, dict[str, str]],
    temp: Path,
    env: dict[str, str],
) -> subprocess.CompletedProcess[str]:
    """Run a ``run:`` step as the runner would (bash -e, its env resolved, GITHUB_OUTPUT)."""
    github_output = temp / f"output-{item.get('id', 'x')}"
    github_output.write_text("")
    step_env = {k: resolve(str(v), inputs, outputs, temp) for k, v in item.get("env", {}).items()}
    done = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", item["run"]],
        env={**env, **step_env, "GITHUB_OUTPUT": str(github_output)},
        cwd=temp,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if "id" in item:
        pairs = [line.split("=", 1) for line in github_output.read_text().splitlines() if line]
        outputs[item["id"]] = dict(pairs)  # type: ignore[arg-type]
    return done


@pytest.fixture
def workspace(tmp_path: Path, track_app: AppTracker) -> tuple[dict[str, str], dict[str, str]]:
    """The example app at its first revision (three pending) in a SQLite file: the action's
    inputs and the job's environment."""
    database = sqlite_url(tmp_path / "app.db")
    app = track_app(example_app.create_app({"SQLALCHEMY_DATABASE_URI": database}))
    invoke_ok(app, "db", "safe-upgrade", "eac99d14dc58", "--no-backup")
    inputs = {name: str(spec.get("default", "")) for name, spec in action()["inputs"].items()}
    inputs.update(
        {
            "migrations-directory": str(example_app.MIGRATIONS_DIR),
            "app": "example_app",
            "compat-with": str(previous_release(tmp_path / "old.snapshot.json")),
        }
    )
    bin_dir = str(Path(sys.executable).parent)
    env = {
        "PATH": os.pathsep.join([bin_dir, os.environ.get("PATH", "")]),
        "HOME": str(tmp_path),
        "DATABASE_URL": database,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
    }
    return inputs, env


def test_the_steps_write_what_the_next_step_reads(
    tmp_path: Path, workspace: tuple[dict[str, str], dict[str, str]]
) -> None:
    inputs, env = workspace
    outputs: dict[str, dict[str, str]] = {}

    lint = run_step(step("lint"), inputs, outputs, tmp_path, env)
    assert lint.returncode == 0, lint.stderr
    assert outputs["lint"]["status"] == "0"
    sarif = Path(outputs["lint"]["sarif"])
    log = json.loads(sarif.read_text(encoding="utf-8"))
    assert log["version"] == "2.1.0"
    assert log["runs"][0]["tool"]["driver"]["name"] == "flask-safemigrate"
    upload = next(s for s in steps() if "upload-sarif" in s.get("uses", ""))
    assert resolve(upload["with"]["sarif_file"], inputs, outputs, tmp_path) == str(sarif)

    plan = run_step(step("plan"), inputs, outputs, tmp_path, env)
    assert plan.returncode == 0, plan.stderr
    assert outputs["plan"]["status"] == "0"
    plan_file = tmp_path / "flask-safemigrate-plan.md"
    assert headings(plan_file.read_text(encoding="utf-8"), 3)[0].startswith(
        "flask-safemigrate plan: 3 pending revisions on SQLite"
    )
    compat_file = tmp_path / "flask-safemigrate-compat.md"
    assert headings(compat_file.read_text(encoding="utf-8"), 3) == [
        "flask-safemigrate verify: ❌ failed"
    ]

    body = run_step(step("body"), inputs, outputs, tmp_path, env)
    assert body.returncode == 0, body.stderr
    comment = Path(outputs["body"]["file"]).read_text(encoding="utf-8")
    assert comment.startswith(COMMENT_MARKER + "\n### flask-safemigrate plan")
    assert "### flask-safemigrate verify" in comment
    assert len(comment) <= COMMENT_LIMIT
    poster = next(s for s in steps() if "github-script" in s.get("uses", ""))
    assert resolve(poster["env"]["SM_BODY"], inputs, outputs, tmp_path) == outputs["body"]["file"]

    final = next(s for s in steps() if s["name"].startswith("Fail on"))
    assert run_step(final, inputs, outputs, tmp_path, env).returncode == 0


def test_lint_findings_fail_the_job_after_the_upload(
    tmp_path: Path, workspace: tuple[dict[str, str], dict[str, str]]
) -> None:
    inputs, env = workspace
    migrations = tmp_path / "bad_migrations"
    shutil.copytree(example_app.MIGRATIONS_DIR, migrations)
    shutil.copy(
        REPO_ROOT / "tests" / "lint" / "fixtures" / "drop-column.py",
        migrations / "versions" / "zz_drop_column.py",
    )
    inputs["migrations-directory"] = str(migrations)
    outputs: dict[str, dict[str, str]] = {}
    lint = run_step(step("lint"), inputs, outputs, tmp_path, env)
    assert lint.returncode == 0, lint.stderr  # the upload still runs
    assert outputs["lint"]["status"] == "1"
    results = json.loads(Path(outputs["lint"]["sarif"]).read_text())["runs"][0]["results"]
    assert any(r["ruleId"] == "SM102" for r in results)
    final = next(s for s in steps() if s["name"].startswith("Fail on"))
    failed = run_step(final, inputs, outputs, tmp_path, env)
    assert failed.returncode == 1
    assert "::error::safemigrate lint found problems" in failed.stdout


NODE_HARNESS = """
const calls = [];
const existing = JSON.parse(process.env.EXISTING);
const github = {
  paginate: async (fn, args) => { calls.push(['list', args.issue_number]); return existing; },
  rest: { issues: {
    listComments: 'listComments',
    updateComment: async (args) => { calls.push(['update', args.comment_id, args.body.length]); },
    createComment: async (args) => { calls.push(['create', args.issue_number, args.body.length]); },
  } },
};
const context = { repo: { owner: 'o', repo: 'r' }, issue: { number: 7 } };
(async () => {
  await (async function (github, context, require) { SCRIPT })(github, context, require);
  console.log(JSON.stringify(calls));
})();
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="the comment script needs Node")
@pytest.mark.parametrize(
    ("existing", "expected"),
    [
        ([], "create"),
        (
            [{"id": 41, "body": "a human comment"}, {"id": 42, "body": COMMENT_MARKER + "\nold"}],
            "update",
        ),
    ],
)
def test_the_comment_is_posted_once_then_updated(
    tmp_path: Path, existing: list[dict[str, Any]], expected: str
) -> None:
    poster = next(s for s in steps() if "github-script" in s.get("uses", ""))
    script = poster["with"]["script"]
    assert f"'{COMMENT_MARKER}'" in script  # the marker the renderer's comment starts with
    body = tmp_path / "comment.md"
    body.write_text(COMMENT_MARKER + "\n### plan\n", encoding="utf-8")
    harness = tmp_path / "harness.js"
    harness.write_text(NODE_HARNESS.replace("SCRIPT", script), encoding="utf-8")
    done = subprocess.run(
        ["node", str(harness)],
        env={"SM_BODY": str(body), "EXISTING": json.dumps(existing), "PATH": os.environ["PATH"]},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    calls = json.loads(done.stdout)
    assert calls[0] == ["list", 7]
    if expected == "create":
        assert calls[1:] == [["create", 7, len(body.read_text())]]
    else:
        assert calls[1:] == [["update", 42, len(body.read_text())]]
