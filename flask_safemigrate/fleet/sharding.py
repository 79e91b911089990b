"""``--shard I/N`` and ``--shard auto``: which part of the fleet this process runs.

A target belongs to shard ``sha256(key) mod N``: the same on every machine and every run
(Python's ``hash()`` is salted per process, so it is not used), independent of the order
the callable returns the targets in, and unchanged for the other targets when one tenant is
added or removed. ``auto`` reads Kubernetes' Indexed Job variables: ``JOB_COMPLETION_INDEX``
(set in every pod of an Indexed Job) and ``JOB_COMPLETIONS`` (not set by Kubernetes: the
manifest passes ``.spec.completions`` to the pod, see docs/fleet.md).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from flask_safemigrate.errors import ConfigError
from flask_safemigrate.fleet.targets import FleetTarget

__all__ = ["Shard", "parse_shard", "shard_of"]

INDEX_VARIABLE = "JOB_COMPLETION_INDEX"
COUNT_VARIABLE = "JOB_COMPLETIONS"


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` (0-based) of ``count``."""

    index: int
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def select(self, targets: Iterable[FleetTarget]) -> list[FleetTarget]:
        """The targets of this shard, in the fleet's order."""
        return [t for t in targets if shard_of(t.key, self.count) == self.index]


def shard_of(key: str, count: int) -> int:
    """The shard of a target key among ``count`` shards."""
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % count


def parse_shard(text: str | None, environ: Mapping[str, str]) -> Shard | None:
    """``None`` (the whole fleet), ``I/N`` or ``auto``; a :class:`ConfigError` otherwise."""
    if text is None:
        return None
    if text.strip().lower() == "auto":
        index = environ.get(INDEX_VARIABLE)
        count = environ.get(COUNT_VARIABLE)
        if index is None or count is None:
            missing = INDEX_VARIABLE if index is None else COUNT_VARIABLE
            raise ConfigError(
                f"--shard auto needs {INDEX_VARIABLE} and {COUNT_VARIABLE}; {missing} is not set",
                hint="run it in a Kubernetes Indexed Job that sets JOB_COMPLETIONS to"
                " .spec.completions (docs/fleet.md), or give --shard I/N",
            )
        return _checked(index, count, f"{INDEX_VARIABLE}={index}, {COUNT_VARIABLE}={count}")
    index_text, slash, count_text = text.partition("/")
    if not slash:
        raise ConfigError(
            f"--shard {text!r} is not I/N or auto", hint="e.g. --shard 0/4 (shards 0 to 3 of 4)"
        )
    return _checked(index_text, count_text, f"--shard {text}")


def _checked(index_text: str, count_text: str, given: str) -> Shard:
    try:
        index, count = int(index_text.strip()), int(count_text.strip())
    except ValueError:
        raise ConfigError(
            f"{given}: the shard and the count must be whole numbers",
            hint="e.g. --shard 0/4 (shards 0 to 3 of 4)",
        ) from None
    if count < 1 or not 0 <= index < count:
        raise ConfigError(
            f"{given}: the shard must be 0 to count - 1 and the count at least 1",
            hint="e.g. --shard 0/4 ... --shard 3/4",
        )
    return Shard(index, count)
