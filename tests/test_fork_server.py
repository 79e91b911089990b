"""The fork server (:mod:`tests.support.fork_server`) behaves like ``subprocess.Popen`` of
``flask``: its own pid, exactly the environment and working directory given, descriptors 1 and
2 in files, the exit status (``-9`` after SIGKILL), and a program named ``flask``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.support.cli import FLASK
from tests.support.fork_server import ForkServer, fork_server

APP = textwrap.dedent(
    """
    import os
    import sys
    import time

    import click
    from flask import Flask


    def create_app():
        app = Flask(__name__)

        @app.cli.command("probe")
        @click.argument("code", type=int)
        def probe(code):
            print(f"pid={os.getpid()} cwd={os.getcwd()} marker={os.environ.get('MARKER')}")
            print(f"home={'HOME' in os.environ}", file=sys.stderr)
            sys.exit(code)

        @app.cli.command("sleep")
        def sleep():
            print("sleeping", flush=True)
            time.sleep(60)

        return app
    """
)


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    (tmp_path / "probe_app.py").write_text(APP, encoding="utf-8")
    return tmp_path


def test_a_forked_command_has_its_own_pid_env_cwd_output_and_exit_code(app_dir: Path) -> None:
    out, err = app_dir / "out", app_dir / "err"
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(app_dir), "MARKER": "m1"}
    process = fork_server().spawn(
        [str(FLASK), "--app", "probe_app:create_app", "probe", "7"],
        env=env,
        cwd=app_dir,
        stdout=out,
        stderr=err,
    )
    assert process.wait(timeout=60) == 7, err.read_text()
    assert out.read_text() == f"pid={process.pid} cwd={app_dir} marker=m1\n"
    assert process.pid != os.getpid()
    assert err.read_text() == "home=False\n"  # only the environment given, not the server's


def test_a_forked_command_can_be_killed_and_says_so(app_dir: Path) -> None:
    out, err = app_dir / "out", app_dir / "err"
    process = fork_server().spawn(
        [str(FLASK), "--app", "probe_app:create_app", "sleep"],
        env={"PATH": os.environ["PATH"], "PYTHONPATH": str(app_dir), "PYTHONUNBUFFERED": "1"},
        cwd=app_dir,
        stdout=out,
        stderr=err,
    )
    deadline = time.monotonic() + 60
    while "sleeping" not in out.read_text():
        assert process.poll() is None, err.read_text()
        assert time.monotonic() < deadline
        time.sleep(0.01)
    with pytest.raises(subprocess.TimeoutExpired):
        process.wait(timeout=0.05)
    os.kill(process.pid, signal.SIGKILL)
    assert process.wait(timeout=30) == -signal.SIGKILL


def test_a_usage_error_names_the_program_flask(app_dir: Path) -> None:
    out, err = app_dir / "out", app_dir / "err"
    process = fork_server().spawn(
        [str(FLASK), "--app", "probe_app:create_app", "no-such-command"],
        env={"PATH": os.environ["PATH"], "PYTHONPATH": str(app_dir)},
        cwd=app_dir,
        stdout=out,
        stderr=err,
    )
    assert process.wait(timeout=60) == 2
    assert "Usage: flask [OPTIONS] COMMAND [ARGS]..." in err.read_text()


def test_a_forked_python_m_command_sees_what_a_fresh_one_sees(tmp_path: Path) -> None:
    """The fleet's form (``python -m MODULE``, a session of its own) from the product's
    server, as the fleet starts it: with the command's environment and working directory."""
    (tmp_path / "probe_m.py").write_text(
        "import json, os, sys\n"
        "print(json.dumps({'argv': sys.argv, 'path': sys.path, 'name': __name__,"
        " 'leader': os.getsid(0) == os.getpid(), 'cwd': os.getcwd(),"
        " 'env': sorted(os.environ), 'stdin': sys.stdin.read()}))\n",
        encoding="utf-8",
    )
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": "lib", "MARKER": "m2"}
    argv = [sys.executable, "-m", "probe_m", "x"]
    fresh = subprocess.run(
        argv,
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        check=True,
    )
    server = ForkServer(environ=env, cwd=tmp_path)
    try:
        forked = server.spawn(
            argv,
            env=env,
            cwd=tmp_path,
            stdout=tmp_path / "out",
            stderr=tmp_path / "err",
            new_session=True,
        )
        assert forked.wait(timeout=60) == 0, (tmp_path / "err").read_text()
        assert server.children_cpu > 0
    finally:
        server.close()
    seen = json.loads((tmp_path / "out").read_text())
    assert seen == json.loads(fresh.stdout)
    assert seen["leader"] and seen["name"] == "__main__" and "MARKER" in seen["env"]
