"""Generated migration sources: the linter never crashes, and file order never changes its answer.

Hypothesis builds scripts from realistic pieces (``op.*`` and ``batch_op.*`` calls with random
arguments, batch blocks, ``execute`` with text, plain strings, f-strings and concatenation,
guards, random nesting, suppression comments) and then breaks some of them (garbage tokens,
truncation, random bytes, non-UTF-8 text, long operator chains), with revision headers that
are sometimes duplicated, cyclic, missing a parent or missing altogether. The runs are
derandomized, so CI sees the same examples every time: 150 per property with ``--slow`` (as CI
runs), 50 in the default run (the ``fuzz`` profile of the root ``conftest.py``).
"""

from __future__ import annotations

import ast
import json
import re
import tempfile
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flask_safemigrate.console import main
from flask_safemigrate.lint import engine
from flask_safemigrate.lint.engine import LintConfig
from flask_safemigrate.report import Finding, Report

FUZZ = settings(
    settings.get_profile("fuzz"),
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

UNPARSEABLE = "SM313"
#: Revision ids are drawn from a small pool so duplicates, cycles and branches happen often.
REVISIONS = ("a1", "b2", "c3", "d4", "e5")
#: Graph rules report a history problem once, on one of the scripts involved.
GRAPH_CODES = frozenset({"SM501", "SM502", "SM503", "SM504"})

# --------------------------------------------------------------------------- expressions

NAMES = ("users", "orders", "email", "id", "Users", "ix_users_email", "fk_orders_users", "x" * 70)
SQL = (
    "DROP TABLE users",
    "ALTER TABLE users ADD COLUMN email VARCHAR(120) NOT NULL",
    "UPDATE users SET email = ''",
    "CREATE INDEX ix_a ON users (email)",
    "CREATE INDEX CONCURRENTLY ix_b ON users (email)",
    "DELETE FROM orders",
    "TRUNCATE orders",
    "COMMIT",
    "BEGIN",
    "VACUUM",
    "SET lock_timeout = '1s'",
    "LOCK TABLE users IN ACCESS EXCLUSIVE MODE",
    "ALTER TABLE users RENAME COLUMN a TO b",
    "",
    "select 1; drop table x",
)
TYPES = (
    "sa.Integer()",
    "sa.String(length=50)",
    "sa.String()",
    "sa.Text",
    "sa.Boolean()",
    "sa.Enum('a', 'b', name='kind')",
    "sa.Numeric(10, 2)",
    "sa.DateTime(timezone=True)",
    "postgresql.JSONB()",
)
OPS = (
    "add_column",
    "drop_column",
    "alter_column",
    "create_table",
    "drop_table",
    "rename_table",
    "create_index",
    "drop_index",
    "create_unique_constraint",
    "create_foreign_key",
    "create_check_constraint",
    "create_primary_key",
    "drop_constraint",
    "execute",
    "bulk_insert",
    "create_table_comment",
    "f",
    "get_bind",
    "inline_literal",
)
KEYWORDS = (
    "*",
    "**",
    "nullable",
    "server_default",
    "existing_type",
    "type_",
    "new_column_name",
    "schema",
    "unique",
    "postgresql_concurrently",
    "if_exists",
    "if_not_exists",
    "postgresql_using",
    "ondelete",
    "primary_key",
    "existing_nullable",
)
GUARDS = (
    "guards.table_missing({0})",
    "guards.column_missing({0}, {0})",
    "not guards.table_exists({0})",
    "guards.index_exists({0})",
    "sa.inspect(op.get_bind()).has_table({0})",
    "{0} not in sa.inspect(conn).get_table_names()",
    "context.is_offline_mode()",
    "op.get_context().dialect.name == 'postgresql'",
    "{0}",
)
GARBAGE = (
    "))",
    "(",
    "def",
    "op.",
    "@@",
    "\t",
    "lambda:",
    "'''",
    '"',
    "\\",
    "é",
    "\x00",
    "if",
    ":",
    "yield",
    "await x",
    "return 1",
    "\\d",
    "#",
    "# safemigrate: ignore[",
    "# safemigrate: ignore-file[drop-table]",
    "revision = 'a1'",
    "\r",
)

#: Valid statements a migration rarely holds (garbage tokens come in as file damage).
ODDITIES = (
    "return 1",
    "yield",
    "x: int = 1",
    "del t",
    "global t",
    "assert t, 'no table'",
    "raise NotImplementedError",
    "import os",
    "print(t)",
    "op = None",
    "t += 'x'",
    "(t for t in x)",
)

FIXTURES = Path(__file__).parent / "fixtures"
HEADER_NAMES = frozenset({"revision", "down_revision", "branch_labels", "depends_on"})


def _fixture_pieces() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Statements of the rule fixtures: function bodies, and module-level helpers."""
    inside: list[str] = []
    module: list[str] = []
    for path in sorted(FIXTURES.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        try:
            tree = ast.parse(text)
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, ast.FunctionDef):
                inside += [ast.get_source_segment(text, n) or "pass" for n in node.body]
            elif not isinstance(node, ast.Import | ast.ImportFrom | ast.Expr) and not (
                isinstance(node, ast.Assign | ast.AnnAssign)
                and {getattr(t, "id", None) for t in ast.walk(node)} & HEADER_NAMES
            ):
                module.append(ast.get_source_segment(text, node) or "pass")
    return tuple(dict.fromkeys(inside)), tuple(dict.fromkeys(module))


FIXTURE_STATEMENTS, FIXTURE_MODULE = _fixture_pieces()

literal = st.one_of(
    st.sampled_from(NAMES).map(repr),
    st.sampled_from(SQL).map(repr),
    st.integers(-3, 300).map(str),
    st.sampled_from(("None", "True", "False", "...", "''", "b'x'", "1.5")),
    st.sampled_from(("t", "table", "bind", "conn", "name", "batch_op", "op", "sa")),
    st.sampled_from(TYPES),
    st.text(max_size=8).map(repr),
)


def _call(func: str, args: Sequence[str], kwargs: Sequence[tuple[str, str]]) -> str:
    """``func(args, k=v)``; a keyword named ``*``/``**`` unpacks its value instead."""
    keywords = [f"{k}{v}" if k.startswith("*") else f"{k}={v}" for k, v in kwargs]
    return f"{func}({', '.join([*args, *keywords])})"


def _extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    kwargs = st.lists(st.tuples(st.sampled_from(KEYWORDS), inner), max_size=3)
    return st.one_of(
        st.builds(_call, st.just("sa.Column"), st.lists(inner, max_size=3), kwargs),
        st.builds(
            _call,
            st.sampled_from(("sa.text", "text", "op.f", "str", "len")),
            st.lists(inner, max_size=2),
            kwargs,
        ),
        st.lists(inner, max_size=3).map(lambda xs: f"[{', '.join(xs)}]"),
        st.lists(inner, min_size=1, max_size=3).map(lambda xs: f"({', '.join(xs)},)"),
        st.tuples(inner, inner).map(lambda p: f"{{{p[0]}: {p[1]}}}"),
        st.tuples(st.sampled_from(SQL), st.sampled_from(("t", "name", "x.c", "len(t)"))).map(
            lambda p: f"f{p[0] + ' {' + p[1] + '}'!r}"
        ),
        st.tuples(inner, st.sampled_from(("+", "%", "*", " and ", " or ", " == ")), inner).map(
            lambda p: f"{p[0]} {p[1]} {p[2]}"
        ),
        st.tuples(st.sampled_from(SQL), inner).map(lambda p: f"{p[0]!r}.format({p[1]})"),
        inner.map(lambda x: f"({x}).c"),
        inner.map(lambda x: f"{x}[0]"),
        inner.map(lambda x: f"lambda: {x}"),
    )


expression = st.recursive(literal, _extend, max_leaves=8)

#: Long operator chains: each link nests the tree one level deeper.
chain = st.tuples(
    st.sampled_from((" + ", " % ", " and ", ".c", "[0]", " if x else ")),
    st.sampled_from((2, 30, 400, 1100)),  # the parser itself gives up at a few thousand
).map(
    lambda p: p[0].join(["'x'"] * p[1]) if p[0].strip() not in {".c", "[0]"} else "t" + p[0] * p[1]
)

# --------------------------------------------------------------------------- statements


@dataclass(frozen=True)
class Block:
    """A compound statement: ``header:`` then the children, indented."""

    header: str
    body: tuple[Block | str, ...]
    orelse: tuple[Block | str, ...] = ()


def render(statements: Sequence[Block | str], indent: int) -> list[str]:
    pad = "    " * indent
    lines: list[str] = []
    for statement in statements or ("pass",):
        if isinstance(statement, str):
            lines += [pad + line for line in statement.splitlines() or [""]]
            continue
        lines.append(f"{pad}{statement.header}:")
        lines.extend(render(statement.body, indent + 1))
        if statement.orelse:
            lines.append(
                f"{pad}else:"
                if not statement.header.startswith("try")
                else f"{pad}except Exception:"
            )
            lines.extend(render(statement.orelse, indent + 1))
    return lines


simple = st.one_of(
    st.builds(
        lambda name, args, kwargs: "op." + _call(name, args, kwargs),
        st.sampled_from(OPS),
        st.lists(expression, max_size=4),
        st.lists(st.tuples(st.sampled_from(KEYWORDS), expression), max_size=3),
    ),
    st.builds(
        lambda name, args, kwargs: "batch_op." + _call(name, args, kwargs),
        st.sampled_from(OPS),
        st.lists(expression, max_size=3),
        st.lists(st.tuples(st.sampled_from(KEYWORDS), expression), max_size=2),
    ),
    st.builds(
        lambda target, sql: f"{target}.execute({sql})",
        st.sampled_from(("op", "conn", "bind", "op.get_bind()", "batch_op", "session")),
        st.one_of(
            st.sampled_from(SQL).map(repr),
            st.sampled_from(SQL).map(lambda s: f"sa.text({s!r})"),
            st.sampled_from(SQL).map(lambda s: f"f{s + ' {t}'!r}"),
            st.sampled_from(SQL).map(lambda s: f"{s!r} + t"),
            st.sampled_from(SQL).map(lambda s: f"{s!r} % t"),
            expression,
            chain,
        ),
    ),
    chain.map(lambda c: f"op.execute({c} + t)"),
    st.sampled_from(
        ("conn = op.get_bind()", "bind = op.get_bind()", "t = 'users'", "pass", "return")
    ),
    st.builds(
        lambda name, value: f"{name} = {value}", st.sampled_from(("t", "x", "name")), expression
    ),
    st.sampled_from(ODDITIES),
    st.sampled_from(FIXTURE_STATEMENTS),
    st.sampled_from(FIXTURE_STATEMENTS),
    st.sampled_from(("drop-column", "drop-table", "SM1", "*", "", "nope")).map(
        lambda rule: f"op.drop_column('users', 'email')  # safemigrate: ignore[{rule}] -- fuzz"
    ),
)


def _blocks(
    inner: st.SearchStrategy[tuple[Block | str, ...]],
) -> st.SearchStrategy[tuple[Block | str, ...]]:
    table = st.sampled_from(NAMES).map(repr)
    header = st.one_of(
        st.builds(lambda g, t: "if " + g.format(t), st.sampled_from(GUARDS), table),
        table.map(lambda t: f"with op.batch_alter_table({t}, schema=None) as batch_op"),
        st.just("with op.get_context().autocommit_block()"),
        st.just("for t in ['users', 'orders']"),
        st.just("try"),
        st.just("def helper()"),
        st.just("while False"),
        st.just("class Legacy"),
    )
    return st.builds(
        lambda h, body, orelse: (Block(h, body, orelse if h.startswith(("if", "try")) else ()),),
        header,
        inner,
        inner,
    ) | st.tuples(inner, inner).map(lambda p: p[0] + p[1])


body = st.recursive(simple.map(lambda s: (s,)), _blocks, max_leaves=10)

# --------------------------------------------------------------------------- whole files

revision_value = st.one_of(
    st.sampled_from(REVISIONS).map(repr),
    st.sampled_from(("None", "42", "''", "f'a1'", "('a1',)", "'a1' + 'b'")),
)
down_value = st.one_of(
    st.sampled_from(REVISIONS).map(repr),
    st.just("None"),
    st.just("'zz9'"),
    st.lists(st.sampled_from(REVISIONS), min_size=2, max_size=3).map(lambda xs: repr(tuple(xs))),
    st.sampled_from(("[]", "42", "()", "{'a1'}")),
)


@st.composite
def source(draw: st.DrawFn) -> str:
    lines = []
    if draw(st.booleans()):
        message = draw(st.sampled_from(("add email", "", "wip", "drop users table", "é")))
        lines.append(f'"""{message}\n\nRevision ID: x\n"""')
    lines += ["from alembic import op", "import sqlalchemy as sa"]
    if draw(st.booleans()):
        lines.append("from flask_safemigrate import guards")
    lines += draw(st.lists(st.sampled_from(FIXTURE_MODULE), max_size=2))
    if draw(st.integers(0, 9)):  # now and then no revision at all
        lines.append(f"revision = {draw(revision_value)}")
    if draw(st.integers(0, 9)):
        lines.append(f"down_revision = {draw(down_value)}")
    if draw(st.booleans()):
        lines.append(f"branch_labels = {draw(st.sampled_from(('None', repr(('feature',)), '1')))}")
        lines.append(
            f"depends_on = {draw(st.sampled_from(('None', repr('c3'), repr(('a1', 'zz9')))))}"
        )
    for function in draw(
        st.sampled_from((("upgrade", "downgrade"), ("upgrade",), ("downgrade",), ()))
    ):
        lines.append(f"\n\ndef {function}():")
        statements = draw(body)
        if function == "upgrade" and draw(st.integers(0, 3)) == 0:  # SQL built from pieces
            terms = draw(st.sampled_from((2, 30, 400, 1100)))
            sql = " + ".join(["'x'"] * terms)
            statements += (f"op.execute({sql} + t)",)
        lines += render(statements, 1)
    return "\n".join(lines) + "\n"


@st.composite
def script_bytes(draw: st.DrawFn) -> bytes:
    """One file's bytes: a generated script, sometimes damaged."""
    text = draw(source())
    damage = draw(
        st.sampled_from(
            (
                "none",
                "none",
                "none",
                "truncate",
                "garbage",
                "latin-1",
                "bom",
                "crlf",
                "bytes",
                "empty",
            )
        )
    )
    if damage == "truncate":
        return text.encode()[: draw(st.integers(0, max(0, len(text.encode()) - 1)))]
    if damage == "garbage":
        cut = draw(st.integers(0, len(text)))
        return (text[:cut] + draw(st.sampled_from(GARBAGE)) + text[cut:]).encode()
    if damage == "latin-1":
        coding = draw(st.sampled_from(("", "# -*- coding: latin-1 -*-\n")))
        return (coding + text.replace("pass", "'é'  # é")).encode("latin-1", errors="replace")
    if damage == "bom":
        return b"\xef\xbb\xbf" + text.encode()
    if damage == "crlf":
        return text.replace("\n", "\r\n").encode()
    if damage == "bytes":
        return draw(st.binary(max_size=200))
    if damage == "empty":
        return draw(st.sampled_from((b"", b"\n\n", b"   ")))
    return text.encode()


scripts = st.lists(script_bytes(), min_size=1, max_size=6)

lint_configs = st.builds(
    LintConfig,
    dialect=st.sampled_from(("auto", "postgresql", "mysql", "sqlite")),
    report_unused_ignores=st.booleans(),
    plural_tables=st.booleans(),
    schema=st.sampled_from((None, "tenant")),
)

# --------------------------------------------------------------------------- helpers


def file_name(index: int) -> str:
    return f"{index:03d}_fuzz.py"


def write(
    directory: Path, files: Sequence[bytes], names: Sequence[str], order: Sequence[int]
) -> None:
    """Create file ``i`` as ``names[i]`` with ``files[i]``, in the order ``order`` gives."""
    directory.mkdir(parents=True, exist_ok=True)
    for i in order:
        (directory / names[i]).write_bytes(files[i])


def parses(data: bytes) -> bool:
    """Whether ``ast`` accepts the script: UTF-8 Python, or Python in the encoding its coding
    comment declares (PEP 263), which is what Alembic can import and the linter reads."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ast.parse(data)
    except (SyntaxError, ValueError, UnicodeDecodeError, RecursionError, MemoryError):
        return False
    return True


def lint_directory(directory: Path, config: LintConfig) -> Report:
    return engine.lint([directory], config)


def normalized(report: Report, directory: Path, ids: dict[str, int]) -> Counter[tuple[object, ...]]:
    """Findings as a multiset, each path (and file name in a message) replaced by its file's id.

    Graph findings (5xx) are about the history, not one line of one file: which script of a
    duplicated pair or of a cycle carries the finding, and the order of the revisions its
    message lists, follow file order as Alembic's own loading does, so they are compared by
    code and the set of revision ids they name. When a revision id is defined twice, the copy
    that sorts first is the one the graph keeps (Alembic also keeps one), and the heads,
    parents and cycles follow from that copy: then only the script findings are compared.
    """
    duplicated = any(f.code == "SM502" for f in report.findings)
    prefix = f"{directory}/"
    pattern = re.compile(
        "|".join(re.escape(prefix + name) for name in sorted(ids, key=len, reverse=True))
    )
    found: Counter[tuple[object, ...]] = Counter()
    for f in report.findings:
        if f.code in GRAPH_CODES:
            if duplicated:
                continue
            named = frozenset(re.findall(rf"\b(?:{'|'.join(REVISIONS)}|zz9)\b", f.message))
            found[(f.code, named)] += 1
            continue
        path = f.path or ""
        file_id = ids.get(path.removeprefix(prefix), path)
        message = pattern.sub(lambda m: f"<file {ids[m.group(0).removeprefix(prefix)]}>", f.message)
        found[(f.code, f.rule, str(f.severity), file_id, f.line, f.col, message, f.help)] += 1
    return found


def exact(report: Report, directory: Path) -> list[tuple[object, ...]]:
    prefix = f"{directory}/"

    def strip(text: str | None) -> str | None:
        return None if text is None else text.replace(prefix, "")

    return sorted(
        (f.code, f.rule, str(f.severity), strip(f.path), f.line, f.col, strip(f.message), f.help)
        for f in report.findings
    )


def _one(findings: Sequence[Finding], name: str, code: str) -> bool:
    return any(f.code == code and (f.path or "").endswith(f"/{name}") for f in findings)


# --------------------------------------------------------------------------- properties


@FUZZ
@given(files=scripts, config=lint_configs)
def test_lint_never_raises_and_reports_every_unreadable_script(
    files: list[bytes], config: LintConfig
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        versions = Path(tmp) / "versions"
        names = [file_name(i) for i in range(len(files))]
        write(versions, files, names, range(len(files)))
        report = lint_directory(versions, config)
    assert report.facts["files"] == len(files)
    for name, data in zip(names, files, strict=True):
        if not parses(data):
            assert _one(report.findings, name, UNPARSEABLE), (name, data[:300], report.findings)
    for finding in report.findings:
        assert finding.code and finding.rule and finding.message
        assert finding.line is None or finding.line >= 1


@FUZZ
@given(files=scripts, output=st.sampled_from(("text", "json", "github", "sarif")))
def test_safemigrate_lint_cli_exits_0_or_1_on_any_script(files: list[bytes], output: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        versions = Path(tmp) / "versions"
        write(versions, files, [file_name(i) for i in range(len(files))], range(len(files)))
        result = CliRunner().invoke(main, ["lint", str(versions), "--format", output])
    assert result.exit_code in (0, 1), (result.exit_code, result.output, result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    if output == "json":
        data = json.loads(result.stdout)
        assert data["summary"]["files"] == len(files)
        assert (result.exit_code == 1) == (data["summary"]["errors"] > 0)
    elif output == "sarif":
        assert json.loads(result.stdout)["version"] == "2.1.0"


@FUZZ
@given(
    files=scripts,
    creation=st.randoms(use_true_random=False),
    renaming=st.randoms(use_true_random=False),
)
def test_findings_do_not_depend_on_file_order(
    files: list[bytes], creation: object, renaming: object
) -> None:
    import random

    assert isinstance(creation, random.Random) and isinstance(renaming, random.Random)
    count = len(files)
    names = [file_name(i) for i in range(count)]
    shuffled = list(range(count))
    creation.shuffle(shuffled)
    renamed = list(names)
    renaming.shuffle(renamed)
    config = LintConfig()
    with tempfile.TemporaryDirectory() as tmp:
        first, second, third = (Path(tmp) / n / "versions" for n in ("first", "second", "third"))
        write(first, files, names, range(count))
        write(second, files, names, shuffled)  # same names, created in another order
        write(third, files, renamed, range(count))  # the files sort in another order
        reports = [lint_directory(d, config) for d in (first, second, third)]
    assert exact(reports[0], first) == exact(reports[1], second)
    ids_first = {name: i for i, name in enumerate(names)}
    ids_third = {name: i for i, name in enumerate(renamed)}
    assert normalized(reports[0], first, ids_first) == normalized(reports[2], third, ids_third)


# --------------------------------------------------------------------------- found by fuzzing


def test_a_long_string_concatenation_in_execute_is_linted(tmp_path: Path) -> None:
    """``'a' + 'b' + ...`` nests one level per ``+``: a recursive walk over it (the SQL
    formatting check) exceeded Python's recursion limit at about 1,000 terms."""
    chain = " + ".join(["'x'"] * 1500)
    path = tmp_path / "a1_long.py"
    path.write_text(
        "from alembic import op\nrevision = 'a1'\ndown_revision = None\n\n\n"
        f"def upgrade():\n    op.execute({chain} + t)\n\n\ndef downgrade():\n    pass\n"
    )
    report = engine.lint([path], LintConfig())
    assert report.facts["files"] == 1
    assert any(f.rule == "formatted-sql" for f in report.findings), report.findings


def test_a_script_too_deep_for_the_parser_is_an_unparseable_finding(tmp_path: Path) -> None:
    """A script ``ast.parse`` gives up on (RecursionError) is a finding, not a crash."""
    chain = " + ".join(["'x'"] * 20_000)
    path = tmp_path / "a1_deep.py"
    path.write_text(f"revision = 'a1'\ndown_revision = None\n\n\ndef upgrade():\n    x = {chain}\n")
    report = engine.lint([path], LintConfig())
    assert [f.code for f in report.findings if f.code == UNPARSEABLE] == [UNPARSEABLE]


def test_a_script_in_a_declared_encoding_is_linted(tmp_path: Path) -> None:
    """PEP 263: a latin-1 script with its coding comment is valid Python, so lint reads it."""
    path = tmp_path / "a1_latin1.py"
    source = (
        "# -*- coding: latin-1 -*-\n"
        '"""café menu"""\n'
        "from alembic import op\n\n"
        "revision = 'a1'\ndown_revision = None\n\n\n"
        "def upgrade():\n    op.drop_column('menus', 'café')\n\n\n"
        "def downgrade():\n    pass\n"
    )
    path.write_bytes(source.encode("latin-1"))
    report = engine.lint([path], LintConfig())
    codes = {f.code for f in report.findings}
    assert UNPARSEABLE not in codes
    assert any(f.rule == "drop-column" and "café" in f.message for f in report.findings)
