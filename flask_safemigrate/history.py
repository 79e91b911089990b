"""The Alembic revision graph, read statically with :mod:`ast`.

Alembic loads a revision by executing the script, which imports the application, needs its
settings and fails on the first broken file. Checks that must run before anything is trusted
(pre-flight, ``verify``, ``lint``) therefore read the scripts as text: one read and one
``ast.parse`` per file, and every defect becomes a :class:`GraphProblem` instead of an exception.
"""

from __future__ import annotations

import ast
import configparser
import contextlib
import heapq
import os
import re
import stat
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from flask_safemigrate import revision_ids
from flask_safemigrate.text import plural

__all__ = [
    "GraphProblem",
    "RevisionCycleError",
    "RevisionGraph",
    "RevisionLookupError",
    "Script",
    "identifier_problems",
    "load_graph",
    "not_regular",
    "overlong_ids",
    "read_script",
    "unreadable_reason",
    "version_locations",
]

# The same file filter Alembic applies to a version location (alembic/script/base.py).
_ONLY_SOURCE_REV_FILE = re.compile(r"(?!\.\#|__init__)(.*\.py)$")
_CREATE_DATE = re.compile(r"^\s*Create Date:[ \t]*(.*?)\s*$", re.MULTILINE)
_LEGACY_SPLIT = re.compile(r"[,\s]+")
_SEPARATORS = {"space": None, "newline": "\n", "os": os.pathsep, ":": ":", ";": ";"}
_IDENTIFIERS = ("revision", "down_revision", "branch_labels", "depends_on")

_MERGE_HINT = (
    "run `flask db auto-merge-heads` to join them into one head (it refuses branches that"
    " change the same thing; `flask db merge heads` joins them blindly)"
)


@dataclass(frozen=True)
class Script:
    """One revision script as written on disk (nothing in it was executed)."""

    revision: str
    down_revisions: tuple[str, ...]
    branch_labels: tuple[str, ...]
    depends_on: tuple[str, ...]
    path: Path
    line: int
    message: str | None
    create_date: str | None
    has_upgrade: bool
    upgrade_is_empty: bool
    has_downgrade: bool
    downgrade_is_empty: bool
    #: ``(attribute, line)`` of each identifier assignment read (``down_revision``, ...), and
    #: ``("def upgrade", line)`` / ``("def downgrade", line)`` for the functions.
    lines: tuple[tuple[str, int], ...] = ()

    @property
    def is_merge(self) -> bool:
        return len(self.down_revisions) > 1

    def line_of(self, attribute: str) -> int:
        """The line assigning ``attribute`` (``revision``'s line when unknown)."""
        return next((line for name, line in self.lines if name == attribute), self.line)


@dataclass(frozen=True)
class GraphProblem:
    """A defect of the history that Alembic would trip over; ``check`` is the verify check name."""

    check: str
    message: str
    path: Path | None = None
    line: int | None = None
    revisions: tuple[str, ...] = ()
    hint: str | None = None


