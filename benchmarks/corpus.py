"""Is ``lint`` right on real migration histories, and fast enough? (issue #14, section 1)

Run from the repository root (not part of the test suite)::

    .venv/bin/python benchmarks/corpus.py [--project NAME ...] [--repeat 3]
    .venv/bin/python benchmarks/corpus.py --untriaged [--project NAME]   # stubs to triage

It downloads pinned wheels from PyPI that ship their Alembic migrations (``pip download
--no-deps``, sha256 checked), unpacks only the migration scripts (and the ``env.py`` next to
them, which lint reads for how the migrations connect) into a cache outside the
repository (``~/.cache/safemigrate-corpus``, or ``$SAFEMIGRATE_CORPUS_CACHE``, or
``--cache``), and lints each history once per dialect the project supports, through the
public API that ``safemigrate lint`` uses (``flask_safemigrate.lint.lint`` with
``config_from({"dialect": ..., "sqlalchemy": ...})``, the SQLAlchemy pin read from the wheel's
``Requires-Dist``). None of those projects' files is ever committed here.

It prints, per project and per rule: findings, error-level findings, and the precision of the
errors against ``benchmarks/corpus-triage.toml``, where each error finding that someone read
has a verdict (``TP``: a real problem on the project's dialect(s) when the upgrade runs;
``FP``: not one), a one-line reason and a cause tag. A finding is keyed by where it is: project,
file, rule, line and column (and its rank there, for a statement read more than once), which
never move since every wheel is pinned (:func:`finding_ids`). A finding that fires on several
dialects at the same place counts once. Error findings without a verdict are counted as
unread and listed by id; verdicts whose finding lint no longer reports are counted by verdict
(false positives fixed, true positives no longer reported).

Then the time of lint against ``ast.parse`` of the same files, in one process and in turns
(best of N): the issue's target is lint <= 3x ast.parse. Always exits 0 (unless a download
fails): it reports, it does not gate.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import hashlib
import os
import resource
import subprocess
import sys
import time
import tomllib
import zipfile
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a plain script from a checkout
    sys.path.insert(0, str(ROOT))

from benchmarks.corpus_releases import (  # noqa: E402
    RELEASES,
    changed,
    check_revisions,
    load_releases,
    report_groups,
    same_ids,
)
from flask_safemigrate import history as alembic_history  # noqa: E402
from flask_safemigrate.lint import config_from, lint  # noqa: E402
from flask_safemigrate.lint.fingerprint import relative_file  # noqa: E402
from flask_safemigrate.report import Finding, Severity  # noqa: E402

TRIAGE = Path(__file__).resolve().parent / "corpus-triage.toml"
TARGET_VS_PARSE = 3.0
PG, MY, LITE = "postgresql", "mysql", "sqlite"


@dataclass(frozen=True)
class Wheel:
    """A pinned wheel: pip requirement, exact file name and its sha256."""

    requirement: str
    filename: str
    sha256: str


@dataclass(frozen=True)
class History:
    """One Alembic history inside a wheel, and the dialects its project supports."""

    name: str
    wheel: Wheel
    versions: str  # folder inside the wheel
    dialects: tuple[str, ...]


AIRFLOW = Wheel(
    "apache-airflow-core==3.3.2",
    "apache_airflow_core-3.3.2-py3-none-any.whl",
    "99258922bccec15be4700ff89f3c942b8acd93407e263c287ce863e671bb3c50",
)
AIRFLOW_FAB = Wheel(
    "apache-airflow-providers-fab==3.10.2",
    "apache_airflow_providers_fab-3.10.2-py3-none-any.whl",
    "531ec2787089c318969e0f2a94afbdc268a67153610fff28504e3228088f88cd",
)
SUPERSET = Wheel(
    "apache-superset==6.1.0",
    "apache_superset-6.1.0-py3-none-any.whl",
    "4b5886b2d6389a32df790aeae2532ad72529bce1af93b6edf2d1b2a8bf658748",
)
PHOENIX = Wheel(
    "arize-phoenix==20.26.1",
    "arize_phoenix-20.26.1-py3-none-any.whl",
    "dd318844cba1d7021d8accaa995b7f3716d559eab4afb549dfb1017dd51bab56",
)
DAGSTER = Wheel(
    "dagster==1.13.29",
    "dagster-1.13.29-py3-none-any.whl",
    "65f7bf2f52c0c1219cb1ca63a1f0f95a1af83d12e94ebec7598e47ee49889859",
)
LANGFLOW = Wheel(
    "langflow-base==1.13.0",
    "langflow_base-1.13.0-py3-none-any.whl",
    "e15db23e16cf27d6d1ac8fcc5030cf25ad3a04356a9581862b4e97de739dd3a2",
)
MLFLOW = Wheel(
    "mlflow==3.18.0",
    "mlflow-3.18.0-py3-none-any.whl",
    "be7d84ba0d0b12392f5b53260cdb3e6d7b7ef4b80c29da90a89b5a1f6db7102f",
)
OPEN_WEBUI = Wheel(
    "open-webui==0.12.4",
    "open_webui-0.12.4-py3-none-any.whl",
    "02e9caba96234db3fa17a92e56163b3f7f2b8ca8227fa886b85c178d696483f6",
)
OPTUNA = Wheel(
    "optuna==5.1.0",
    "optuna-5.1.0-py3-none-any.whl",
    "aba6a73d32e4ccf58c00ea70a60bf5bcece6b34defb024474dddd0962dc070b1",
)
PREFECT = Wheel(
    "prefect==3.9.1",
    "prefect-3.9.1-py3-none-any.whl",
    "0c662e26e971b617993eed1f3d02fb8bc3c2dd47bee521b495f6e4dfeb38ae74",
)
ZENML = Wheel(
    "zenml==0.98.0",
    "zenml-0.98.0-py3-none-any.whl",
    "801ffbe1821bd48dfc03c9fd5519f5a7d4387d86b3d48d08bd2057dfcde5ad30",
)

# Dialects: what each project documents for its metadata database (ours: PostgreSQL, MySQL or
# MariaDB, SQLite). Smallest histories first: the order they were triaged in.
HISTORIES = [
    History(
        "airflow-fab", AIRFLOW_FAB, "airflow/providers/fab/migrations/versions", (PG, MY, LITE)
    ),
    History("mlflow-auth", MLFLOW, "mlflow/server/auth/db/migrations/versions", (PG, MY, LITE)),
    History("optuna", OPTUNA, "optuna/storages/_rdb/alembic/versions", (PG, MY, LITE)),
    History("phoenix", PHOENIX, "phoenix/db/migrations/versions", (PG, LITE)),
    History("open-webui", OPEN_WEBUI, "open_webui/migrations/versions", (PG, LITE)),
    History("mlflow", MLFLOW, "mlflow/store/db_migrations/versions", (PG, MY, LITE)),
    History("dagster", DAGSTER, "dagster/_core/storage/alembic/versions", (PG, MY, LITE)),
    History(
        "prefect-sqlite", PREFECT, "prefect/server/database/_migrations/versions/sqlite", (LITE,)
    ),
    History(
        "prefect-postgresql",
        PREFECT,
        "prefect/server/database/_migrations/versions/postgresql",
        (PG,),
    ),
    History("airflow", AIRFLOW, "airflow/migrations/versions", (PG, MY, LITE)),
    History("langflow", LANGFLOW, "langflow/alembic/versions", (PG, LITE)),
    History("zenml", ZENML, "zenml/zen_stores/migrations/versions", (MY, LITE)),
    History("superset", SUPERSET, "superset/migrations/versions", (PG, MY, LITE)),
]


# --------------------------------------------------------------------------- the cache


def cache_dir(option: str | None) -> Path:
    """Where wheels and unpacked histories live: never inside the repository."""
    chosen = option or os.environ.get("SAFEMIGRATE_CORPUS_CACHE")
    path = Path(chosen) if chosen else Path.home() / ".cache" / "safemigrate-corpus"
    path = path.expanduser().resolve()
    if path == ROOT or ROOT in path.parents:
        raise SystemExit(f"corpus: the cache {path} is inside the repository; choose another")
    return path


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch(wheel: Wheel, cache: Path) -> Path:
    """The wheel file, downloaded once with pip and checked against its pinned hash."""
    folder = cache / "wheels"
    path = folder / wheel.filename
    if not path.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        print(f"downloading {wheel.requirement} ...", file=sys.stderr)
        done = subprocess.run(
            [
                *(sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"),
                *("--disable-pip-version-check", "-q", "-d", str(folder), wheel.requirement),
            ],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0 or not path.is_file():
            tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise SystemExit(f"corpus: pip download {wheel.requirement} failed: {tail}")
    actual = sha256(path)
    if actual != wheel.sha256:
        raise SystemExit(
            f"corpus: {path} has sha256 {actual}, pinned {wheel.sha256}; delete it to re-download"
        )
    return path


def unpack(history: History, cache: Path) -> Path:
    """The history's version folder, unpacked from its wheel (only the migration scripts)."""
    stem = history.wheel.filename.removesuffix(".whl")
    target = cache / "histories" / stem / history.versions
    marker = target / ".complete"
    if marker.is_file():
        unpack_env(history, cache, target)
        return target
    wheel = fetch(history.wheel, cache)
    prefix = history.versions.rstrip("/") + "/"
    with zipfile.ZipFile(wheel) as archive:
        names = [
            n
            for n in archive.namelist()
            if n.startswith(prefix) and n.endswith(".py") and "/" not in n[len(prefix) :]
        ]
        if not names:
            raise SystemExit(f"corpus: no scripts under {history.versions} in {wheel.name}")
        target.mkdir(parents=True, exist_ok=True)
        for name in names:
            (target / name[len(prefix) :]).write_bytes(archive.read(name))
    marker.write_text("unpacked\n", encoding="utf-8")
    unpack_env(history, cache, target)
    return target


