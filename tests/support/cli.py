"""Running ``flask ...``: in process through the app's CLI runner, or as a real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from unittest import mock

import click.testing
import flask_migrate
import pytest
from flask import Flask

from tests.support import fork_server
from tests.support.apps import REPO_ROOT


class _StdoutConfig(flask_migrate.Config):  # type: ignore[misc]
    """Flask-Migrate's ``Config`` printing to the *current* ``sys.stdout``.

    Alembic's ``Config(stdout=sys.stdout)`` default is bound when alembic is imported, so in
    process the output of ``flask db current``/``heads``/``history`` would bypass the CLI
    runner; :func:`invoke` swaps this class in for the duration of the command.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("stdout", sys.stdout)
        super().__init__(*args, **kwargs)


def invoke(app: Flask, *args: str, input: str | None = None) -> click.testing.Result:
    """Run ``flask <args>`` for ``app`` in-process with ``app.test_cli_runner()``.

    ``result.output`` includes what Alembic prints (``db current`` shows ``<rev> (head)``).
    """
    with mock.patch.object(flask_migrate, "Config", _StdoutConfig):
        return app.test_cli_runner().invoke(args=list(args), input=input)


def invoke_ok(app: Flask, *args: str) -> click.testing.Result:
    """:func:`invoke` and assert exit code 0 (the message shows output and traceback)."""
    result = invoke(app, *args)
    if result.exit_code != 0:
        detail = ""
        if result.exc_info is not None and not isinstance(result.exception, SystemExit):
            detail = "".join(traceback.format_exception(*result.exc_info))
        pytest.fail(
            f"`flask {' '.join(args)}` exited {result.exit_code}\n{result.output}\n{detail}",
            pytrace=False,
        )
    return result


def invoke_json(app: Flask, *args: str) -> tuple[int, dict[str, Any], click.testing.Result]:
    """``flask ARGS`` whose stdout must be one JSON object: exit code, the object, the result."""
    result = invoke(app, *args)
    try:
        data = json.loads(result.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"not JSON (exit {result.exit_code}):\n{result.output}\n{result.exception!r}")
    assert isinstance(data, dict)
    return result.exit_code, data, result


FLASK = Path(sys.executable).parent / "flask"


def run_flask(
    args: Sequence[str],
    *,
    app: str,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run the real ``flask --app <app> <args>`` in a process of its own (text, captured), as
    ``subprocess.run`` would; killed after ``timeout`` seconds (``subprocess.TimeoutExpired``).

    The process is forked from a Python that has imported the libraries already
    (:mod:`tests.support.fork_server`), which saves each call a second of imports. ``env`` is
    added to this process's environment; ``cwd`` defaults to the repository root. What it
    writes goes through files outside the test's folders (tests compare those folders).
    """
    full_env = {**os.environ, **(env or {})}
    with tempfile.TemporaryDirectory(prefix="safemigrate-run-flask-") as outputs:
        return fork_server.run(
            [str(FLASK), "--app", app, *args],
            env=full_env,
            cwd=cwd or REPO_ROOT,
            outputs=Path(outputs),
            name="flask",
            timeout=timeout,
        )