class RevisionLookupError(ValueError):
    """A revision reference that names no revision, or more than one where one is needed."""

    def __init__(self, message: str, ref: str, candidates: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.ref = ref
        self.candidates = candidates


class RevisionCycleError(ValueError):
    """Raised by :meth:`RevisionGraph.path` when the revisions to order contain a cycle."""

    def __init__(self, message: str, revisions: tuple[str, ...]) -> None:
        super().__init__(message)
        self.revisions = revisions


# --------------------------------------------------------------------------- reading scripts


class _BadIdentifier(Exception):
    """Internal: a revision identifier that is not a literal of the shape Alembic needs."""

    def __init__(self, name: str, line: int, detail: str) -> None:
        super().__init__(detail)
        self.name = name
        self.line = line
        self.detail = detail


def _unparseable(path: Path, line: int | None, what: str, hint: str) -> GraphProblem:
    where = f"{path}, line {line}" if line is not None else str(path)
    return GraphProblem(
        check="unparseable-script",
        message=f"Migration script {where} cannot be read: {what}.",
        path=path,
        line=line,
        hint=hint,
    )


def _assignments(tree: ast.Module) -> Iterator[tuple[str, ast.expr, int]]:
    """Module-level assignments to the revision identifiers, in source order."""
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign):
            for target in stmt.targets:
                if isinstance(target, ast.Name):
                    yield target.id, stmt.value, stmt.lineno
                elif (
                    isinstance(target, ast.Tuple | ast.List)
                    and isinstance(stmt.value, ast.Tuple | ast.List)
                    and len(target.elts) == len(stmt.value.elts)
                    and not any(isinstance(e, ast.Starred) for e in stmt.value.elts)
                ):
                    for elt, value in zip(target.elts, stmt.value.elts, strict=True):
                        if isinstance(elt, ast.Name):
                            yield elt.id, value, stmt.lineno
        elif (
            isinstance(stmt, ast.AnnAssign)
            and stmt.value is not None
            and isinstance(stmt.target, ast.Name)
        ):
            yield stmt.target.id, stmt.value, stmt.lineno


def _literal(name: str, node: ast.expr, line: int) -> object:
    if isinstance(node, ast.Constant):
        return node.value  # what literal_eval answers for a constant, without its overhead
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        source = ast.unparse(node)
        if len(source) > 60:
            source = source[:57] + "..."
        raise _BadIdentifier(
            name, line, f"`{name}` is not a literal (`{name} = {source}`)"
        ) from None