def unpack_env(history: History, cache: Path, target: Path) -> None:
    """The history's ``env.py`` (next to its versions folder), when the wheel ships one:
    lint reads it as in the project (how the migrations connect)."""
    marker = target / ".env-checked"
    if marker.is_file():
        return
    name = history.versions.rstrip("/").rsplit("/", 1)[0] + "/env.py"
    with zipfile.ZipFile(fetch(history.wheel, cache)) as archive:
        if name in archive.namelist():
            (target.parent / "env.py").write_bytes(archive.read(name))
    marker.write_text("checked\n", encoding="utf-8")


#: SQLAlchemy release lines a pin is matched against (the newest allowed is the one a fresh
#: install of the project gets).
SQLALCHEMY_LINES = ("1.0", "1.1", "1.2", "1.3", "1.4", "2.0", "2.1")


def sqlalchemy_pin(wheel: Path) -> str | None:
    """The SQLAlchemy ``major.minor`` the wheel's project runs on: the newest release line its
    ``Requires-Dist: sqlalchemy...`` allows (unconditional requirements first, then those of an
    extra); ``None`` when it names none (lint then assumes the installed SQLAlchemy)."""
    from packaging.requirements import InvalidRequirement, Requirement

    with zipfile.ZipFile(wheel) as archive:
        name = next((n for n in archive.namelist() if n.endswith(".dist-info/METADATA")), None)
        metadata = archive.read(name).decode("utf-8", "replace") if name else ""
    plain, extra = [], []
    for line in metadata.splitlines():
        if not line.lower().startswith("requires-dist:"):
            continue
        try:
            requirement = Requirement(line.split(":", 1)[1].strip())
        except InvalidRequirement:
            continue
        if requirement.name.lower() == "sqlalchemy":
            (extra if requirement.marker else plain).append(requirement)
    for requirement in plain or extra:
        allowed = [
            line
            for line in SQLALCHEMY_LINES
            if any(requirement.specifier.contains(f"{line}.{patch}") for patch in range(100))
        ]
        if allowed:
            return allowed[-1]
    return None


