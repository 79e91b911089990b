"""The lint engine: parse each script once, run the selected rules, apply suppressions.

Scripts are read with ``ast`` only, never imported: a migration that imports the app, needs a
database, or raises at import time is linted all the same, and linting is safe in pre-commit.
"""

from __future__ import annotations

import ast
import fnmatch
import io
import os
import re
import tokenize
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask_safemigrate import history
from flask_safemigrate.errors import ConfigError
from flask_safemigrate.lint import registry, workers
from flask_safemigrate.lint.calls import Call
from flask_safemigrate.lint.index import build_index
from flask_safemigrate.lint.model import (
    ALL_DIALECTS,
    LintConfig,
    Migration,
    Rule,
    Violation,
    rule_docs,
    sqlalchemy_version,
)
from flask_safemigrate.lint.rules.correctness.unparseable_script import UnparseableScript
from flask_safemigrate.report import Finding, Report, Severity
from flask_safemigrate.text import display_path

# The names rules and callers used to import from here; they live in :mod:`model` now.
__all__ = [
    "ALL_DIALECTS",
    "UNUSED_IGNORE_CODE",
    "FileResult",
    "LintConfig",
    "Migration",
    "Rule",
    "Violation",
    "collect_files",
    "config_from",
    "lint",
    "lint_files",
    "parse",
    "rule_docs",
    "select_rules",
]


@dataclass(frozen=True)
class _Suppression:
    line: int
    rules: frozenset[str]  # names or codes; empty = all
    file_level: bool


_SUPPRESS = re.compile(
    r"#\s*safemigrate:\s*(?P<kind>ignore-file|ignore)(?:\[(?P<rules>[^\]]*)\])?"
    r"(?:\s*--\s*(?P<reason>.*))?",
)


def _suppressions(source: str) -> list[_Suppression]:
    out: list[_Suppression] = []
    if "safemigrate:" not in source:
        return out  # no comment can match: skip tokenizing (most scripts)
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, SyntaxError):
        return out
    for token in tokens:
        if token.type != tokenize.COMMENT:
            continue
        match = _SUPPRESS.search(token.string)
        if match is None:
            continue
        rules = frozenset(r.strip() for r in (match.group("rules") or "").split(",") if r.strip())
        out.append(_Suppression(token.start[0], rules, match.group("kind") == "ignore-file"))
    return out


def rule_matches(rule: type[Rule], selector: str) -> bool:
    """A selector is a rule name, a code, or a code prefix such as ``SM1``."""
    return selector == rule.name or rule.code.startswith(selector.upper())


def validate_selectors(selectors: Iterable[str], rules: Sequence[type[Rule]]) -> None:
    for selector in selectors:
        if selector.upper() != "ALL" and not any(rule_matches(r, selector) for r in rules):
            raise ConfigError(
                f"unknown lint rule {selector!r}",
                hint="use a rule name such as drop-column or a code such as SM102;"
                " `flask db lint --explain RULE` describes one",
            )


def select_rules(config: LintConfig, rules: Sequence[type[Rule]]) -> list[type[Rule]]:
    """The rules to run: ``select`` (or the defaults) minus ``ignore``."""
    validate_selectors((*(config.select or ()), *config.ignore, *config.severity), rules)
    chosen = []
    for rule in rules:
        if config.select is None:
            selected = rule.default_enabled
        else:
            selected = any(s.upper() == "ALL" or rule_matches(rule, s) for s in config.select)
        ignored = any(rule_matches(rule, s) for s in config.ignore)
        if selected and not ignored and rule.dialects & config.dialects:
            chosen.append(rule)
    return chosen


def _severity(rule: type[Rule], config: LintConfig) -> Severity:
    for selector, severity in config.severity.items():
        if rule_matches(rule, selector):
            return severity
    return rule.severity


@dataclass(frozen=True)
class _Read:
    """A script read and parsed, before the index that only script rules need."""

    source: str
    tree: ast.Module
    info: history.Script | None


def parse(path: Path, config: LintConfig) -> Migration | Violation:
    """Read and parse one script; a file that cannot be read or parsed becomes a violation.

    Only a regular file is opened: a FIFO would block the read forever, a symlink loop or a
    directory named ``*.py`` is reported with what it is.
    """
    read = _read(path)
    return read if isinstance(read, Violation) else _migration(path, read, config)