def _names(name: str, value: object, line: int) -> tuple[str, ...]:
    """Alembic's ``util.to_tuple`` for identifier lists, refusing what Alembic would choke on."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, tuple | list) and all(isinstance(v, str) for v in value):
        return tuple(dict.fromkeys(value))
    raise _BadIdentifier(
        name,
        line,
        f"`{name}` must be None, a string or a tuple of strings, not {value!r}",
    )


def is_empty_body(body: list[ast.stmt]) -> bool:
    """Only ``pass``, ``...`` and strings: the body Alembic writes when nothing was detected."""
    for stmt in body:
        if isinstance(stmt, ast.Pass):
            continue
        if (
            isinstance(stmt, ast.Expr)
            and isinstance(stmt.value, ast.Constant)
            and (stmt.value.value is Ellipsis or isinstance(stmt.value.value, str))
        ):
            continue
        return False
    return True


def _functions(tree: ast.Module) -> dict[str, tuple[bool, int]]:
    """Module-level ``upgrade``/``downgrade`` mapped to whether the body is empty and the
    ``def`` line (last wins)."""
    found: dict[str, tuple[bool, int]] = {}
    for stmt in tree.body:
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef) and stmt.name in (
            "upgrade",
            "downgrade",
        ):
            found[stmt.name] = (is_empty_body(stmt.body), stmt.lineno)
    return found


def read_script(
    path: Path, *, data: bytes | None = None, tree: ast.Module | None = None
) -> Script | GraphProblem:
    """Read one revision script without importing it; any defect is returned, never raised.

    A caller that already read (``data``) or parsed (``tree``) the file passes it in, so a
    lint run parses each script once.
    """
    if data is None:
        unreadable = not_regular(path)  # never open a FIFO: the read would not return
        if unreadable is not None:
            return unreadable
        try:
            data = path.read_bytes()
        except OSError as exc:
            return _unparseable(
                path, None, f"the file cannot be opened ({exc.strerror or exc})", "check the file"
            )
    if not data.strip():
        return _unparseable(
            path,
            None,
            "the file is empty",
            "delete the file, or regenerate the revision with `flask db revision`",
        )
    try:
        if tree is None:
            tree = parse_source(data, path)
    except SyntaxError as exc:
        return _unparseable(
            path,
            exc.lineno,
            f"not valid Python ({exc.msg})",
            "fix the script; Alembic cannot load it either",
        )
    except (ValueError, MemoryError, RecursionError) as exc:
        return _unparseable(
            path, None, f"not valid Python ({exc})", "fix the script; Alembic cannot load it either"
        )

    values: dict[str, tuple[ast.expr, int]] = {}
    for name, node, line in _assignments(tree):
        if name in _IDENTIFIERS:
            values[name] = (node, line)
    for required in ("revision", "down_revision"):
        # Alembic reads both as plain module attributes; branch_labels/depends_on may be absent.
        if required not in values:
            return _unparseable(
                path,
                values["revision"][1] if required == "down_revision" else None,
                f"no module-level `{required} = ...` assignment",
                "a revision script must assign `revision` and `down_revision` at module level; "
                "move helper modules out of the versions directory",
            )
    try:
        rev_node, rev_line = values["revision"]
        revision = _literal("revision", rev_node, rev_line)
        if not isinstance(revision, str) or not revision:
            raise _BadIdentifier(
                "revision", rev_line, f"`revision` must be a non-empty string, not {revision!r}"
            )
        lists: dict[str, tuple[str, ...]] = {}
        for name in _IDENTIFIERS[1:]:
            if name in values:
                node, line = values[name]
                lists[name] = _names(name, _literal(name, node, line), line)
            else:
                lists[name] = ()
    except _BadIdentifier as exc:
        return _unparseable(
            path,
            exc.line,
            exc.detail,
            "write revision identifiers as plain string literals, as Alembic's template does",
        )

    # Raw, not ``clean=True``: the message is the first non-blank line, stripped, which is
    # what cleaning would give, and cleaning every docstring of a long history adds up.
    docstring = ast.get_docstring(tree, clean=False)
    message: str | None = None
    create_date: str | None = None
    if docstring:
        message = next(
            (line.strip() for line in docstring.expandtabs().splitlines() if line.strip()), None
        )
        match = _CREATE_DATE.search(docstring)
        if match and match.group(1):
            create_date = match.group(1)
    functions = _functions(tree)
    return Script(
        revision=revision,
        down_revisions=lists["down_revision"],
        branch_labels=lists["branch_labels"],
        depends_on=lists["depends_on"],
        path=path,
        line=rev_line,
        message=message,
        create_date=create_date,
        has_upgrade="upgrade" in functions,
        upgrade_is_empty=functions.get("upgrade", (False, 0))[0],
        has_downgrade="downgrade" in functions,
        downgrade_is_empty=functions.get("downgrade", (False, 0))[0],
        lines=tuple((name, line) for name, (_, line) in values.items())
        + tuple((f"def {name}", line) for name, (_, line) in functions.items()),
    )


def parse_source(data: bytes, path: Path) -> ast.Module:
    """``ast.parse`` that does not depend on warning filters.

    Scripts may use escapes that only warn (``"\\d"``), and a warnings-as-errors run would turn
    the warning into a SyntaxError.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ast.parse(data, filename=str(path))


def _script_files(locations: Iterable[Path]) -> Iterator[tuple[Path, bool]]:
    """Candidate files of every location, in Alembic's discovery order (each directory once).

    Every entry Alembic would try to load is yielded with whether it is known to be a plain
    regular file (from the directory listing, no system call); anything else must be asked
    with :func:`not_regular` before it is opened. Directories are skipped, as Alembic skips
    them.
    """
    seen: set[Path] = set()
    for location in locations:
        try:
            key = location.resolve()
            if key in seen or not location.is_dir():
                continue
            seen.add(key)
            with os.scandir(location) as listing:
                entries = sorted(listing, key=lambda e: e.name)
        except (OSError, RuntimeError):  # RuntimeError: a symlink loop on older Pythons
            continue
        for entry in entries:
            if not _ONLY_SOURCE_REV_FILE.match(entry.name):
                continue
            try:
                regular = entry.is_file(follow_symlinks=False)
                if not regular and entry.is_dir():
                    continue
            except OSError:
                regular = False
            yield location / entry.name, regular