def scripts(versions: Path) -> list[Path]:
    return sorted(p for p in versions.glob("*.py") if p.name != "__init__.py")


# --------------------------------------------------------------------------- findings


@dataclass
class Seen:
    """One finding as the triage knows it: the same id on several dialects is one."""

    fingerprint: str  # the finding's id (:func:`finding_ids`)
    history: str
    file: str
    line: int | None
    rule: str
    code: str | None
    message: str
    severity: Severity
    dialects: set[str] = field(default_factory=set)


def finding_ids(
    history: str, versions: Path, findings: Iterable[Finding]
) -> list[tuple[str, Finding, str]]:
    """(id, finding, file) for each finding of one lint run of one history.

    The id is ``history:file:rule:line:col#k``, the file relative to the history's versions
    directory, ``k`` the rank of the finding's message among the findings of that rule at that
    very place (``0`` but for a statement read several times: a loop over literals, a helper
    called with other arguments; ``-:-`` for a finding without a place, ranked likewise).

    The scripts never change (each wheel is pinned by its sha256), so a place names one
    finding for good: a verdict stays with the finding it was written for when lint stops
    reporting others, when a message is reworded, or when a rule reports more. The library's
    fingerprint (:mod:`flask_safemigrate.lint.fingerprint`, which ``--baseline`` keys on and
    which this benchmark used until December 2026) has to survive edits of the scripts
    instead; its occurrence numbers (``#n`` among identical lines of a file) moved whenever
    an earlier finding on an identical line came or went, and a verdict then named another
    finding.
    """
    here = Path.cwd()
    base = os.fspath(versions.resolve())
    placed = []
    for finding in findings:
        path = os.path.normpath(here / finding.path) if finding.path else base
        placed.append((relative_file(path, base), finding))
    messages: dict[tuple[str, str, int | None, int | None], set[str]] = defaultdict(set)
    for file, finding in placed:
        messages[(file, finding.rule, finding.line, finding.col)].add(finding.message)
    ranked = {place: sorted(texts) for place, texts in messages.items()}
    out = []
    for file, finding in placed:
        rank = ranked[(file, finding.rule, finding.line, finding.col)].index(finding.message)
        line = "-" if finding.line is None else finding.line
        col = "-" if finding.col is None else finding.col
        out.append((f"{history}:{file}:{finding.rule}:{line}:{col}#{rank}", finding, file))
    return out