def _migration(path: Path, read: _Read, config: LintConfig) -> Migration:
    index = build_index(read.tree)
    return Migration(
        path=path,
        source=read.source,
        tree=read.tree,
        calls=index.calls,
        info=read.info,
        config=config,
        _index=index,
    )


def _read(path: Path) -> _Read | Violation:
    """:func:`parse` without the index: what the history rules and suppressions need."""
    reason = history.unreadable_reason(path)
    if reason is not None:
        return Violation(
            f"cannot read the script: {reason}",
            line=1,
            col=1,
            help="remove it from the versions directory, or replace it with the real script",
        )
    try:
        data = path.read_bytes()
    except OSError as exc:
        return Violation(f"cannot read the script: {exc.strerror or exc}", line=1, col=1)
    try:
        tree = history.parse_source(data, path)
        source = _decode(data)
    except SyntaxError as exc:
        return Violation(
            f"the script does not parse: {exc.msg}",
            line=exc.lineno or 1,
            col=exc.offset or 1,
            help="fix the syntax error; Alembic cannot load this revision either",
        )
    except (UnicodeDecodeError, ValueError) as exc:
        return Violation(
            f"the script is not valid UTF-8 text: {exc}",
            line=1,
            col=1,
            help="save the file as UTF-8 (or declare its encoding in a coding comment)",
        )
    except (RecursionError, MemoryError):
        return Violation(
            "the script is too deeply nested for Python's parser",
            line=1,
            col=1,
            help="split the long expression; Alembic cannot load this revision either",
        )
    info = history.read_script(path, data=data, tree=tree)
    return _Read(source, tree, info if isinstance(info, history.Script) else None)


def _decode(data: bytes) -> str:
    """The script's text in the encoding Python reads it in: the one its coding comment
    declares (PEP 263), else UTF-8. Only the first two lines may declare one."""
    head = data[:1024]
    if b"coding" in head:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
        return data.decode(encoding)
    return data.decode("utf-8")


