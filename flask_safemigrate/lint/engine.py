"""The lint engine: parse each script once, run the selected rules, apply suppressions.

Scripts are read with ``ast`` only, never imported: a migration that imports the app, needs a
database, or raises at import time is linted all the same, and linting is safe in pre-commit.
"""

from __future__ import annotations

import contextlib
import gc
from collections import Counter
from collections.abc import Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask_safemigrate import history
from flask_safemigrate.lint import registry, workers
from flask_safemigrate.lint.config import config_from
from flask_safemigrate.lint.findings import CAPPED, Display, finding_of, script_finding
from flask_safemigrate.lint.helpers import deployed_together
from flask_safemigrate.lint.model import (
    ALL_DIALECTS,
    LintConfig,
    Migration,
    Rule,
    Violation,
    rule_docs,
)
from flask_safemigrate.lint.reading import (
    collect_files,
    migration_of,
    parse,
    read_script,
    regular_bytes,
    script_of,
)
from flask_safemigrate.lint.rules.correctness.unparseable_script import UnparseableScript
from flask_safemigrate.lint.selection import select_rules, severity_of
from flask_safemigrate.lint.suppressions import UNUSED_IGNORE_CODE, apply_suppressions
from flask_safemigrate.report import Finding, Report, Severity

if TYPE_CHECKING:  # imported when a run has a cache: hashlib, json, tempfile
    from flask_safemigrate.lint.cache import LintCache

# The names callers import from here; they live in model, reading, selection, config and
# suppressions (this module runs them: files, rules, suppressions, workers, the report).
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
            _Planned(rule, rule(), severity_of(rule, config), rule.requires)
            for rule in rules
            if rule.check is not Rule.check  # history rules, and unparseable-script (the engine's)
        ]
        self._memo: dict[frozenset[str], list[_Planned]] = {}

    def runnable(self, facts: frozenset[str]) -> list[_Planned]:
        """The rules whose every ``requires`` set meets ``facts``: the others cannot report."""
        found = self._memo.get(facts)
        if found is None:
            # Spelled out (no generator per rule): real scripts' fact sets differ, so the memo
            # rarely hits and this runs for every script and rule.
            found = []
            for planned in self.planned:
                for required in planned.requires:
                    if required.isdisjoint(facts):
                        break
                else:
                    found.append(planned)
            if len(self._memo) < self.MEMO:
                self._memo[facts] = found
        return found


def _plan(rules: Sequence[type[Rule]], config: LintConfig) -> _Plan:
    return _Plan(rules, config)


def _lint_parsed(
    path: Path,
    parsed: Migration | Violation,
    rules: Sequence[type[Rule]],
    plan: _Plan,
    config: LintConfig,
    display: Display,
) -> tuple[list[Finding], list[Finding]]:
    if isinstance(parsed, Violation):
        if UnparseableScript in rules:
            severity = severity_of(UnparseableScript, config)
            return [finding_of(UnparseableScript, severity, parsed, path, display)], []
        return [], []
    raw: list[Finding] = []
    seen: set[tuple[str | None, int | None, int | None, str]] = set()
    for planned in plan.runnable(parsed.index.facts):
        for v in planned.instance.check(parsed):
            finding = script_finding(
                planned.rule, planned.severity, v, parsed, path, config, display
            )
            if finding is None:
                continue
            key = (finding.code, finding.line, finding.col, finding.message)
            if key not in seen:  # a helper or loop read twice says the same thing once
                seen.add(key)
                raw.append(finding)
    return apply_suppressions(path, parsed.source, parsed.tree, raw, config)


#: Net allocations of container objects between two young-generation collections while
#: scripts are linted (Python's default is 700).
YOUNG_COLLECTION_THRESHOLD = 20_000


