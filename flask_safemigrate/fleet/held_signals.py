"""Ctrl-C and SIGTERM held back while the fleet parent does a step that must not be cut.

Starting a target is three steps (its ``running`` row, the child process, the entry in
the parent's list of running children) and finishing one is two (off the list, its outcome
recorded). The CLI turns both signals into an exception that can be raised between any two
bytecodes; one landing between those steps left a row ``running`` forever or a child
nobody stops. Inside :func:`held`, each signal is only noted; on the way out the previous
handlers come back and a noted signal is raised again, so the interruption happens at once
but between steps, never inside one.

Not a blocked signal mask: a child process started inside would inherit it and could not
be stopped by the SIGTERM the parent sends it.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

__all__ = ["held"]

HELD = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def held() -> Iterator[None]:
    """Hold SIGINT and SIGTERM for the block, then deliver the first one that came.

    Outside the main thread (where Python runs no signal handler) it does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    noted: list[int] = []

    def note(signum: int, _frame: FrameType | None) -> None:
        noted.append(signum)

    previous = {signum: signal.signal(signum, note) for signum in HELD}
    try:
        yield
    finally:
        for signum, handler in previous.items():  # None: a handler set outside Python
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)
        if noted:
            signal.raise_signal(noted[0])
