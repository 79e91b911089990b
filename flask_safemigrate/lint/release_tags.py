"""Each script's release from git tags: ``releases = "git-tags"`` (``lint --releases``).

Users upgrade from one release to the next, so the revisions of one release run together: a
table an earlier revision of the release created is empty, and unknown to every earlier
release's servers, when a later one runs (:mod:`.helpers.deployed_together`). A script's
release is the earliest tag (by the tag's date, ancestors first on a tie) whose history holds
the commit that added its file, followed through renames; a script no tag holds (committed
since the last tag, or not committed at all) is in the one group ``UNRELEASED``.

Git is asked four times whatever the history's length, never once per file or tag: the
repository (``rev-parse``), when each file was added (one ``log``), the tags
(``for-each-ref``) and the commits they hold (one ``rev-list``, the tags' commits on its
input). No tag or file name is ever an argument, so a name starting with a dash or holding
spaces or any Unicode cannot be read as an option. The repository must hold the whole
history: in a shallow clone (CI's default) the add commits are not the real ones.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from flask_safemigrate import git_files
from flask_safemigrate.safe_text import printable

__all__ = ["UNRELEASED", "TagReleases", "git_tag_releases"]

#: The release of the scripts no tag holds: one group, never equal to a tag's name.
UNRELEASED: Final = ("unreleased",)
_HASH = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


@dataclass(frozen=True)
class TagReleases:
    """Each script's release (its resolved path -> tag name, or :data:`UNRELEASED`), or,
    when git could not say, no release at all and ``notice``: the one line why."""

    releases: dict[str | Path, Hashable] = field(default_factory=dict)
    notice: str | None = None


def git_tag_releases(files: Sequence[Path]) -> TagReleases:
    """The release of each of ``files`` (resolved paths) read from git tags."""
    if not files:
        return TagReleases()
    tops: dict[Path, list[Path]] = {}
    known: dict[Path, Path] = {}  # a script's folder -> its repository's top
    try:
        for path in files:
            folder = path.parent
            if folder not in known:
                try:
                    root, shallow = git_files.git(
                        folder, "rev-parse", "--show-toplevel", "--is-shallow-repository"
                    ).splitlines()[:2]
                except ValueError:
                    return _none(f"{folder} is not in a git repository")
                if shallow.strip() == "true":
                    return _none(f"{root} is a shallow clone (fetch its whole history and tags)")
                known[folder] = Path(root).resolve()
            tops.setdefault(known[folder], []).append(path)
        releases: dict[str | Path, Hashable] = {}
        for top, scripts in tops.items():
            tags = _tags(top)
            if not tags:
                return _none(f"the git repository at {top} has no tags")
            added = _added(top, sorted({p.parent for p in scripts}))
            for path in scripts:
                commit = added.get(_relative(path, top))
                releases[path] = tags.get(commit, UNRELEASED) if commit else UNRELEASED
    except OSError as error:
        return _none(f"git could not be run ({error.strerror or error})")
    except ValueError as error:
        return _none(f"git failed ({error})")
    return TagReleases(releases)


def _none(why: str) -> TagReleases:
    """The one line of a run git could not say releases for; a folder's name in it is shown
    with its control characters escaped, so the line stays one line."""
    return TagReleases(
        notice=f'releases = "git-tags" had no effect: {printable(why)}; each script was judged'
        " alone."
    )


def _relative(path: Path, top: Path) -> str:
    return path.relative_to(top).as_posix()


def _added(top: Path, folders: Iterable[Path]) -> dict[str, str]:
    """Each file below ``folders`` -> the commit that first added it, a rename keeping the
    commit of the name it had (a moved migrations folder does not make its scripts new).

    Git detects a rename only when both names are in the paths it is asked about: the
    commits that added files here are asked again about every path, and the folders they
    were renamed from are added to the question until no rename comes from elsewhere."""
    where = {_relative(folder, top) or "." for folder in folders}
    while True:
        first = _first_commits(git_files.git(top, *_LOG, "--", *sorted(where)))
        commits = "".join(f"{commit}\n" for commit in dict.fromkeys(first.values()))
        everywhere = git_files.git(top, *_LOG, "--no-walk", "--stdin", stdin=commits)
        moved = {
            str(Path(old).parent) if "/" in old else "."
            for old, new in _renames(everywhere)
            if new in first
        } - where
        if not moved:
            return first
        where |= moved


#: ``git log`` of the files each commit adds or renames, NUL-separated.
_LOG = (
    "-c",
    "diff.renameLimit=0",
    "log",
    "--format=%x00%H",
    "-z",
    "-M",
    "--diff-filter=AR",
    "--name-status",
)


def _records(out: str) -> Iterator[tuple[str, str, str | None, str]]:
    """``(commit, status, old name or None, name)`` of :data:`_LOG`'s output."""
    tokens = out.split("\0")
    commit = ""
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token == "" and i + 1 < len(tokens) and _HASH.fullmatch(tokens[i + 1]):
            commit, i = tokens[i + 1], i + 2
            continue
        status = token.strip()[:1]
        if status in {"R", "C"} and i + 2 < len(tokens):
            yield commit, status, tokens[i + 1], tokens[i + 2]
            i += 3
        elif status == "A" and i + 1 < len(tokens):
            yield commit, status, None, tokens[i + 1]
            i += 2
        else:
            i += 1


def _first_commits(out: str) -> dict[str, str]:
    """Each name -> the commit that added it (or the name it was renamed from), oldest first."""
    first: dict[str, str] = {}
    for commit, _status, old, new in reversed(list(_records(out))):
        if new not in first:
            first[new] = first.get(old, commit) if old is not None else commit
    return first


def _renames(out: str) -> Iterator[tuple[str, str]]:
    for _commit, status, old, new in _records(out):
        if status == "R" and old is not None:
            yield old, new


def _tags(top: Path) -> dict[str, str]:
    """Each commit some tag holds -> the earliest such tag's name."""
    listed = git_files.git(
        top,
        "for-each-ref",
        "--format=%(objectname) %(objecttype) %(*objectname) %(*objecttype)"
        " %(creatordate:unix) %(refname:strip=2)",
        "refs/tags",
    )
    tags: list[tuple[int, str, str]] = []  # (date, name, commit)
    for line in listed.splitlines():
        obj, kind, peeled, peeled_kind, date, name = line.split(" ", 5)
        commit = peeled if peeled else obj
        if (peeled_kind or kind) == "commit":
            tags.append((int(date or 0), name, commit))
    if not tags:
        return {}
    order = git_files.git(
        top,
        "rev-list",
        "--topo-order",
        "--reverse",
        "--parents",
        "--stdin",
        stdin="".join(f"{commit}\n" for _, _, commit in tags),
    ).splitlines()
    parents: dict[str, list[str]] = {}
    rank: dict[str, int] = {}  # ancestors first
    for number, line in enumerate(order):
        commit, *above = line.split()
        parents[commit] = above
        rank[commit] = number
    tags.sort(key=lambda tag: (tag[0], rank.get(tag[2], 0), tag[1]))
    release: dict[str, str] = {}
    for _, name, head in tags:
        todo = [head]
        while todo:  # the commits this tag holds that no earlier tag does
            commit = todo.pop()
            if commit in release:
                continue  # an earlier tag holds it, and so all it descends from
            release[commit] = name
            todo.extend(parents.get(commit, ()))
    return release