@contextlib.contextmanager
def fewer_collections() -> Iterator[None]:
    """Let the cyclic garbage collector run less often while scripts are linted (and, in
    :func:`lint`, while their files are listed and their graph and findings are built).

    Parsing and indexing a script allocate thousands of AST nodes and records that live until
    the next script and are then freed by reference counting; at the default threshold the
    collector traverses them several times on the way (measured: 7% of a corpus run's CPU,
    ~0.1% at 20,000). Scripts make almost no reference cycles, so little waits for a
    collection. The previous thresholds come back afterwards; a process that switched
    automatic collection off (threshold 0) keeps it off.
    """
    old = gc.get_threshold()
    if old[0] == 0 or old[0] >= YOUNG_COLLECTION_THRESHOLD:
        yield
        return
    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, *old[1:])
    try:
        yield
    finally:
        gc.set_threshold(*old)


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
    data: Mapping[Path, bytes] | None = None,
    new_tables: Mapping[Path, frozenset[str]] | None = None,
) -> list[FileResult]:
    """Parse and lint each script in turn, in this process.

    A script's index (one walk over its migration functions) is built only when a script
    rule can run: a history-rules-only run, and the scripts ``only_revisions`` leaves out,
    need the parse and the revision identifiers alone. ``data``: bytes already read from
    regular files (by the results cache, to key them), linted without reading them again.
    ``new_tables``: the tables each script's ``upgrade()`` finds new
    (:mod:`.helpers.deployed_together`).
    """
    plan = _plan(script_rules, config)
    display = Display()
    results: list[FileResult] = []
    with fewer_collections():
        for path in files:
            known = data.get(path) if data else None
            read = read_script(path) if known is None else script_of(path, known)
            info = None if isinstance(read, Violation) else read.info
            if _left_out(only_revisions, info.revision if info is not None else None):
                results.append(FileResult(path, info, [], 0, linted=False))
                continue
            display.resolved.add(path)  # collect_files resolved it
            if isinstance(read, Violation) or plan.planned:
                parsed = read if isinstance(read, Violation) else migration_of(path, read, config)
                if new_tables is not None and path in new_tables and isinstance(parsed, Migration):
                    deployed_together.mark_new(parsed, new_tables[path])
                kept, quiet = _lint_parsed(path, parsed, script_rules, plan, config, display)
            else:  # no script rule to run: only suppression comments can report
                kept, quiet = apply_suppressions(path, read.source, read.tree, [], config)
            results.append(FileResult(path, info, kept, len(quiet), linted=True))
    return results


def _left_out(only_revisions: set[str] | None, revision: str | None) -> bool:
    """Whether ``only_revisions`` (``--since``, ``--pending``) leaves a script out. A script
    whose revision cannot be read (it does not parse, or names none) is never left out: it
    is not known to be applied or old, and it breaks the next upgrade, so a gate on "the new
    scripts" must report it rather than check nothing and pass."""
    return only_revisions is not None and revision is not None and revision not in only_revisions


def lint(
    paths: Sequence[Path],
    config: LintConfig,
    *,
    only_revisions: set[str] | None = None,
    jobs: int | None = None,
    cache_dir: Path | None = None,
    deployed_together: bool = True,
    releases: Mapping[str | Path, Hashable] | None = None,
) -> Report:
    """Lint scripts and their history; returns the report, never prints or exits.

    Scripts are independent until the history rules, so a long history is linted by one
    process per core (``jobs``: how many; default: as many as pay off). The findings are the
    same either way.

    ``cache_dir``: each unchanged script's result (its findings, and what the history rules
    read of it) is read from, and new ones written to, the cache file there (:mod:`.cache`);
    the history rules run on every run. The report is the same as without it.

    ``deployed_together``: ``only_revisions`` (``--since``, ``--pending``) deploy together,
    so a table one of them creates is new for those that descend from it
    (:mod:`.helpers.deployed_together`). Safe-upgrade's pre-flight passes ``False``: it
    judges the tables its plan creates itself, with the live database and the reason.

    ``releases``: each script's release, keyed by its revision id or its resolved path (any
    hashable label; :func:`~flask_safemigrate.lint.release_tags.git_tag_releases` reads them
    from git tags). Revisions of one release ship together, so a table an earlier revision of
    the same release creates is new for the later ones, as within ``only_revisions``; a
    revision with no release is alone. With ``only_revisions`` too, that set is split by
    release: nothing is taken as new across a release's boundary. ``deployed_together=False``
    takes nothing as new, whatever ``releases`` says.
    """
    # The whole run, not only the scripts' (:func:`lint_files`): listing the files, the
    # revision graph and the findings made a dozen young collections after it, and none
    # found garbage.
    with fewer_collections():
        return _lint(paths, config, only_revisions, jobs, cache_dir, deployed_together, releases)