_FILE_KINDS = (
    (stat.S_ISFIFO, "a named pipe (FIFO): reading it would wait forever"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISDIR, "a directory"),
)


def unreadable_reason(path: Path) -> str | None:
    """Why ``path`` is not a regular file that can be read, or ``None`` when it is one.

    Alembic loads every ``*.py`` entry of a version directory that is not a directory: a
    symlink loop or a dangling link fails its load, and a FIFO blocks it (and anything that
    reads it) forever. Asked with ``stat`` only, so nothing here ever opens such a file.
    """
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        link = ""
        with contextlib.suppress(OSError):
            if path.is_symlink():
                link = f"a symbolic link to {str(path.readlink())!r} that cannot be followed: "
        return f"{link}{exc.strerror or exc}"
    if stat.S_ISREG(mode):
        return None
    what = next((kind for test, kind in _FILE_KINDS if test(mode)), "not a regular file")
    return f"it is {what}"


def not_regular(path: Path) -> GraphProblem | None:
    """:func:`unreadable_reason` as an ``unparseable-script`` problem naming the path."""
    reason = unreadable_reason(path)
    if reason is None:
        return None
    hint = (
        "remove the file or point the link at the real script"
        if reason.startswith(("a symbolic link", "No such file"))
        else "remove it from the versions directory; only scripts belong"
    )
    return _unparseable(path, None, reason, hint)


def resolved(path: Path, directories: dict[Path, tuple[Path, frozenset[str] | None]]) -> Path:
    """``path.resolve()``, resolving each directory once (``directories`` caches them).

    A file that is not a symlink resolves to its directory's resolved path plus its name;
    resolving every file on its own costs system calls per path component. One listing of
    the directory says which of its entries are symlinks.
    """
    name = path.name
    if name in ("", ".", ".."):
        return _resolve(path)
    parent = path.parent
    directory = directories.get(parent)
    if directory is None:
        links: frozenset[str] | None
        try:
            with os.scandir(parent) as entries:
                links = frozenset(entry.name for entry in entries if entry.is_symlink())
        except OSError:
            links = None  # ask each file instead
        directory = directories[parent] = (parent.resolve(), links)
    real, links = directory
    if links is None:
        try:
            link = path.is_symlink()
        except OSError:
            link = True
    else:
        link = name in links
    return _resolve(path) if link else real / name


def _resolve(path: Path) -> Path:
    """``path.resolve()``; a link that cannot be followed (a loop, a dangling link) stands
    for itself, so findings name the entry in the versions directory, not a missing target."""
    try:
        return path.resolve(strict=True)
    except (OSError, RuntimeError):
        return path.absolute()


def load_graph(
    locations: Iterable[Path], *, known: Mapping[Path, Script | GraphProblem] | None = None
) -> RevisionGraph:
    """Read every script of the locations; a missing directory simply contributes nothing.

    ``known`` maps resolved paths to scripts the caller has already read.
    """
    scripts: list[Script] = []
    problems: list[GraphProblem] = []
    directories: dict[Path, tuple[Path, frozenset[str] | None]] = {}
    for path, regular in _script_files(locations):
        result: Script | GraphProblem | None = None if regular else not_regular(path)
        if result is None and known:
            result = known.get(resolved(path, directories))
        if result is None:
            result = read_script(path)
        if isinstance(result, Script):
            scripts.append(result)
        else:
            problems.append(result)
    return RevisionGraph(scripts, problems)


