"""The side of the fork server that starts it and asks it for processes (:class:`ForkServer`),
and a process it forked, seen as ``subprocess.Popen`` shows one (:class:`Forked`)."""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = ["STATUS_LOST", "ForkServer", "ForkServerError", "Forked", "supported"]

#: The exit status of a child whose server ended before saying how the child ended (only the
#: server, its parent, can read it): the child has ended, how is unknown.
STATUS_LOST = 255


class ForkServerError(RuntimeError):
    """The fork server did not start, or did not answer."""


def supported() -> bool:
    """Whether this platform has what the server needs (``fork`` and pidfds: Linux)."""
    return hasattr(os, "fork") and hasattr(os, "pidfd_open")


class Forked:
    """A command running in a forked process: the part of ``subprocess.Popen`` callers use.

    ``returncode`` is :data:`STATUS_LOST` and ``lost`` true when the server ended before the
    child's status came (:meth:`ForkServer.status`)."""

    def __init__(
        self, server: ForkServer, pid: int, args: list[str], outputs: tuple[Path, Path]
    ) -> None:
        self.server = server
        self.pid = pid
        self.args = args
        #: The files descriptors 1 and 2 go to.
        self.outputs = outputs
        self.returncode: int | None = None

    @property
    def lost(self) -> bool:
        return self.pid in self.server.lost

    def communicate(self, timeout: float | None = None) -> tuple[str, str]:
        """Wait for the end (as :meth:`wait`); what it wrote on descriptors 1 and 2."""
        self.wait(timeout)
        out, err = (path.read_text(encoding="utf-8", errors="replace") for path in self.outputs)
        return out, err

    def poll(self) -> int | None:
        """The exit status once the process has ended (``-N``: killed by signal N), else None."""
        if self.returncode is None:
            self.returncode = self.server.status(self.pid, timeout=0)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the end; ``subprocess.TimeoutExpired`` after ``timeout`` seconds."""
        if self.returncode is None:
            self.returncode = self.server.status(self.pid, timeout=timeout)
        if self.returncode is None:
            raise subprocess.TimeoutExpired(self.args, timeout or 0)
        return self.returncode

    def send_signal(self, signal_number: int) -> None:
        """Signal the process unless it has ended (through a pidfd: never a reused pid)."""
        if self.poll() is None:
            self.server.signal(self.pid, signal_number)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class ForkServer:
    """One fork server (``python -m flask_safemigrate.forking.server``), started here:
    :meth:`spawn` starts a command, :meth:`status` says whether one ended, :meth:`close` ends
    the server.

    It is started as a fresh interpreter with ``environ``, in ``cwd``, in a session of its
    own (a Ctrl-C at the terminal is the caller's to handle, never the server's); ``modules``
    are imported besides its own list. Ready when this returns, or with ``timeout=None`` when
    :meth:`wait_ready` returns (the caller does other work meanwhile); both raise
    :class:`ForkServerError` when it cannot start.
    """

    def __init__(
        self,
        *,
        environ: Mapping[str, str] | None = None,
        cwd: str | Path | None = None,
        modules: Sequence[str] = (),
        kill_on_close: bool = False,
        python_sigint: bool = False,
        timeout: float | None = 120,
    ) -> None:
        if not supported():
            raise ForkServerError("no fork server on this platform (it needs fork and pidfds)")
        options = ["--kill-on-close"] * kill_on_close + ["--python-sigint"] * python_sigint
        self.errors = tempfile.TemporaryFile()  # noqa: SIM115 (closed in close())
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "flask_safemigrate.forking.server", *options, *modules],
                cwd=cwd,
                env=None if environ is None else dict(environ),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self.errors,
                start_new_session=True,
            )
        except OSError as exc:
            self.errors.close()
            raise ForkServerError(f"the fork server did not start: {exc}") from None
        assert self.process.stdin is not None and self.process.stdout is not None
        self.commands = self.process.stdin
        self.answers = self.process.stdout.fileno()
        self.pending = b""
        self.ready: int | None = None
        self.started: list[int] = []
        self.exited: dict[int, int] = {}
        #: Children whose status the server took with it when it ended.
        self.lost: set[int] = set()
        self.pidfds: dict[int, int] = {}
        #: Whether the server has ended (or stopped answering): it forks nothing more, and
        #: its children's statuses are lost (:meth:`status`).
        self.gone = False
        #: CPU seconds of the children that ended (with theirs).
        self.children_cpu = 0.0
        if timeout is not None:
            self.wait_ready(timeout)

    def wait_ready(self, timeout: float = 120) -> None:
        """Wait until the server has imported what it preloads; :class:`ForkServerError` (the
        server ended) when it did not within ``timeout`` seconds or failed."""
        deadline = time.monotonic() + timeout
        while self.ready is None and not self.gone and time.monotonic() < deadline:
            self._read(deadline - time.monotonic())
        if self.ready is None:
            why = self._why()
            self.close()
            self.gone = True
            raise ForkServerError(f"the fork server did not start: {why}")

    @property
    def pid(self) -> int:
        return self.process.pid

    def _why(self) -> str:
        if not self.gone:
            return "no answer in time"
        self.errors.seek(0)
        lines = self.errors.read().decode("utf-8", errors="replace").strip().splitlines()
        code = self.process.wait()
        return f"exit {code}" + (f": {lines[-1].strip()[:300]}" if lines else "")

    def spawn(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: str | Path,
        stdout: Path,
        stderr: Path,
        new_session: bool = False,
        timeout: float = 120,
    ) -> Forked:
        """Fork a process that runs ``argv`` (``python -m MODULE ...`` or a script such as
        ``flask ...``) with exactly ``env``, in ``cwd``, descriptors 1 and 2 to ``stdout`` and
        ``stderr`` (created here, truncated there), 0 from ``/dev/null``; ``new_session`` is
        ``Popen``'s ``start_new_session``."""
        for path in (stdout, stderr):  # there when this returns, as with Popen's files
            path.write_bytes(b"")
        command = {
            "argv": list(argv),
            "env": dict(env),
            "cwd": str(cwd),
            "stdout": str(stdout),
            "stderr": str(stderr),
            "new_session": new_session,
        }
        try:
            self.commands.write(json.dumps(command).encode() + b"\n")
            self.commands.flush()
        except BrokenPipeError:
            self.gone = True
        deadline = time.monotonic() + timeout
        while not self.started:
            if self.gone or not self._read(deadline - time.monotonic()):
                why = self._why()
                self.gone = True  # ended or stuck: either way it forks nothing more
                raise ForkServerError(f"the fork server did not start {argv[:4]}: {why}")
        pid = self.started.pop(0)
        with contextlib.suppress(ProcessLookupError):  # reaped already: its status is coming
            self.pidfds[pid] = os.pidfd_open(pid)
        return Forked(self, pid, list(argv), (stdout, stderr))

    def status(self, pid: int, timeout: float | None) -> int | None:
        """``pid``'s exit status, waiting up to ``timeout`` seconds (None: for ever); None
        when it has not ended. If the server ended first, :data:`STATUS_LOST` once the
        process has ended (it is then in :attr:`lost`)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while pid not in self.exited:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if self.gone:
                return self._lost(pid, left)
            if not self._read(left) and deadline is not None and time.monotonic() >= deadline:
                return None
        return self.exited[pid]

    def signal(self, pid: int, signal_number: int) -> None:
        """Send a signal to a child that has not been reaped (nothing once it has)."""
        pidfd = self.pidfds.get(pid)
        if pidfd is not None:
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(pidfd, signal_number)

    def _lost(self, pid: int, timeout: float | None) -> int | None:
        pidfd = self.pidfds.get(pid)
        if pidfd is not None:
            ended, _, _ = select.select([pidfd], [], [], timeout)
            if not ended:
                return None
            os.close(self.pidfds.pop(pid))
        self.lost.add(pid)
        self.exited[pid] = STATUS_LOST
        return STATUS_LOST

    def _read(self, timeout: float | None) -> bool:
        """Take in the answers that arrive within ``timeout``; False when none did."""
        ready, _, _ = select.select([self.answers], [], [], timeout)
        if not ready:
            return False
        chunk = os.read(self.answers, 65536)
        if not chunk:
            self.gone = True
            return False
        self.pending += chunk
        *lines, self.pending = self.pending.split(b"\n")
        for line in lines:
            answer = json.loads(line)
            if "ready" in answer:
                self.ready = answer["ready"]
            elif "started" in answer:
                self.started.append(answer["started"])
            else:
                pid = answer["exited"]
                self.exited[pid] = answer["code"]
                self.children_cpu += answer["cpu"]
                if pid in self.pidfds:
                    os.close(self.pidfds.pop(pid))
        return True

    def close(self) -> None:
        """End the server: its input ends (children still running go on, unless it was
        started with ``kill_on_close``)."""
        if self.process.poll() is None:
            self.commands.close()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                stream.close()
        for pidfd in self.pidfds.values():
            os.close(pidfd)
        self.pidfds.clear()
        self.errors.close()
