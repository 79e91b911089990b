"""Reading one revision script with :mod:`ast`: its identifiers, docstring and functions.

One read and one ``ast.parse`` per file; every defect becomes a ``GraphProblem``.
"""

from __future__ import annotations

import ast
import re
import warnings
from collections.abc import Iterator
from pathlib import Path

from flask_safemigrate.history.files import not_regular
from flask_safemigrate.history.model import GraphProblem, Script, unparseable

_CREATE_DATE = re.compile(r"^\s*Create Date:[ \t]*(.*?)\s*$", re.MULTILINE)
_IDENTIFIERS = ("revision", "down_revision", "branch_labels", "depends_on")


class _BadIdentifier(Exception):
    """Internal: a revision identifier that is not a literal of the shape Alembic needs."""

    def __init__(self, name: str, line: int, detail: str) -> None:
        super().__init__(detail)
        self.name = name
        self.line = line
        self.detail = detail


def _assignments(stmt: ast.Assign | ast.AnnAssign) -> Iterator[tuple[str, ast.expr, int]]:
    """The names a module-level assignment binds, with their values and its line."""
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
    elif stmt.value is not None and isinstance(stmt.target, ast.Name):
        yield stmt.target.id, stmt.value, stmt.lineno


def _module_scan(
    tree: ast.Module,
) -> tuple[
    dict[str, tuple[ast.expr, int]], dict[str, tuple[bool, int]], tuple[tuple[str, int], ...]
]:
    """One pass over the module body: the revision identifiers' assignments (node and line,
    the last one wins), ``upgrade``/``downgrade`` mapped to whether the body is empty and the
    ``def`` line (last wins), and :func:`top_level_imports`."""
    values: dict[str, tuple[ast.expr, int]] = {}
    functions: dict[str, tuple[bool, int]] = {}
    imports: list[tuple[str, int]] = []
    for stmt in tree.body:
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
            if stmt.name in ("upgrade", "downgrade"):
                functions[stmt.name] = (is_empty_body(stmt.body), stmt.lineno)
        elif isinstance(stmt, ast.Assign | ast.AnnAssign):
            for name, node, line in _assignments(stmt):
                if name in _IDENTIFIERS:
                    values[name] = (node, line)
        elif isinstance(stmt, ast.Import):
            imports.extend((alias.name, stmt.lineno) for alias in stmt.names)
        elif isinstance(stmt, ast.ImportFrom) and stmt.level == 0 and stmt.module:
            imports.append((stmt.module, stmt.lineno))
    return values, functions, tuple(imports)


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
            return unparseable(
                path, None, f"the file cannot be opened ({exc.strerror or exc})", "check the file"
            )
    if not data.strip():
        return unparseable(
            path,
            None,
            "the file is empty",
            "delete the file, or regenerate the revision with `flask db revision`",
        )
    try:
        if tree is None:
            tree = parse_source(data, path)
    except SyntaxError as exc:
        return unparseable(
            path,
            exc.lineno,
            f"not valid Python ({exc.msg})",
            "fix the script; Alembic cannot load it either",
        )
    except (ValueError, MemoryError, RecursionError) as exc:
        return unparseable(
            path, None, f"not valid Python ({exc})", "fix the script; Alembic cannot load it either"
        )

    values, functions, imports = _module_scan(tree)
    for required in ("revision", "down_revision"):
        # Alembic reads both as plain module attributes; branch_labels/depends_on may be absent.
        if required not in values:
            return unparseable(
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
        return unparseable(
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
        imports=imports,
    )


def top_level_imports(tree: ast.Module) -> tuple[tuple[str, int], ...]:
    """``(module, line)`` of each absolute import statement directly in the module body.

    Only these are certain to run when Alembic loads the script: an import inside a ``try``,
    an ``if`` or a function may be optional.
    """
    imports: list[tuple[str, int]] = []
    for node in tree.body:
        if isinstance(node, ast.Import):
            imports.extend((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            imports.append((node.module, node.lineno))
    return tuple(imports)


def parse_source(data: bytes, path: Path) -> ast.Module:
    """``ast.parse`` that does not depend on warning filters.

    Scripts may use escapes that only warn (``"\\d"``), and a warnings-as-errors run would turn
    the warning into a SyntaxError.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ast.parse(data, filename=str(path))