def _lint(
    paths: Sequence[Path],
    config: LintConfig,
    only_revisions: set[str] | None,
    jobs: int | None,
    cache_dir: Path | None,
    deployed_together: bool,
    releases: Mapping[str | Path, Hashable] | None,
) -> Report:
    files, locations = collect_files(paths, config.exclude)
    cache = None
    if cache_dir is not None:
        from flask_safemigrate.lint.cache import LintCache

        cache = LintCache(cache_dir, config)
    found: dict[Path, FileResult] = {}
    keys: dict[Path, str] = {}
    read: dict[Path, bytes] = {}  # the bytes each key was made of, for scripts to lint
    if cache is not None:
        for path in files:
            hit = _cached(cache, path, only_revisions, keys, read)
            if hit is not None:
                found[path] = hit
    todo = [path for path in files if path not in found]
    rules = None if todo else _cached_rules(cache, only_revisions)
    if rules is None:
        rules = select_rules(config, registry.all_rules())
    graph_rules = [r for r in rules if r.check_graph is not Rule.check_graph]
    script_rules = [r for r in rules if r not in graph_rules]

    count = workers.worker_count(len(todo)) if jobs is None else max(1, jobs)
    linted_now = None
    if count > 1 and todo:
        linted_now = workers.lint_in_workers(
            lint_files, todo, script_rules, config, only_revisions, count
        )
    if linted_now is None:
        linted_now = lint_files(todo, script_rules, config, only_revisions, read) if todo else []
    else:
        read.clear()  # the workers read the scripts again: their bytes may differ
    found.update((result.path, result) for result in linted_now)
    results = [found[path] for path in files]
    if cache is not None:
        if todo or cache.rules_run is None or cache.graph_modules is None:
            cache.rules_run = [rule.name for rule in script_rules]
            cache.graph_modules = [rule.__module__ for rule in graph_rules]
        for result in linted_now:
            _store(cache, result, keys, read)
        cache.save()
    # After the cache: what it keeps judges each script alone, whatever the set.
    groups = _release_groups(results, only_revisions, releases) if deployed_together else {}
    if groups:
        results = _deployed_together(results, script_rules, config, only_revisions, groups)

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
    if not todo and cache is not None and cache.rules_run is not None:
        ran = list(cache.rules_run)  # no script rule imported: the names the section keeps
    else:
        ran = [rule.name for rule in script_rules]
    if config.report_unused_ignores:
        ran.append("unused-ignore")
    display = Display()
    if graph_rules and locations and only_revisions is None:
        ran.extend(rule.name for rule in graph_rules)
        scope.extend(location.resolve() for location in locations)
        graph = history.load_graph(locations, known=known)
        for rule in graph_rules:
            severity = severity_of(rule, config)
            for v in rule().check_graph(graph):
                findings.append(finding_of(rule, severity, v, v.path or locations[0], display))
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


def _release_groups(
    results: list[FileResult],
    deploy: set[str] | None,
    releases: Mapping[str | Path, Hashable] | None,
) -> dict[str, Hashable]:
    """The group each linted revision deploys with, by revision: the set ``deploy``
    (``--since``, ``--pending``), split by release when ``releases`` says; else its release.
    A revision in no group is judged alone; so is one two scripts claim (which one runs?)."""
    if deploy is None and not releases:
        return {}
    releases = releases or {}
    seen = Counter(r.info.revision for r in results if r.info is not None)
    groups: dict[str, Hashable] = {}
    for result in results:
        info = result.info
        if info is None or not result.linted or seen[info.revision] != 1:
            continue
        release = releases.get(info.revision, releases.get(result.path))
        if deploy is not None:
            if info.revision in deploy:
                groups[info.revision] = ("deploy", release)
        elif release is not None:
            groups[info.revision] = ("release", release)
    return groups