def _finding(
    rule: type[Rule],
    severity: Severity,
    v: Violation,
    path: Path,
    display: Callable[[Path], str] = display_path,
    *,
    message: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Finding:
    line = v.line if v.line is not None else getattr(v.node, "lineno", None)
    if v.at_most is not None and severity.rank > v.at_most.rank:
        severity = v.at_most
    col = v.col
    if col is None and v.node is not None and hasattr(v.node, "col_offset"):
        col = v.node.col_offset + 1
    return Finding(
        rule=rule.name,
        severity=severity,
        message=message if message is not None else v.message,
        code=rule.code,
        path=display(v.path or path),
        line=line,
        col=col,
        help=v.help or rule.fix or None,
        extra=extra or {},
    )


DOWNGRADE = "downgrade"


def _script_finding(
    planned: _Planned,
    v: Violation,
    parsed: Migration,
    path: Path,
    config: LintConfig,
    display: Callable[[Path], str],
) -> Finding | None:
    """The finding for a script rule's violation, read as the database runs the code: none
    when no configured dialect reaches it, at most a warning when it is about some dialects
    and the dialect is unknown, and marked when it is in ``downgrade()``."""
    line = v.line if v.line is not None else getattr(v.node, "lineno", None)
    if v.path is not None or line is None:
        return _finding(planned.rule, planned.severity, v, path, display)
    index = parsed.index
    about = planned.rule.dialects if v.dialects is None else v.dialects
    call = index.call_of(v.node) if v.node is not None else None
    direction: str | None
    if call is not None:
        about = about & call.dialects
        direction = call.direction
    else:
        if index.dialect_ranges:
            about = about & index.dialects_at(line)
        direction = index.direction_at(line)
    reached = about & config.dialects
    if not reached:
        return None  # only code that the configured dialects never run
    severity = planned.severity
    extra: dict[str, Any] = {}
    if not config.dialect_known and reached != ALL_DIALECTS and severity is Severity.ERROR:
        severity = Severity.WARNING  # a judgement about a database the project may not use
        extra[CAPPED] = sorted(reached)
    message = None
    if direction == DOWNGRADE:
        code = planned.rule.code
        if (
            code.startswith(RESTORE_FAMILIES)
            and code not in ALWAYS_FAILS
            and restores(parsed, line)
        ):
            return None  # what downgrade() must do to bring back what upgrade() changed
        extra["direction"] = DOWNGRADE
        if severity is Severity.ERROR:
            # A recovery path, never run by an upgrade: worth reading, not failing a build.
            severity = Severity.WARNING
        if "downgrade(" not in v.message:  # SM301 names the function itself
            message = f"in downgrade(): {v.message}"
    return _finding(planned.rule, severity, v, path, display, message=message, extra=extra)


#: Rule families (destructive, locking) that do not judge a downgrade step which undoes an
#: upgrade step: putting back the index, column, constraint or type that upgrade() changed is
#: what the downgrade is for, and it has no safer form.
RESTORE_FAMILIES = ("SM1", "SM2")
#: ...except where the step cannot run at all (CONCURRENTLY inside a transaction block).
ALWAYS_FAILS = frozenset({"SM205"})
_CONSTRAINTS = frozenset(
    {
        "create_foreign_key",
        "create_unique_constraint",
        "create_check_constraint",
        "create_primary_key",
        "drop_constraint",
    }
)


def _object(call: Call) -> tuple[str | None, ...] | None:
    """What a schema operation acts on, the same for an operation and its inverse."""
    name = call.name
    if name in {"create_index", "drop_index"}:
        return ("named", call.string("index_name"))  # an index may restore a constraint
    if name in {"add_column", "drop_column", "alter_column"}:
        return ("column", call.table, call.column)
    if name in {"create_table", "drop_table"}:
        return ("table", call.table)
    if name in _CONSTRAINTS:
        constraint = call.string("constraint_name")
        return None if constraint is None else ("named", constraint)
    return None


def restores(migration: Migration, line: int) -> bool:
    """Whether the downgrade operation at ``line`` undoes an operation of ``upgrade()`` on
    the same index, column, table or named constraint."""

    def build() -> frozenset[tuple[str | None, ...]]:
        return frozenset(
            key for call in migration.upgrade_calls if (key := _object(call)) is not None
        )

    changed = migration.shared("upgrade-objects", build)
    for call in migration.downgrade_calls:
        if call.line == line or call.stmt_line == line:
            key = _object(call)
            if key is not None and key in changed:
                return True
    return False


#: The ``extra`` key of a finding held at a warning because the lint dialect is unknown: the
#: dialects it is about.
CAPPED = "only-on"


def _statement_lines(tree: ast.Module | None) -> dict[int, int]:
    """Map each line to the first line of the innermost statement covering it."""
    lines: dict[int, int] = {}
    if tree is None:
        return lines
    for node in ast.walk(tree):
        if isinstance(node, ast.stmt) and not isinstance(
            node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.With | ast.If
        ):
            for line in range(node.lineno, (node.end_lineno or node.lineno) + 1):
                if line not in lines or lines[line] < node.lineno:
                    lines[line] = node.lineno
    return lines


UNUSED_IGNORE_CODE = "SM900"


@dataclass(frozen=True)
class _Planned:
    """A script rule ready to run: made once per run, not once per file."""

    rule: type[Rule]
    instance: Rule
    severity: Severity
    requires: tuple[frozenset[str], ...]


class _Plan:
    """The script rules of a run, and which of them can fire on a script with given facts.

    Scripts of one history share their facts often (autogenerate writes the same calls), so
    the choice is made once per distinct fact set rather than once per script.
    """

    #: Fact sets remembered; a history of unusual scripts must not grow the memo unbounded.
    MEMO = 4096

    def __init__(self, rules: Sequence[type[Rule]], config: LintConfig) -> None:
        self.planned = [
            _Planned(rule, rule(), _severity(rule, config), rule.requires)
            for rule in rules
            if rule.check is not Rule.check  # history rules, and unparseable-script (the engine's)
        ]
        self._memo: dict[frozenset[str], list[_Planned]] = {}

    def runnable(self, facts: frozenset[str]) -> list[_Planned]:
        """The rules whose every ``requires`` set meets ``facts``: the others cannot report."""
        found = self._memo.get(facts)
        if found is None:
            found = [
                planned
                for planned in self.planned
                if all(not required.isdisjoint(facts) for required in planned.requires)
            ]
            if len(self._memo) < self.MEMO:
                self._memo[facts] = found
        return found


def _plan(rules: Sequence[type[Rule]], config: LintConfig) -> _Plan:
    return _Plan(rules, config)


class _Display:
    """How findings name paths: relative to the working directory, read once per run."""

    def __init__(self) -> None:
        self.cwd = Path.cwd()
        self.shown: dict[Path, str] = {}
        self.resolved: set[Path] = set()  # paths known to be resolved already
        self._last: Path | None = None
        self._last_shown = ""
        # Below the working directory, a resolved POSIX path is the text after this prefix
        # (what relative_to answers, without taking both paths apart).
        cwd = str(self.cwd)
        self.prefix = (cwd if cwd.endswith(os.sep) else cwd + os.sep) if os.name == "posix" else ""

    def __call__(self, path: Path) -> str:
        if path is self._last:  # a script's findings come together: skip hashing the path
            return self._last_shown
        shown = self.shown.get(path)
        if shown is None:
            text = str(path)
            if self.prefix and path in self.resolved and text.startswith(self.prefix):
                shown = text[len(self.prefix) :]
            elif self.prefix and path in self.resolved and text != self.prefix[:-1]:
                # Outside the working directory (a history under /tmp, an absolute path from
                # pre-commit): relative_to would only raise ValueError, at a cost per script.
                shown = text
            else:
                try:
                    real = path if path in self.resolved else path.resolve()
                    shown = str(real.relative_to(self.cwd))
                except (ValueError, OSError, RuntimeError):  # RuntimeError: a symlink loop
                    shown = str(path)
            self.shown[path] = shown
        self._last, self._last_shown = path, shown
        return shown


def _lint_parsed(
    path: Path,
    parsed: Migration | Violation,
    rules: Sequence[type[Rule]],
    plan: _Plan,
    config: LintConfig,
    display: _Display,
) -> tuple[list[Finding], list[Finding]]:
    if isinstance(parsed, Violation):
        if UnparseableScript in rules:
            severity = _severity(UnparseableScript, config)
            return [_finding(UnparseableScript, severity, parsed, path, display)], []
        return [], []
    raw: list[Finding] = []
    seen: set[tuple[str | None, int | None, int | None, str]] = set()
    for planned in plan.runnable(parsed.index.facts):
        for v in planned.instance.check(parsed):
            finding = _script_finding(planned, v, parsed, path, config, display)
            if finding is None:
                continue
            key = (finding.code, finding.line, finding.col, finding.message)
            if key not in seen:  # a helper or loop read twice says the same thing once
                seen.add(key)
                raw.append(finding)
    return _apply_suppressions(path, parsed.source, parsed.tree, raw, config)


def _apply_suppressions(
    path: Path, source: str, tree: ast.Module, raw: list[Finding], config: LintConfig
) -> tuple[list[Finding], list[Finding]]:
    suppressions = _suppressions(source)
    if not suppressions:
        return raw, []
    stmt_of = _statement_lines(tree)
    used: set[_Suppression] = set()
    kept, silenced = [], []
    for finding in raw:
        line = finding.line or 0
        hit = None
        for s in suppressions:
            on_line = s.file_level or s.line in {line, stmt_of.get(line, line)}
            if on_line and (not s.rules or finding.rule in s.rules or finding.code in s.rules):
                hit = s
                break
        if hit is None:
            kept.append(finding)
        else:
            used.add(hit)
            silenced.append(finding)
    if config.report_unused_ignores:
        kept.extend(
            Finding(
                rule="unused-ignore",
                severity=Severity.WARNING,
                message="this suppression comment silences nothing",
                code=UNUSED_IGNORE_CODE,
                path=display_path(path),
                line=s.line,
                col=1,
                help="remove the comment, or name the rule it was meant for",
            )
            for s in suppressions
            if s not in used
        )
    return kept, silenced


def collect_files(
    paths: Sequence[Path], exclude: Sequence[str] = ()
) -> tuple[list[Path], list[Path]]:
    """The scripts to lint and the version directories whose graph the history rules read.

    A migrations directory (one with ``alembic.ini`` or ``env.py``) means its version
    locations; another directory means every ``*.py`` below it; a file means itself.
    """
    files: list[Path] = []
    locations: list[Path] = []
    for path in paths:
        if path.is_dir():
            if (path / "alembic.ini").is_file() or (path / "env.py").is_file():
                found = history.version_locations(path)
            else:
                found = [path]
            for location in found:
                locations.append(location)
                if location.is_dir():
                    files.extend(
                        p
                        for p in sorted(location.rglob("*.py"))
                        if p.name != "__init__.py" and "__pycache__" not in p.parts
                    )
        elif path.exists():
            files.append(path)
            locations.append(path.parent)
        else:
            raise ConfigError(f"no such file or directory: {path}", hint="check the path")
    directories: dict[Path, tuple[Path, frozenset[str] | None]] = {}
    unique = list(dict.fromkeys(history.resolved(p, directories) for p in files))
    kept = [
        p
        for p in unique
        if not any(fnmatch.fnmatch(display_path(p), pat) or p.match(pat) for pat in exclude)
    ]
    return kept, list(dict.fromkeys(locations))


@dataclass(frozen=True)
class FileResult:
    """What linting one script gave: its graph entry and its findings (picklable)."""

    path: Path
    info: history.Script | None
    findings: list[Finding]
    silenced: int
    linted: bool  # False when ``only_revisions`` left it out: read for the graph only


def lint_files(
    files: Sequence[Path],
    script_rules: Sequence[type[Rule]],
    config: LintConfig,
    only_revisions: set[str] | None,
) -> list[FileResult]:
    """Parse and lint each script in turn, in this process.

    A script's index (one walk over its migration functions) is built only when a script
    rule can run: a history-rules-only run, and the scripts ``only_revisions`` leaves out,
    need the parse and the revision identifiers alone.
    """
    plan = _plan(script_rules, config)
    display = _Display()
    results = []
    for path in files:
        read = _read(path)
        info = None if isinstance(read, Violation) else read.info
        if only_revisions is not None and (info is None or info.revision not in only_revisions):
            results.append(FileResult(path, info, [], 0, linted=False))
            continue
        display.resolved.add(path)  # collect_files resolved it
        if isinstance(read, Violation) or plan.planned:
            parsed = read if isinstance(read, Violation) else _migration(path, read, config)
            kept, quiet = _lint_parsed(path, parsed, script_rules, plan, config, display)
        else:  # no script rule to run: only suppression comments can report
            kept, quiet = _apply_suppressions(path, read.source, read.tree, [], config)
        results.append(FileResult(path, info, kept, len(quiet), linted=True))
    return results


def lint(
    paths: Sequence[Path],
    config: LintConfig,
    *,
    only_revisions: set[str] | None = None,
    jobs: int | None = None,
) -> Report:
    """Lint scripts and their history; returns the report, never prints or exits.

    Scripts are independent until the history rules, so a long history is linted by one
    process per core (``jobs``: how many; default: as many as pay off). The findings are the
    same either way.
    """
    rules = select_rules(config, registry.all_rules())
    files, locations = collect_files(paths, config.exclude)
    graph_rules = [r for r in rules if r.check_graph is not Rule.check_graph]
    script_rules = [r for r in rules if r not in graph_rules]

    count = workers.worker_count(len(files)) if jobs is None else max(1, jobs)
    results = None
    if count > 1:
        results = workers.lint_in_workers(
            lint_files, files, script_rules, config, only_revisions, count
        )
    if results is None:
        results = lint_files(files, script_rules, config, only_revisions)

    findings: list[Finding] = []
    known: dict[Path, history.Script | history.GraphProblem] = {}
    silenced = 0
    scope: list[Path] = []  # what was judged: a baseline's entries elsewhere are not stale
    for result in results:
        if result.info is not None:
            known[result.path] = result.info
        if result.linted:
            findings.extend(result.findings)
            silenced += result.silenced
            scope.append(result.path)
    linted = len(scope)
    ran = [rule.name for rule in script_rules]
    if config.report_unused_ignores:
        ran.append("unused-ignore")
    display = _Display()
    if graph_rules and locations and only_revisions is None:
        ran.extend(rule.name for rule in graph_rules)
        scope.extend(location.resolve() for location in locations)
        graph = history.load_graph(locations, known=known)
        for rule in graph_rules:
            severity = _severity(rule, config)
            for v in rule().check_graph(graph):
                findings.append(_finding(rule, severity, v, v.path or locations[0], display))
    findings.sort(key=lambda f: (f.path or "", f.line or 0, f.col or 0, f.code or ""))
    facts: dict[str, Any] = {
        "files": linted,
        "silenced": silenced,
        "fail_on": str(config.fail_on),
        "dialect": config.dialect if config.dialect_known else "unknown",
        "scope": scope,
        "rules_run": ran,
    }
    capped = sum(1 for f in findings if CAPPED in f.extra)
    if capped:
        facts["summary_hint"] = (
            f"The database dialect is unknown, so {capped} dialect-specific"
            f" finding{'' if capped == 1 else 's'} {'is' if capped == 1 else 'are'} held at"
            ' warning: set dialect = "postgresql" (or mysql, sqlite) in'
            " [tool.safemigrate.lint] of pyproject.toml, or pass --dialect."
        )
    return Report("lint", findings, facts=facts)


def config_from(
    *sources: Mapping[str, Any],
) -> LintConfig:
    """Merge option mappings, earlier sources winning, into a :class:`LintConfig`.

    Keys use the pyproject spelling (``fail-on``, ``plural-tables``); ``None`` means unset.
    """
    merged: dict[str, Any] = {}
    for source in reversed(sources):
        merged.update({k.replace("_", "-"): v for k, v in source.items() if v is not None})
    known = {
        "select",
        "ignore",
        "severity",
        "fail-on",
        "dialect",
        "exclude",
        "plural-tables",
        "schema",
        "report-unused-ignores",
        "sqlalchemy",
        "baseline",
    }
    unknown = sorted(set(merged) - known)
    if unknown:
        raise ConfigError(
            f"unknown lint option {unknown[0]!r}",
            hint=f"known options: {', '.join(sorted(known))}",
        )
    levels = ", ".join(level.value for level in Severity)
    raw_severity = merged.get("severity", {})
    if not isinstance(raw_severity, Mapping):
        raise ConfigError(
            f"lint option severity must map rules to severities, not {raw_severity!r}",
            hint='for example severity = {"drop-column" = "warning"}',
        )
    severity = {}
    for rule, level in raw_severity.items():
        try:
            severity[str(rule)] = Severity(str(level).lower())
        except ValueError:
            raise ConfigError(
                f"lint option severity: {level!r} for {rule!r} is not a severity",
                hint=f"use one of {levels}",
            ) from None
    try:
        fail_on = Severity(str(merged.get("fail-on", "error")).lower())
    except ValueError:
        raise ConfigError(
            f"lint option fail-on: {merged.get('fail-on')!r} is not a severity",
            hint=f"use one of {levels}",
        ) from None
    dialect = str(merged.get("dialect", "auto")).lower()
    if dialect not in ALL_DIALECTS | {"auto"}:
        raise ConfigError(
            f"lint option dialect: unknown dialect {dialect!r}",
            hint="use postgresql, mysql, sqlite or auto",
        )
    sqlalchemy = merged.get("sqlalchemy")
    if sqlalchemy is not None:
        parsed = sqlalchemy_version(str(sqlalchemy))
        if parsed is None:
            raise ConfigError(
                f"lint option sqlalchemy: {sqlalchemy!r} is not a version",
                hint='give the major.minor the project runs, for example sqlalchemy = "1.4"',
            )
        sqlalchemy = f"{parsed[0]}.{parsed[1]}"
    baseline = merged.get("baseline")
    if baseline is not None and (not isinstance(baseline, str | Path) or not str(baseline)):
        raise ConfigError(
            f"lint option baseline must be a file name, not {baseline!r}",
            hint='for example baseline = "lint-baseline.json"',
        )
    return LintConfig(
        select=_names(merged.get("select")),
        ignore=_names(merged.get("ignore")) or (),
        severity=severity,
        fail_on=fail_on,
        dialect=dialect,
        exclude=_names(merged.get("exclude")) or (),
        plural_tables=bool(merged.get("plural-tables", True)),
        schema=merged.get("schema"),
        report_unused_ignores=bool(merged.get("report-unused-ignores", False)),
        sqlalchemy=sqlalchemy,
        baseline=Path(baseline) if baseline is not None else None,
    )


def _names(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ConfigError(
            f"expected a list of strings, got {value!r}",
            hint="check [tool.safemigrate.lint] in pyproject.toml",
        )
    return tuple(v.strip() for v in value if v.strip())
