"""The revision graph: heads, ancestry, reference resolution and ordering, plus loading it."""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from types import MappingProxyType

from flask_safemigrate.history.files import not_regular, resolved, script_files
from flask_safemigrate.history.identifiers import identifier_problems
from flask_safemigrate.history.model import (
    GraphProblem,
    RevisionCycleError,
    RevisionLookupError,
    Script,
)
from flask_safemigrate.history.scripts import read_script
from flask_safemigrate.text import plural

_MERGE_HINT = (
    "run `flask db auto-merge-heads` to join them into one head (it refuses branches that"
    " change the same thing; `flask db merge heads` joins them blindly)"
)


def _join(items: Iterable[str]) -> str:
    return ", ".join(items)


class RevisionGraph:
    """The revision graph of a set of scripts, with every defect listed in :attr:`problems`.

    Edges used for ordering and ancestry are ``down_revision`` plus ``depends_on``, as in
    Alembic; heads, roots, merge and branch points use ``down_revision`` only.
    All algorithms are iterative so a long linear history cannot overflow the stack.
    """

    def __init__(self, scripts: Iterable[Script], problems: Iterable[GraphProblem] = ()) -> None:
        found: list[GraphProblem] = list(problems)
        by_id: dict[str, Script] = {}
        duplicates: list[GraphProblem] = []
        scripts_seen = list(scripts)
        for script in scripts_seen:
            first = by_id.get(script.revision)
            if first is None:
                by_id[script.revision] = script
                continue
            duplicates.append(
                GraphProblem(
                    check="duplicate-revision",
                    message=(
                        f"Revision {script.revision} is defined twice: in {first.path} "
                        f"(line {first.line}) and in {script.path} (line {script.line}); "
                        "Alembic keeps only one of them."
                    ),
                    path=script.path,
                    line=script.line,
                    revisions=(script.revision,),
                    hint=(
                        "give one of the two scripts a new revision id, and point any "
                        "down_revision that meant it at the new id"
                    ),
                )
            )
        found.extend(duplicates)
        for script in scripts_seen:
            found.extend(identifier_problems(script))

        self.scripts: Mapping[str, Script] = MappingProxyType(by_id)
        self._order: dict[str, int] = {rev: index for index, rev in enumerate(by_id)}
        labels: dict[str, str] = {}
        for script in by_id.values():
            for label in script.branch_labels:
                labels.setdefault(label, script.revision)
        self.labels: Mapping[str, str] = MappingProxyType(labels)

        missing: list[GraphProblem] = []
        down: dict[str, tuple[str, ...]] = {}
        parents: dict[str, tuple[str, ...]] = {}
        for script in by_id.values():
            for parent in script.down_revisions:
                if parent not in by_id:
                    missing.append(self._missing(script, "down_revision", parent))
            resolved_deps: list[str] = []
            for dependency in script.depends_on:
                target = dependency if dependency in by_id else labels.get(dependency)
                if target is None:
                    missing.append(self._missing(script, "depends_on", dependency))
                else:
                    resolved_deps.append(target)
            down[script.revision] = tuple(p for p in script.down_revisions if p in by_id)
            parents[script.revision] = tuple(
                dict.fromkeys((*down[script.revision], *resolved_deps))
            )
        found.extend(missing)
        self._down = down
        self._parents = parents
        self._children = self._invert(parents)
        self._down_children = self._invert(down)

        has_child = {p for ps in down.values() for p in ps}
        self.heads: tuple[str, ...] = tuple(sorted(r for r in by_id if r not in has_child))
        self.roots: tuple[str, ...] = tuple(
            sorted(r for r, s in by_id.items() if not s.down_revisions)
        )
        self.merge_points: tuple[str, ...] = tuple(
            sorted(r for r, s in by_id.items() if s.is_merge)
        )
        self.branch_points: tuple[str, ...] = tuple(
            sorted(r for r, kids in self._down_children.items() if len(kids) > 1)
        )

        found.extend(self._cycle_problems())
        if len(self.heads) > 1:
            found.append(
                GraphProblem(
                    check="multiple-heads",
                    message=(
                        f"The history has {len(self.heads)} heads ({_join(self.heads)}); "
                        "`flask db upgrade` (to `head`) and `flask db migrate` need exactly one."
                    ),
                    revisions=self.heads,
                    hint=_MERGE_HINT,
                )
            )
        self.problems: tuple[GraphProblem, ...] = tuple(found)

    # ------------------------------------------------------------------ construction helpers

    @staticmethod
    def _missing(script: Script, attribute: str, target: str) -> GraphProblem:
        what = "revision or branch label" if attribute == "depends_on" else "revision"
        return GraphProblem(
            check="missing-parent",
            message=(
                f"Revision {script.revision} ({script.path}) has {attribute} {target!r}, "
                f"but no script has that {what}."
            ),
            path=script.path,
            line=script.line,
            revisions=(script.revision, target),
            hint=(
                f"restore the missing migration script, or fix {attribute} in "
                f"{script.path.name} to name an existing revision"
            ),
        )

    def _invert(self, edges: Mapping[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        inverted: dict[str, list[str]] = {rev: [] for rev in edges}
        for child, targets in edges.items():
            for target in targets:
                inverted[target].append(child)
        return {rev: tuple(kids) for rev, kids in inverted.items()}

    def _cycle_problems(self) -> list[GraphProblem]:
        problems = []
        for component in self._cycles():
            members = sorted(component, key=self._order.__getitem__)
            walk = self._walk_cycle(members[0], set(component))
            first = self.scripts[members[0]]
            problems.append(
                GraphProblem(
                    check="revision-cycle",
                    message=(
                        f"Revisions {_join(members)} form a cycle "
                        f"({' -> '.join(walk)}, following down_revision/depends_on): "
                        "each is its own ancestor, so none of them can be applied."
                    ),
                    path=first.path,
                    line=first.line,
                    revisions=tuple(members),
                    hint="fix down_revision (or depends_on) in one of these scripts so the "
                    "history runs one way",
                )
            )
        return problems

    def _cycles(self) -> list[list[str]]:
        """Strongly connected components that are cycles (Tarjan, iteratively)."""
        index: dict[str, int] = {}
        low: dict[str, int] = {}
        stack: list[str] = []
        on_stack: set[str] = set()
        components: list[list[str]] = []
        counter = 0
        for root in self._parents:
            if root in index:
                continue
            index[root] = low[root] = counter
            counter += 1
            stack.append(root)
            on_stack.add(root)
            work: list[tuple[str, Iterator[str]]] = [(root, iter(self._parents[root]))]
            while work:
                node, edges = work[-1]
                descended = False
                for nxt in edges:
                    if nxt not in index:
                        index[nxt] = low[nxt] = counter
                        counter += 1
                        stack.append(nxt)
                        on_stack.add(nxt)
                        work.append((nxt, iter(self._parents[nxt])))
                        descended = True
                        break
                    if nxt in on_stack:
                        low[node] = min(low[node], index[nxt])
                if descended:
                    continue
                work.pop()
                if work:
                    caller = work[-1][0]
                    low[caller] = min(low[caller], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1 or node in self._parents[node]:
                        components.append(component)
        components.sort(key=lambda c: min(self._order[r] for r in c))
        return components

    def _walk_cycle(self, start: str, members: set[str]) -> list[str]:
        walk = [start]
        position = {start: 0}
        current = start
        while True:
            current = next(p for p in self._parents[current] if p in members)
            if current in position:
                return [*walk[position[current] :], current]
            position[current] = len(walk)
            walk.append(current)

    # ------------------------------------------------------------------ lookups

    def resolve(self, ref: str) -> tuple[str, ...]:
        """Revision ids a reference means, the way Alembic reads it.

        ``heads``, ``head`` (exactly one head), ``base`` (nothing), a full id, a unique
        prefix, a branch label (the revision carrying it, as in Alembic), and
        ``label@head``/``label@heads``/``label@base``/``label@<id or prefix>``.
        """
        ref = ref.strip()
        if not ref:
            raise RevisionLookupError("An empty revision reference names no revision.", ref)
        if "@" in ref:
            branch, _, rest = ref.partition("@")
            return self._resolve_in_branch(ref, branch, rest)
        if ref == "heads":
            return self.heads
        if ref == "head":
            return self._single_head(ref, self.heads)
        if ref == "base":
            return ()
        return (self._resolve_one(ref),)

    def _single_head(self, ref: str, heads: tuple[str, ...]) -> tuple[str, ...]:
        if len(heads) > 1:
            raise RevisionLookupError(
                f"{ref!r} is ambiguous: there are {len(heads)} heads ({_join(heads)}); "
                "name one of them, use 'heads', or merge them",
                ref,
                heads,
            )
        return heads

    def _resolve_one(self, ref: str, within: set[str] | None = None) -> str:
        if ref in self.scripts and (within is None or ref in within):
            return ref
        if ref in self.labels and within is None:
            return self.labels[ref]
        candidates = sorted(
            (r for r in self.scripts if len(r) > 3 and r.startswith(ref)),
            key=self._order.__getitem__,
        )
        if within is not None:
            candidates = [r for r in candidates if r in within]
        if len(candidates) == 1:
            return candidates[0]
        if candidates:
            raise RevisionLookupError(
                f"Revision prefix {ref!r} is ambiguous: it matches {_join(candidates)}.",
                ref,
                tuple(candidates),
            )
        note = (
            "; a partial revision id needs at least four characters"
            if len(ref) < 4 and within is None
            else ""
        )
        scope = " in that branch" if within is not None else ""
        raise RevisionLookupError(
            f"No revision, revision prefix or branch label matches {ref!r}{scope}{note}.", ref
        )

    def _resolve_in_branch(self, ref: str, branch: str, rest: str) -> tuple[str, ...]:
        if not branch or not rest:
            raise RevisionLookupError(
                f"{ref!r} is not a valid reference; expected 'label@head' or 'label@<revision>'.",
                ref,
            )
        try:
            anchor = self._resolve_one(branch)
        except RevisionLookupError as exc:
            raise RevisionLookupError(f"No such branch {branch!r}: {exc}", ref) from exc
        # Alembic's filter_for_lineage: down_revision lineage only, dependencies ignored.
        lineage = self._closure((anchor,), self._down) | self._closure(
            (anchor,), self._down_children
        )
        if rest in ("head", "heads"):
            heads = tuple(h for h in self.heads if h in lineage)
            return heads if rest == "heads" else self._single_head(ref, heads)
        if rest == "base":
            return ()
        return (self._resolve_one(rest, within=lineage),)

    # ------------------------------------------------------------------ traversal

    def _closure(self, starts: Iterable[str], edges: Mapping[str, tuple[str, ...]]) -> set[str]:
        """Every revision reachable from ``starts`` (inclusive) along ``edges``."""
        seen = {s for s in starts if s in edges}
        pending = list(seen)
        while pending:
            for nxt in edges[pending.pop()]:
                if nxt not in seen:
                    seen.add(nxt)
                    pending.append(nxt)
        return seen

    def _refs(self, refs: Iterable[str] | str) -> set[str]:
        if isinstance(refs, str):
            refs = (refs,)
        resolved: set[str] = set()
        for ref in refs:
            resolved.update(self.resolve(ref))
        return resolved

    def ancestors(self, revision: str, *, include_dependencies: bool = True) -> set[str]:
        """Revisions that must be applied before ``revision`` (which is not included)."""
        starts = self._refs(revision)
        edges = self._parents if include_dependencies else self._down
        return self._closure(starts, edges) - starts

    def descendants(self, revision: str, *, include_dependencies: bool = True) -> set[str]:
        """Revisions that need ``revision`` applied first (which is not included)."""
        starts = self._refs(revision)
        edges = self._children if include_dependencies else self._down_children
        return self._closure(starts, edges) - starts

    def _topological(self, revisions: set[str]) -> list[str]:
        """Parents and dependencies first; ties broken by discovery order (Kahn's algorithm)."""
        waiting = {r: sum(1 for p in self._parents[r] if p in revisions) for r in revisions}
        ready = [(self._order[r], r) for r, count in waiting.items() if count == 0]
        heapq.heapify(ready)
        ordered: list[str] = []
        while ready:
            _, rev = heapq.heappop(ready)
            ordered.append(rev)
            for child in self._children[rev]:
                if child in waiting:
                    waiting[child] -= 1
                    if waiting[child] == 0:
                        heapq.heappush(ready, (self._order[child], child))
        if len(ordered) != len(revisions):
            stuck = tuple(sorted(revisions.difference(ordered), key=self._order.__getitem__))
            raise RevisionCycleError(
                f"Revisions {_join(stuck)} cannot be ordered: they are in, or depend on, "
                "a revision cycle.",
                stuck,
            )
        return ordered

    def path(
        self, from_revisions: Iterable[str] | str, to: Iterable[str] | str = "heads"
    ) -> list[Script]:
        """The scripts an upgrade from ``from_revisions`` (empty: base) to ``to`` applies.

        Exactly the ancestors of ``to`` (inclusive; one reference or several) that are not
        ancestors of a current revision (inclusive), parents and ``depends_on`` targets
        before their dependants. Where branches fork, Alembic may apply them in another
        order: safe-upgrade asks Alembic for it (``alembic_order.py``).
        """
        have = self._closure(self._refs(from_revisions), self._parents)
        need = self._closure(self._refs(to), self._parents) - have
        return [self.scripts[rev] for rev in self._topological(need)]

    def __repr__(self) -> str:
        return (
            f"<RevisionGraph {plural(len(self.scripts), 'revision')}, "
            f"heads={list(self.heads)}, {plural(len(self.problems), 'problem')}>"
        )


def load_graph(
    locations: Iterable[Path],
    *,
    known: Mapping[Path, Script | GraphProblem] | None = None,
    read: Callable[[Path], Script | GraphProblem] = read_script,
) -> RevisionGraph:
    """Read every script of the locations; a missing directory simply contributes nothing.

    ``known`` maps resolved paths to scripts the caller has already read; ``read`` reads
    the others (safe-upgrade: :meth:`.ScriptCache.read`, which skips the parse of bytes
    read before).
    """
    scripts: list[Script] = []
    problems: list[GraphProblem] = []
    directories: dict[Path, tuple[Path, frozenset[str] | None]] = {}
    for path, regular in script_files(locations):
        result: Script | GraphProblem | None = None if regular else not_regular(path)
        if result is None and known:
            result = known.get(resolved(path, directories))
        if result is None:
            result = read(path)
        if isinstance(result, Script):
            scripts.append(result)
        else:
            problems.append(result)
    return RevisionGraph(scripts, problems)