def _deployed_together(
    results: list[FileResult],
    script_rules: Sequence[type[Rule]],
    config: LintConfig,
    only_revisions: set[str] | None,
    groups: Mapping[str, Hashable],
) -> list[FileResult]:
    """``results``, the scripts that descend from one of their group (a set that deploys
    together: :func:`_release_groups`) creating a table judged again with that table new
    (:mod:`.helpers.deployed_together`). Only scripts with a finding or a silenced one: a
    table more that is new only takes findings away (and may leave an ignore unused)."""
    paths = {r.info.revision: r.path for r in results if r.info and r.info.revision in groups}
    members: dict[Hashable, dict[str, history.Script]] = {}
    for result in results:
        if result.info is not None and result.info.revision in groups:
            members.setdefault(groups[result.info.revision], {})[result.info.revision] = result.info
    found: dict[str, frozenset[str]] = {}
    for together in members.values():
        judged = [
            r.info
            for r in results
            if r.info is not None
            and r.info.revision in together
            and (r.findings or r.silenced)
            and (r.info.down_revisions or r.info.depends_on)
        ]
        if judged:
            found.update(
                deployed_together.new_tables(
                    judged, together, lambda rev: parse(paths[rev], config)
                )
            )
    if not found:
        return results
    new = {paths[revision]: tables for revision, tables in found.items()}
    if not script_rules:  # every script came from the cache: no script rule was imported
        chosen = select_rules(config, registry.all_rules())
        script_rules = [r for r in chosen if r.check_graph is Rule.check_graph]
    again = lint_files(list(new), script_rules, config, only_revisions, new_tables=new)
    by_path = {result.path: result for result in again}
    return [by_path.get(result.path, result) for result in results]


def _cached_rules(
    cache: LintCache | None, only_revisions: set[str] | None
) -> list[type[Rule]] | None:
    """When every script hit: the history rules the section says this configuration runs
    (imported alone: a run of cached scripts imports no script rule); else ``None``."""
    if cache is None or cache.rules_run is None or cache.graph_modules is None:
        return None
    if only_revisions is not None:
        return []  # the history rules do not run on some revisions
    return registry.rules_of(cache.graph_modules)


def _cached(
    cache: LintCache,
    path: Path,
    only_revisions: set[str] | None,
    keys: dict[Path, str],
    read: dict[Path, bytes],
) -> FileResult | None:
    """``path``'s result from the cache, or ``None`` to lint it (its key noted in ``keys``,
    the bytes it was made of in ``read``).

    Only a regular file is read (a FIFO would block the read forever): anything else is left
    to :func:`lint_files`, which reports it, and never cached.
    """
    try:
        data = regular_bytes(path)
    except OSError:
        return None
    if data is None:
        return None
    keys[path] = key = cache.entry_key(path, data)
    hit = cache.get(key, path)
    if hit is not None and _left_out(only_revisions, hit.revision):
        return FileResult(path, hit.script, [], 0, linted=False)
    if hit is None or hit.findings is None:  # (None: read for its revision only last time)
        read[path] = data
        return None
    return FileResult(path, hit.script, hit.findings, hit.silenced, linted=True)


def _store(
    cache: LintCache, result: FileResult, keys: dict[Path, str], read: Mapping[Path, bytes]
) -> None:
    """Keep ``result`` under the key its bytes had before it was linted: linted from those
    very bytes (``read``), or from the file if its bytes are still the same."""
    key = keys.get(result.path)
    if key is None:
        return  # unread
    if result.path not in read:
        try:
            if cache.entry_key(result.path, result.path.read_bytes()) != key:
                return  # changed while it was linted
        except OSError:
            return
    revision = result.info.revision if result.info is not None else None
    findings = result.findings if result.linted else None
    silenced = result.silenced if result.linted else 0
    from flask_safemigrate.lint.cache import Cached

    cache.put(key, result.path, Cached(revision, findings, silenced, result.info))
