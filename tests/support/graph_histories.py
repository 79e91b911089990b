"""Histories for the ``flask db graph`` tests: small shapes, and a long generated one.

Each builder writes revision scripts with :func:`tests.support.revisions.write_revision`
and returns the ids in the order written (parents first).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

from tests.support.revisions import revision_script, write_revision


def add(
    migrations: Path,
    rev: str,
    down: str | Sequence[str] | None,
    *,
    message: str | None = None,
    labels: Sequence[str] | None = None,
    depends_on: str | None = None,
) -> str:
    """Write one revision (``pass`` bodies); ``depends_on`` names one revision or label."""
    text = revision_script(rev, down, message=message, labels=labels)
    if depends_on is not None:
        text = text.replace("depends_on = None", f"depends_on = {depends_on!r}")
    write_revision(migrations, text)
    return rev


def linear(migrations: Path, count: int = 3, prefix: str = "a") -> list[str]:
    revs: list[str] = []
    for index in range(count):
        revs.append(add(migrations, f"{prefix}{index:03d}", revs[-1] if revs else None))
    return revs


def generated(
    migrations: Path, revisions: int = 300, merges: int = 30, seed: int = 21
) -> list[str]:
    """A long history: a main line with ``merges`` feature branches forked and merged back
    (and a few branch labels and a ``depends_on``), ``revisions`` scripts in all."""
    rng = random.Random(seed)
    written: list[str] = []

    def new(down: str | Sequence[str] | None, message: str, **kwargs: object) -> str:
        rev = f"{rng.getrandbits(48):012x}"
        add(migrations, rev, down, message=message, **kwargs)  # type: ignore[arg-type]
        written.append(rev)
        return rev

    tip = new(None, "create users", labels=["core"])
    budget = revisions - 1 - merges
    per_merge = budget // merges
    for number in range(merges):
        spare = per_merge
        main_steps = rng.randint(1, max(1, spare - 2))
        side_steps = max(1, spare - main_steps)
        fork = tip
        for step in range(main_steps):
            tip = new(tip, f"main change {number}.{step}")
        side = fork
        for step in range(side_steps):
            side = new(side, f"feature {number} step {step}")
        tip = new((tip, side), f"merge feature {number}")
    while len(written) < revisions:
        tip = new(tip, f"late change {len(written)}")
    return written
