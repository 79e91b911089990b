"""The fleet parent's held signals, with real signals sent to this process: a SIGTERM that
lands inside a step is raised once the step is done, never inside it."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from types import FrameType

import pytest

from flask_safemigrate.fleet.held_signals import held


class Stopped(Exception):
    pass


@pytest.fixture
def sigterm_raises() -> Iterator[None]:
    """SIGTERM raises :class:`Stopped`, as the CLI's handler raises its interruption."""

    def stop(_signum: int, _frame: FrameType | None) -> None:
        raise Stopped

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@pytest.mark.usefixtures("sigterm_raises")
def test_a_signal_inside_the_step_is_raised_after_it() -> None:
    steps: list[str] = []
    with pytest.raises(Stopped), held():
        steps.append("started")
        signal.raise_signal(signal.SIGTERM)
        steps.append("recorded")  # the step goes on to its end
    assert steps == ["started", "recorded"]


@pytest.mark.usefixtures("sigterm_raises")
def test_the_previous_handlers_come_back() -> None:
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    with held():
        assert signal.getsignal(signal.SIGTERM) is not before[0]
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before
    with pytest.raises(Stopped):
        signal.raise_signal(signal.SIGTERM)


@pytest.mark.usefixtures("sigterm_raises")
def test_two_signals_in_one_step_raise_once() -> None:
    with pytest.raises(Stopped), held():
        signal.raise_signal(signal.SIGTERM)
        signal.raise_signal(signal.SIGINT)
    # the first one came back (Stopped, not KeyboardInterrupt); the second was only noted


def test_a_child_started_inside_can_still_be_stopped_by_sigterm() -> None:
    """No blocked signal mask: a child would inherit it and ignore the parent's SIGTERM."""
    with held():
        child = subprocess.Popen(
            [sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True
        )
    child.send_signal(signal.SIGTERM)
    assert child.wait(timeout=30) == -signal.SIGTERM


def test_outside_the_main_thread_it_changes_nothing() -> None:
    seen: list[object] = []

    def step() -> None:
        with held():
            seen.append(signal.getsignal(signal.SIGTERM))

    before = signal.getsignal(signal.SIGTERM)
    worker = threading.Thread(target=step)
    worker.start()
    worker.join()
    assert seen == [before]