def version_locations(migrations_dir: Path) -> list[Path]:
    """Where Alembic looks for scripts: ``alembic.ini``'s ``version_locations``, else ``versions/``.

    Relative entries stay relative to the current directory, as Alembic treats them.
    Raises :class:`ValueError` when ``alembic.ini`` exists but cannot be read, because
    guessing would check a different history than the one Alembic runs.
    """
    default = [migrations_dir / "versions"]
    ini = migrations_dir / "alembic.ini"
    if not ini.is_file():
        return default
    here = str(ini.parent.absolute())
    parser = configparser.ConfigParser(defaults={"here": here.replace("%", "%%")})
    try:
        with ini.open(encoding="utf-8") as handle:
            parser.read_file(handle, source=str(ini))
        raw = parser.get("alembic", "version_locations", fallback=None)
        separator = parser.get("alembic", "path_separator", fallback=None)
        if separator is None:
            separator = parser.get("alembic", "version_path_separator", fallback=None)
    except (OSError, UnicodeDecodeError, configparser.Error) as exc:
        raise ValueError(f"cannot read {ini}: {exc}") from exc
    if not raw or not raw.strip():
        return default
    if separator is None:
        entries = _LEGACY_SPLIT.split(raw)
    elif separator.strip() in _SEPARATORS:
        entries = raw.split(_SEPARATORS[separator.strip()])
    else:
        raise ValueError(
            f"{ini}: {separator!r} is not a valid path separator; "
            "expected 'space', 'newline', 'os', ':' or ';'"
        )
    return [Path(entry.strip()) for entry in entries if entry.strip()]


# --------------------------------------------------------------------------- the graph


def _join(items: Iterable[str]) -> str:
    return ", ".join(items)


_ID_HINT = (
    "rename the revision (and every down_revision/depends_on naming it) to plain letters,"
    " digits and `_`, as `flask db revision` generates; nothing was changed in the database"
)


def _invalid_id(script: Script, attribute: str, why: str) -> GraphProblem:
    line = script.line_of(attribute)
    return GraphProblem(
        check="invalid-revision-id",
        message=(f"{script.path}, line {line}: {attribute} {why}."),
        path=script.path,
        line=line,
        revisions=(script.revision,),
        hint=_ID_HINT,
    )


def identifier_problems(script: Script) -> list[GraphProblem]:
    """Ids and labels of ``script`` that Alembic refuses or would write into SQL unsafely.

    Length is checked separately (:func:`overlong_ids`): only the database knows its width.
    """
    problems: list[GraphProblem] = []
    checks: list[tuple[str, tuple[str, ...], Callable[[str], str | None]]] = [
        ("revision", (script.revision,), revision_ids.id_defect),
        ("down_revision", script.down_revisions, revision_ids.id_defect),
        ("branch_labels", script.branch_labels, revision_ids.label_defect),
        # depends_on names a revision id or a branch label: the wider of the two rules
        ("depends_on", script.depends_on, revision_ids.label_defect),
    ]
    for attribute, values, defect in checks:
        for value in values:
            why = defect(value)
            if why is not None:
                problems.append(_invalid_id(script, attribute, why))
    return problems


def overlong_ids(scripts: Iterable[Script], width: int) -> list[GraphProblem]:
    """``revision`` ids longer than a version column ``width`` characters wide.

    Only ``revision`` is checked: every ``down_revision`` is some script's ``revision``.
    """
    return [
        _invalid_id(script, "revision", why)
        for script in scripts
        if (why := revision_ids.overlong(script.revision, width)) is not None
    ]


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
                        "`flask db upgrade` needs exactly one."
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

    def path(self, from_revisions: Iterable[str] | str, to: str = "heads") -> list[Script]:
        """The scripts an upgrade from ``from_revisions`` (empty: base) to ``to`` applies, in order.

        Exactly the ancestors of ``to`` (inclusive) that are not ancestors of a current
        revision (inclusive), parents and ``depends_on`` targets before their dependants.
        """
        have = self._closure(self._refs(from_revisions), self._parents)
        need = self._closure(self.resolve(to), self._parents) - have
        return [self.scripts[rev] for rev in self._topological(need)]

    def __repr__(self) -> str:
        return (
            f"<RevisionGraph {plural(len(self.scripts), 'revision')}, "
            f"heads={list(self.heads)}, {plural(len(self.problems), 'problem')}>"
        )
