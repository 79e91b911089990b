"""Lint a long history on every idle core.

Each script is linted on its own; only the history rules need them all, and they run in the
parent on what the workers send back. The workers are forked, so they start in milliseconds
with the rules already imported; where forking is not safe (not Linux, or other threads
alive, whose locks a child would inherit held) the caller lints in its own process.
"""

from __future__ import annotations

import math
import os
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from flask_safemigrate.lint.model import LintConfig, Rule

_Result = TypeVar("_Result")
#: What runs in each worker: the engine's ``lint_files`` (passed in, so that this module does
#: not import the engine that imports it).
LintFiles = Callable[
    [Sequence[Path], Sequence[type[Rule]], LintConfig, "set[str] | None"], list[_Result]
]

#: Below this many scripts per worker, starting the worker costs more than it saves.
FILES_PER_WORKER = 200
#: Chunks per worker: enough that one slow chunk does not leave the other cores idle.
CHUNKS_PER_WORKER = 4


def worker_count(files: int) -> int:
    """How many processes to lint ``files`` scripts with; 1 means this process alone.

    One per core this process may use, but only on cores that are idle: a worker costs CPU of
    its own (the fork, pickling its results back, cold caches: about a fifth of a
    one-process run of 1,000 scripts), which pays only when it runs beside this process
    rather than in turns with it. A busy machine (a CI runner building in parallel, a
    pre-commit hook beside an editor's checker) gets the cheaper run in one process.
    """
    if sys.platform != "linux" or threading.active_count() > 1:
        return 1
    cpus = len(os.sched_getaffinity(0))
    return max(1, min(cpus, idle_cores(), files // FILES_PER_WORKER))


def idle_cores() -> int:
    """The cores no other process kept busy over the last minute (the 1-minute load average
    against the machine's cores, rounded up: a core half used is half free); at least 1."""
    try:
        load = os.getloadavg()[0]
    except OSError:  # not reported here: assume the cores are free, as before
        return os.cpu_count() or 1
    return max(1, math.ceil((os.cpu_count() or 1) - load))


def lint_in_workers(
    lint_files: LintFiles[_Result],
    files: Sequence[Path],
    script_rules: Sequence[type[Rule]],
    config: LintConfig,
    only_revisions: set[str] | None,
    workers: int,
) -> list[_Result] | None:
    """The results of ``lint_files`` (the engine's), in file order, from ``workers`` forked
    processes.

    ``None`` when the pool could not start or a worker died: the caller then lints the
    files itself, so a constrained machine (no ``fork``, a process limit) is only slower.
    """
    # Imported here: a short run (a pre-commit hook on a few scripts) never starts a pool.
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    size = max(1, -(-len(files) // (workers * CHUNKS_PER_WORKER)))
    chunks = [list(files[i : i + size]) for i in range(0, len(files), size)]
    rules = list(script_rules)
    try:
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            parts = pool.map(
                lint_files,
                chunks,
                [rules] * len(chunks),
                [config] * len(chunks),
                [only_revisions] * len(chunks),
            )
            return [result for part in parts for result in part]
    except (BrokenProcessPool, OSError, ValueError):
        return None
