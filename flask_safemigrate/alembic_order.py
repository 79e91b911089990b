"""The revisions an upgrade applies and their order, as Alembic itself decides them.

Where branches fork and merge, several orders respect the graph; Alembic runs one of them,
``reversed(ScriptDirectory.iterate_revisions(destination, current, implicit_base=True))``
(what ``ScriptDirectory._upgrade_revs`` hands ``command.upgrade``). The plan, the progress
counter, ``--dry-run`` and ``--sql`` must all follow that order, so it is asked of Alembic,
never re-derived. Relative destinations (``+2``, ``ae10+1``, ``branch@+1``) mean something
only from a position, so Alembic resolves those too.

Asking costs a walk that imports every script of the history (``env.py`` imports them again
for the upgrade), so a plan that is one chain, which has a single order, is not asked about.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from typing import Any

from alembic.script import ScriptDirectory

from flask_safemigrate import history
from flask_safemigrate.errors import ConfigError, PreflightError
from flask_safemigrate.text import one_line

__all__ = [
    "ReadFailed",
    "in_upgrade_order",
    "is_chain",
    "is_relative",
    "relative_destination_error",
    "split_range",
    "unreadable",
    "upgrade_order",
]

#: Alembic's own pattern for a relative destination (``alembic.script.revision``).
_RELATIVE = re.compile(r"(?:(.+?)@)?(\w+)?((?:\+|-)\d+)")


class ReadFailed(Exception):
    """Alembic could not load the history (a script that fails to import, a bad env)."""


def is_relative(ref: str) -> bool:
    """Whether ``ref`` counts from a position (``+1``, ``ae10+2``, ``branch@+1``, ``-1``)."""
    return _RELATIVE.fullmatch(ref.strip()) is not None


def split_range(ref: str) -> tuple[str | None, str]:
    """``START:END`` as Alembic's ``command.upgrade`` splits it: ``(START, END)``; a plain
    revision gives ``(None, ref)``. Alembic takes a range only with ``--sql`` (offline mode,
    where START stands for the database's position, which is then never read)."""
    text = ref.strip()
    if ":" not in text:
        return None, text
    start, _, end = text.partition(":")
    return start.strip(), end.strip()


def is_chain(plan: Sequence[history.Script]) -> bool:
    """Whether each revision's only parent is the one before it: one possible order."""
    return all(
        later.down_revisions == (earlier.revision,) for earlier, later in itertools.pairwise(plan)
    )


def upgrade_order(config: Any, destination: str, current: Sequence[str]) -> list[str]:
    """The revision ids ``alembic upgrade destination`` applies from ``current``, in its order.

    Raises :class:`ConfigError` (exit 2) when Alembic refuses the destination (an ambiguous
    relative walk, a step back, a revision that is not ahead) and :class:`ReadFailed` when
    it cannot load the scripts at all.
    """
    try:
        script = ScriptDirectory.from_config(config)
        script.revision_map.heads  # noqa: B018 -- loads every script now, errors included
    except Exception as exc:  # a script's module body can raise anything
        raise ReadFailed(one_line(exc)) from exc
    try:
        walk = script.iterate_revisions(destination, tuple(current) or None, implicit_base=True)
        return [str(found.revision) for found in reversed(list(walk))]
    except Exception as exc:  # Alembic's RevisionError, CommandError, KeyError ...
        at = ", ".join(current) or "base"
        steps = destination.strip()
        if steps.startswith("-"):  # Alembic's words are about its walk, not the user's mistake
            raise ConfigError(
                f"cannot upgrade to {steps!r} from {at}: {steps} is a step back (a downgrade),"
                " and safe-upgrade only upgrades",
                hint=f"to go back, run `flask db downgrade -- {steps}` (the `--` keeps {steps}"
                " from being read as an option); to go forward, name a revision, `head` or `+1`",
            ) from None
        if "didn't produce" in str(exc):
            raise _past_head(script, destination, current, at) from None
        raise ConfigError(
            f"cannot upgrade to {destination!r} from {at}: {one_line(exc)}",
            hint=(
                "name a revision id, a unique prefix, `head`, `heads`, `branch@head` or"
                " a step count Alembic can walk without a fork (`+1`, `REV+2`)"
                " (`flask db history` lists them)"
            ),
        ) from None


def in_upgrade_order(
    config: Any,
    destination: str,
    current: Sequence[str],
    plan: list[history.Script],
    scripts: Mapping[str, history.Script],
) -> list[history.Script]:
    """``plan`` (the graph's path from ``current`` to ``destination``) in the order Alembic
    applies it. Where Alembic cannot load the scripts, the graph's order stands: an upgrade
    then stops on that same error before applying anything. Raises :class:`ConfigError`
    where Alembic refuses the walk (:func:`upgrade_order`)."""
    if is_chain(plan):
        return plan
    try:
        walk = upgrade_order(config, destination, current)
    except ReadFailed:
        return plan
    if any(rev not in scripts for rev in walk):
        return plan
    return [scripts[rev] for rev in walk]


def _past_head(script: Any, destination: str, current: Sequence[str], at: str) -> ConfigError:
    """``+5`` with fewer revisions ahead: say how many are pending, not Alembic's words."""
    try:
        walk = script.iterate_revisions("heads", tuple(current) or None, implicit_base=True)
        pending = len(list(walk))
    except Exception:  # a walk Alembic refuses to count: say it without the number
        pending = None
    if pending is None:
        ahead = "fewer revisions are pending"
    elif pending == 0:
        ahead = "the database is at head, no revision is pending"
    else:
        ahead = f"only {pending} revision{'s are' if pending != 1 else ' is'} pending"
    return ConfigError(
        f"cannot upgrade to {destination.strip()!r} from {at}: that goes past head, {ahead}",
        hint="`flask db safe-upgrade` applies every pending revision"
        + (f" (`+{pending}` counts them)" if pending else ""),
    )


def relative_destination_error(ref: str, found: Sequence[str]) -> ConfigError:
    """Several targets at different revisions: ``ref`` would mean a different one for each."""
    return ConfigError(
        f"{ref!r} counts from where each database stands, and the databases are at different"
        f" revisions (it means {', '.join(found)})",
        hint="name the revision to upgrade to instead",
    )


def unreadable(ref: str, error: ReadFailed) -> PreflightError:
    """A relative ``ref`` needs Alembic's walk, and Alembic could not read the history."""
    return PreflightError(
        f"cannot resolve {ref!r}: Alembic could not read the migration scripts: {error}",
        hint="`flask db history` shows Alembic's own error; fix the script it names",
    )