def lint_history(
    history: History,
    versions: Path,
    sqlalchemy: str | None = None,
    releases: dict[str, str] | None = None,
) -> tuple[dict[str, Seen], str | None]:
    """Every finding of the history over its dialects, by id; and a crash, if any.

    ``sqlalchemy`` is the project's pin (:func:`sqlalchemy_pin`), passed as the lint setting
    of that name, as the project would set it. ``releases``: each revision's release
    (``benchmarks/corpus-releases.toml``), lint's release groups; ``None``: none."""
    seen: dict[str, Seen] = {}
    for dialect in history.dialects:
        try:
            config = config_from({"dialect": dialect, "sqlalchemy": sqlalchemy})
            report = lint([versions], config, jobs=1, releases=releases)
        except Exception as exc:  # the benchmark reports a crash, it does not stop on it
            return seen, f"{dialect}: {type(exc).__name__}: {exc}"
        for fingerprint, finding, file in finding_ids(history.name, versions, report.findings):
            entry = seen.get(fingerprint)
            if entry is None:
                entry = seen[fingerprint] = Seen(
                    fingerprint,
                    history.name,
                    file,
                    finding.line,
                    finding.rule,
                    finding.code,
                    finding.message,
                    finding.severity,
                )
            elif finding.severity.rank > entry.severity.rank:
                entry.severity = finding.severity
            entry.dialects.add(dialect)
    return seen, None


# --------------------------------------------------------------------------- the triage


@dataclass(frozen=True)
class Verdict:
    verdict: str  # TP or FP
    cause: str
    reason: str
    #: The dialects lint reported the finding on when it was read; ``None``: not recorded.
    dialects: frozenset[str] | None = None

    def covers(self, entry: Seen) -> bool:
        """Whether this verdict judged the finding on every dialect it is reported on now: one
        that reaches another dialect (a branch now read for it) is read again."""
        return self.dialects is None or entry.dialects <= self.dialects


