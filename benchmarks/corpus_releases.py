"""Release membership for the corpus benchmark (``benchmarks/corpus-releases.toml``).

Lint's release groups (``releases=`` of :func:`flask_safemigrate.lint.lint`; a project sets
``releases = "git-tags"``) say which revisions ship together: a table an earlier revision of
the same release created is new for the later ones. The corpus has no git repositories, only
wheels, so the facts are our own data file, each with its source; ``corpus.py`` lints the
histories it covers a second time with them and prints both precisions. This module reads
and checks that file and compares the two runs; it lints nothing itself.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Protocol, TypeVar

RELEASES = Path(__file__).resolve().parent / "corpus-releases.toml"
_S = TypeVar("_S")


class _Tally(Protocol):
    errors: int
    tp: int
    fp: int

    def precision(self) -> str: ...


def load_releases(path: Path, histories: Iterable[str]) -> dict[str, dict[str, str]]:
    """Per history, each listed revision's release (``{"airflow": {"3a8972ecb8f9":
    "3.0.0", ...}}``). A malformed file, an unknown history, a revision listed twice or a
    release without a source stops the benchmark with one line."""
    if not path.is_file():
        return {}
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    known = set(histories)
    out: dict[str, dict[str, str]] = {}
    for number, history in enumerate(data.get("history", []), start=1):
        name = history.get("name")
        where = f"corpus: {path.name} history {number} ({name or '?'})"
        if name not in known:
            raise SystemExit(f"{where}: not a history of corpus.py")
        if name in out:
            raise SystemExit(f"{where}: listed twice")
        if not isinstance(history.get("source"), str) or not history["source"].strip():
            raise SystemExit(f"{where}: needs a source (how the facts were read)")
        members = out[name] = {}
        for release in history.get("release", []):
            label, revisions = release.get("name"), release.get("revisions")
            if not isinstance(label, str) or not label or not isinstance(revisions, list):
                raise SystemExit(f"{where}: each release needs a name and a list of revisions")
            for revision in revisions:
                if not isinstance(revision, str) or revision in members:
                    raise SystemExit(f"{where}: revision {revision!r} is not one id listed once")
                members[revision] = label
    return out


def check_revisions(name: str, listed: Mapping[str, str], present: Iterable[str]) -> None:
    """Stop when the file lists a revision the history does not have (a typo, or a wheel
    changed under it): its facts would be about another history."""
    missing = sorted(set(listed) - set(present))
    if missing:
        raise SystemExit(
            f"corpus: {RELEASES.name} lists {len(missing)} revision(s) {name} does not have,"
            f" such as {missing[0]}"
        )


def changed(without: Mapping[str, str], grouped: Mapping[str, str]) -> list[tuple[str, str]]:
    """The finding ids (each id -> its severity, in a run without and one with release
    groups) whose status the groups change, and how: ``taken away``, ``now <severity>``, or
    ``added`` (which the groups should never do)."""
    out = []
    for key in sorted(without.keys() | grouped.keys()):
        if key not in grouped:
            out.append((key, "taken away"))
        elif key not in without:
            out.append((key, "added"))
        elif grouped[key] != without[key]:
            out.append((key, f"now {grouped[key]}"))
    return out


def same_ids(
    without: Mapping[str, _S], grouped: Mapping[str, _S], message: Callable[[_S], str]
) -> dict[str, _S]:
    """``grouped`` keyed by the ids its findings have in ``without``.

    An id ends in the rank of the finding's message among those at its place (``#k``, a loop
    over six tables is one place): when the groups take one of them away, the ranks after it
    move, and ``#2`` would take ``#1``'s verdict. A finding of both runs is the same place and
    message; one of ``grouped`` only keeps its own id with ``+`` after it."""
    by_message = {(key.rpartition("#")[0], message(entry)): key for key, entry in without.items()}
    return {
        by_message.get((key.rpartition("#")[0], message(entry)), f"{key}+"): entry
        for key, entry in grouped.items()
    }


def report_groups(
    path: Path,
    covered: list[str],
    per_rule: Mapping[str, _Tally],
    overall: _Tally,
    grouped_rule: Mapping[str, _Tally],
    grouped: _Tally,
) -> None:
    """Precision without and with release groups, side by side and labelled: the rules whose
    error findings the groups change, and all."""
    print(
        f"\nprecision WITHOUT and WITH release groups ({path.name}: releases known for"
        f" {', '.join(covered) or 'no chosen history'}; the others are the same in both)"
    )
    print(
        f"{'':34} {'errors':>7} {'TP':>5} {'FP':>5} {'without':>8}"
        f" | {'errors':>7} {'TP':>5} {'FP':>5} {'with':>8}"
    )

    def row(label: str, tally: _Tally, other: _Tally) -> str:
        return (
            f"{label[:34]:34} {tally.errors:7d} {tally.tp:5d} {tally.fp:5d} {tally.precision():>8}"
            f" | {other.errors:7d} {other.tp:5d} {other.fp:5d} {other.precision():>8}"
        )

    for rule, tally in sorted(per_rule.items(), key=lambda item: -item[1].errors):
        other = grouped_rule[rule]  # every rule of per_rule, at zero when all taken away
        if (other.errors, other.tp, other.fp) != (tally.errors, tally.tp, tally.fp):
            print(row(rule, tally, other))
    print(row("all", overall, grouped))
