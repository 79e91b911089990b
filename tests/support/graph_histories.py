"""Histories for the ``flask db graph`` tests: small shapes, and a long generated one.

Each builder writes revision scripts with :func:`tests.support.revisions.write_revision`
and returns the ids in the order written (parents first).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

from flask_safemigrate import history
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
            labels = ["billing"] if number == 20 and step == 0 else None
            side = new(side, f"feature {number} step {step}", labels=labels)
        tip = new((tip, side), f"merge feature {number}")
    while len(written) < revisions:
        tip = new(tip, f"late change {len(written)}")
    return written


def branch_and_merge(migrations: Path) -> dict[str, str]:
    """``base -> a1 -> m`` and ``base -> b1 -> b2 -> m`` (``m`` merges, ``base`` forks)."""
    add(migrations, "base0001", None, message="create users")
    add(migrations, "a1000001", "base0001", message="add email")
    add(migrations, "b1000001", "base0001", message="add orders", labels=["orders"])
    add(migrations, "b2000002", "b1000001", message="index orders")
    add(migrations, "m0000001", ("a1000001", "b2000002"), message="merge heads")
    return {
        "base": "base0001",
        "a1": "a1000001",
        "b1": "b1000001",
        "b2": "b2000002",
        "m": "m0000001",
    }


def two_heads(migrations: Path) -> dict[str, str]:
    """``root -> x`` and ``root -> y``: two heads, not merged."""
    add(migrations, "root0001", None)
    add(migrations, "xhead001", "root0001", message="feature x")
    add(migrations, "yhead001", "root0001", message="feature y", labels=["yfeat"])
    return {"root": "root0001", "x": "xhead001", "y": "yhead001"}


def load(migrations: Path) -> history.RevisionGraph:
    return history.load_graph([migrations / "versions"])