def load_triage(path: Path) -> dict[str, Verdict]:
    """``[[finding]]`` tables: ``id``, ``verdict`` (TP/FP), ``cause``, ``reason``."""
    if not path.is_file():
        return {}
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    verdicts: dict[str, Verdict] = {}
    for number, entry in enumerate(data.get("finding", []), start=1):
        missing = [k for k in ("id", "verdict", "cause", "reason") if not entry.get(k)]
        if missing or entry["verdict"] not in ("TP", "FP"):
            raise SystemExit(
                f"corpus: {path.name} entry {number} ({entry.get('id', '?')}) needs id,"
                " verdict TP or FP, cause and reason"
            )
        if entry["id"] in verdicts:
            raise SystemExit(f"corpus: {path.name} has {entry['id']} twice")
        dialects = entry.get("dialects")
        if dialects is not None and (
            not isinstance(dialects, list) or not set(dialects) <= {PG, MY, LITE}
        ):
            raise SystemExit(
                f"corpus: {path.name} entry {number} ({entry['id']}): dialects must be a list"
                f" of {PG}, {MY}, {LITE}"
            )
        verdicts[entry["id"]] = Verdict(
            entry["verdict"],
            entry["cause"],
            entry["reason"],
            None if dialects is None else frozenset(dialects),
        )
    return verdicts


@dataclass
class Tally:
    findings: int = 0
    errors: int = 0
    tp: int = 0
    fp: int = 0

    @property
    def untriaged(self) -> int:
        return self.errors - self.tp - self.fp

    def precision(self) -> str:
        read = self.tp + self.fp
        return f"{self.tp / read:6.1%}" if read else "     -"

    def add(self, entry: Seen, verdict: Verdict | None) -> None:
        self.findings += 1
        if entry.severity is Severity.ERROR:
            self.errors += 1
            if verdict is not None:
                self.tp += verdict.verdict == "TP"
                self.fp += verdict.verdict == "FP"


HEADER = f"{'':34} {'findings':>8} {'errors':>7} {'TP':>5} {'FP':>5} {'unread':>6} {'precision':>9}"


def row(label: str, tally: Tally) -> str:
    return (
        f"{label:34} {tally.findings:8d} {tally.errors:7d} {tally.tp:5d} {tally.fp:5d}"
        f" {tally.untriaged:6d} {tally.precision():>9}"
    )


def markdown_table(
    per_rule: dict[str, Tally],
    overall: Tally,
    minimum: int = 10,
    grouped: tuple[dict[str, Tally], Tally] | None = None,
) -> str:
    """Per-rule precision as a Markdown table (rules with ``minimum`` error findings or more);
    with ``grouped`` (per rule and overall, linted with release groups), two more columns."""
    lines = [
        "| rule | errors | TP / FP | unread | precision |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    if grouped is not None:
        lines = [
            lines[0] + " TP / FP with release groups | precision with release groups |",
            lines[1] + " ---: | ---: |",
        ]

    def cells(label: str, tally: Tally, other: Tally | None) -> str:
        line = (
            f"| {label} | {tally.errors} | {tally.tp} / {tally.fp}"
            f" | {tally.untriaged} | {tally.precision().strip()} |"
        )
        if other is not None:
            line += f" {other.tp} / {other.fp} | {other.precision().strip()} |"
        return line

    ranked = sorted(per_rule.items(), key=lambda item: (-item[1].errors, item[0]))
    for rule, tally in ranked:
        if tally.errors >= minimum:
            code, _, name = rule.partition(" ")
            other = grouped[0].get(rule, Tally()) if grouped is not None else None
            lines.append(cells(f"{code} `{name}`", tally, other))
    lines.append(cells("**all**", overall, grouped[1] if grouped is not None else None))
    return "\n".join(lines)


def toml_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def print_stub(entry: Seen, versions: Path) -> None:
    """A triage stub for one error finding, with the code around it to read."""
    print("[[finding]]")
    print(f"id = {toml_string(entry.fingerprint)}")
    print("dialects = [" + ", ".join(toml_string(d) for d in sorted(entry.dialects)) + "]")
    print('verdict = ""')
    print('cause = ""')
    print('reason = ""')
    dialects = ",".join(sorted(entry.dialects))
    print(f"# {entry.code} {entry.rule} [{dialects}] {entry.file}:{entry.line}")
    print(f"# {entry.message}")
    if entry.line:
        source = (versions / entry.file).read_text(encoding="utf-8", errors="replace")
        lines = source.splitlines()
        for number in range(max(1, entry.line - 3), min(len(lines), entry.line + 3) + 1):
            mark = ">" if number == entry.line else " "
            print(f"#{mark}{number:5d}| {lines[number - 1]}")
    print()


def report_verdicts(
    triage: dict[str, Verdict],
    current: dict[str, Seen],
    unread: list[str],
    reach: list[str],
    histories: set[str],
) -> None:
    """What the verdicts of these histories are for now: error findings that have none (new
    since the last reading, or reaching a dialect their verdict did not judge), findings
    reported below error, findings no longer reported."""
    if unread:
        print(
            f"\n{len(unread)} error findings have no verdict yet (read them: --untriaged),"
            f" {len(reach)} of them because they now reach a dialect their verdict did not judge:"
        )
        for key in unread:
            judged = triage[key].dialects if key in reach else None
            was = f" (read on {','.join(sorted(judged))} only)" if judged else ""
            print(f"  {key} [{','.join(sorted(current[key].dialects))}]{was}")
    else:
        print("\nevery error finding has a verdict")
    mine = {key: verdict for key, verdict in triage.items() if key.split(":", 1)[0] in histories}
    below = Counter(
        str(current[key].severity)
        for key in mine
        if key in current and current[key].severity is not Severity.ERROR
    )
    if below:
        levels = ", ".join(f"{count} {level}" for level, count in below.most_common())
        print(
            f"{sum(below.values())} verdicts are for findings now reported below error"
            f" ({levels}): not counted in the precision"
        )
    gone = [key for key in mine if key not in current]
    if gone:
        fixed = sum(mine[key].verdict == "FP" for key in gone)
        lost = Counter(key.split(":")[2] for key in gone if mine[key].verdict == "TP")
        print(
            f"{len(gone)} verdicts are for findings lint no longer reports: {fixed} false"
            f" positives fixed, {sum(lost.values())} true positives no longer reported"
            " (a rule now off by default, or a real problem lint stopped seeing)"
        )
        for rule, count in lost.most_common():
            print(f"  {count:5d}  {rule}")


# --------------------------------------------------------------------------- timing


def parse_all(files: list[Path]) -> int:
    for path in files:
        ast.parse(path.read_bytes(), filename=str(path))
    return len(files)


def cpu_seconds() -> float:
    """CPU seconds of this process and its finished children (lint's forked workers)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def in_turns(
    repeat: int, contenders: dict[str, Callable[[], Any]]
) -> tuple[dict[str, float], dict[str, float]]:
    """Best wall-clock and best CPU seconds of each, run round-robin so passing load weighs on
    all alike (a ratio of CPU times moves far less with the load of a shared machine)."""
    best = dict.fromkeys(contenders, float("inf"))
    best_cpu = dict.fromkeys(contenders, float("inf"))
    for _ in range(repeat):
        for name, fn in contenders.items():
            start, cpu = time.perf_counter(), cpu_seconds()
            fn()
            best[name] = min(best[name], time.perf_counter() - start)
            best_cpu[name] = min(best_cpu[name], cpu_seconds() - cpu)
    return best, best_cpu


def timing(located: list[tuple[History, Path]], repeat: int) -> None:
    files = [path for _, versions in located for path in scripts(versions)]
    auto = config_from({})

    def lint_auto() -> None:
        for _, versions in located:
            lint([versions], auto, jobs=1)

    def lint_dialects() -> None:
        for history, versions in located:
            for dialect in history.dialects:
                lint([versions], config_from({"dialect": dialect}), jobs=1)

    def lint_workers() -> None:
        for _, versions in located:
            lint([versions], auto)

    best, cpu = in_turns(
        repeat,
        {
            "parse": lambda: parse_all(files),
            "auto": lint_auto,
            "dialects": lint_dialects,
            "workers": lint_workers,
        },
    )
    runs = sum(len(h.dialects) for h, _ in located)
    print(f"\ntiming: {len(files)} scripts, best of {repeat} runs each, in turns, one process")
    print(f"  ast.parse (read + parse), every script          {best['parse']:7.3f} s")
    print(
        f"  lint, dialect auto (all rules), jobs=1          {best['auto']:7.3f} s"
        f"  = {best['auto'] / best['parse']:.2f}x ast.parse"
    )
    print(
        f"  lint, once per supported dialect ({runs} runs), jobs=1"
        f" {best['dialects']:7.3f} s  = {best['dialects'] / best['parse']:.2f}x ast.parse"
        f" ({best['dialects'] / best['parse'] / (runs / len(located)):.2f}x per run)"
    )
    print(
        f"  lint, dialect auto, default workers             {best['workers']:7.3f} s"
        f"  = {best['workers'] / best['parse']:.2f}x ast.parse"
    )
    print(
        f"  in CPU time: lint {cpu['auto'] / cpu['parse']:.2f}x ast.parse (one process),"
        f" {cpu['dialects'] / cpu['parse']:.2f}x per supported dialect,"
        f" {cpu['workers'] / cpu['parse']:.2f}x with workers (their CPU summed)"
    )
    ratio = best["auto"] / best["parse"]
    verdict = "ok" if ratio <= TARGET_VS_PARSE else "SLOWER THAN TARGET"
    print(
        f"lint / ast.parse = {ratio:.2f}x (one process; target <= {TARGET_VS_PARSE:g}x)  {verdict}"
    )


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--cache", help="download and unpack here (default ~/.cache/...)")
    parser.add_argument("--project", action="append", help="only these histories (repeatable)")
    parser.add_argument("--triage", type=Path, default=TRIAGE, help="the triage file")
    parser.add_argument(
        "--releases", type=Path, default=RELEASES, help="which revisions shipped together"
    )
    parser.add_argument("--repeat", type=int, default=3, help="timing runs (best of); 0: none")
    parser.add_argument(
        "--untriaged", action="store_true", help="print a stub for each unread error finding"
    )
    parser.add_argument("--list", action="store_true", help="list the histories and stop")
    parser.add_argument(
        "--markdown", action="store_true", help="also print the per-rule table in Markdown"
    )
    args = parser.parse_args(argv)

    cache = cache_dir(args.cache)
    chosen = [h for h in HISTORIES if not args.project or h.name in args.project]
    unknown = set(args.project or ()) - {h.name for h in HISTORIES}
    if unknown:
        names = ", ".join(h.name for h in HISTORIES)
        raise SystemExit(f"corpus: unknown history {sorted(unknown)[0]!r}; known: {names}")
    if args.list:
        for history in chosen:
            print(f"{history.name:20} {history.wheel.requirement:38} {','.join(history.dialects)}")
        return 0
    triage = load_triage(args.triage)
    releases = load_releases(args.releases, [h.name for h in HISTORIES])
    located = [(history, unpack(history, cache)) for history in chosen]
    pins = {history.name: sqlalchemy_pin(fetch(history.wheel, cache)) for history in chosen}

    per_history: dict[str, Tally] = {}
    per_rule: dict[str, Tally] = defaultdict(Tally)
    per_pair: dict[tuple[str, str], Tally] = defaultdict(Tally)
    causes: Counter[str] = Counter()
    overall = Tally()
    current: dict[str, Seen] = {}
    unread: list[str] = []
    reach: list[str] = []  # unread because they reach dialects their verdict did not judge
    crashes = []
    total_scripts = 0
    # The same, linted with release groups where corpus-releases.toml knows the releases.
    grouped_rule: dict[str, Tally] = defaultdict(Tally)
    grouped = Tally()
    moved: list[tuple[str, str]] = []  # (id, "taken away" or "added") by the groups
    for history, versions in located:
        seen, crash = lint_history(history, versions, pins[history.name])
        if crash:
            crashes.append(f"{history.name}: {crash}")
        with_groups = seen
        if history.name in releases:
            present = alembic_history.load_graph([versions]).scripts
            check_revisions(history.name, releases[history.name], present)
            with_groups, crash = lint_history(
                history, versions, pins[history.name], releases[history.name]
            )
            if crash:
                crashes.append(f"{history.name} with release groups: {crash}")
            with_groups = {
                key: dataclasses.replace(entry, fingerprint=key)
                for key, entry in same_ids(seen, with_groups, lambda e: e.message).items()
            }
            moved += changed(
                {key: str(entry.severity) for key, entry in seen.items()},
                {key: str(entry.severity) for key, entry in with_groups.items()},
            )
        for entry in with_groups.values():
            verdict = triage.get(entry.fingerprint)
            verdict = verdict if verdict is not None and verdict.covers(entry) else None
            for target in (grouped_rule[f"{entry.code} {entry.rule}"], grouped):
                target.add(entry, verdict)
        tally = per_history[history.name] = Tally()
        total_scripts += len(scripts(versions))
        for entry in sorted(seen.values(), key=lambda e: (e.file, e.line or 0, e.rule)):
            verdict = triage.get(entry.fingerprint)
            current[entry.fingerprint] = entry
            if verdict is not None and not verdict.covers(entry):
                if entry.severity is Severity.ERROR:
                    reach.append(entry.fingerprint)
                verdict = None
            if verdict is None and entry.severity is Severity.ERROR:
                unread.append(entry.fingerprint)
            rule = f"{entry.code} {entry.rule}"
            for target in (tally, per_rule[rule], per_pair[(history.name, rule)], overall):
                target.add(entry, verdict)
            if verdict is not None and entry.severity is Severity.ERROR and verdict.verdict == "FP":
                causes[verdict.cause] += 1
            if args.untriaged and verdict is None and entry.severity is Severity.ERROR:
                print_stub(entry, versions)
    if args.untriaged:
        return 0

    print(
        f"{len(located)} histories, {total_scripts} scripts; errors are read against"
        f" {args.triage.name} ({len(triage)} verdicts)"
    )
    pinned = ", ".join(f"{name} {pin or 'installed'}" for name, pin in pins.items())
    print(f"SQLAlchemy each project runs (its wheel's Requires-Dist): {pinned}")
    print("\nper history")
    print(HEADER)
    for history, _ in located:
        label = f"{history.name} ({len(scripts(_))} rev, {'/'.join(history.dialects)})"
        print(row(label[:34], per_history[history.name]))
    print(row("all", overall))
    print("\nper rule")
    print(HEADER)
    for rule, tally in sorted(per_rule.items(), key=lambda item: -item[1].errors):
        print(row(rule[:34], tally))
    covered = [h.name for h in chosen if h.name in releases]
    with_groups_rule = {rule: grouped_rule[rule] for rule in per_rule}  # zero when none left
    report_groups(args.releases, covered, per_rule, overall, with_groups_rule, grouped)
    for key, how in moved:
        entry = current.get(key)
        verdict = triage.get(key)
        level = entry.severity if entry is not None else "?"
        read = f"{verdict.verdict} {verdict.cause}" if verdict is not None else "no verdict"
        print(f"  {how} by release groups ({level}, {read}): {key}")
    print("\nper history and rule (error-level only)")
    print(HEADER)
    for (name, rule), tally in sorted(per_pair.items()):
        if tally.errors:
            print(row(f"{name} {rule}"[:34], tally))
    if causes:
        print("\nfalse positives still reported, by cause")
        for cause, count in causes.most_common():
            print(f"  {count:5d}  {cause}")
    chosen_names = {h.name for h in chosen}
    read = Counter(
        v.cause
        for k, v in triage.items()
        if v.verdict == "FP" and k.split(":", 1)[0] in chosen_names
    )
    if read:
        print("\nfalse positives ever read (the whole triage file), by cause; fixed ones included")
        for cause, count in read.most_common():
            print(f"  {count:5d}  {cause}  ({causes[cause]} still reported)")
    report_verdicts(triage, current, unread, reach, chosen_names)
    if args.markdown:
        print("\n" + markdown_table(per_rule, overall, grouped=(grouped_rule, grouped)))
    print(f"\ncrashes: {len(crashes)}")
    for crash in crashes:
        print(f"  {crash}")
    if args.repeat > 0:
        timing(located, args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
