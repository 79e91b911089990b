"""Are lint's findings byte for byte the same before and after a change (one meant to be faster)?

Run from the repository root (not part of the test suite)::

    .venv/bin/python benchmarks/lint_outputs.py record /tmp/before              # this checkout
    .venv/bin/python benchmarks/lint_outputs.py record /tmp/before --code ../main
    .venv/bin/python benchmarks/lint_outputs.py compare /tmp/before /tmp/after

``record`` runs ``safemigrate lint --format json`` as a user does (a fresh process each time)
with the package of ``--code`` (default: this checkout) on every input, for each dialect setting
(auto, postgresql, mysql, sqlite) and with the default rules and ``--select ALL``, and writes
each run's stdout, stderr and exit code to a file of its own in OUTDIR. The inputs are frozen
the first time into ``--inputs`` (default ``/tmp/safemigrate-lint-outputs-inputs``) so that two
checkouts whose fixtures differ still lint the same files: a copy of ``tests/lint/fixtures``
(every rule's fixture, the multi-file ones, and ``causes``), the 1,000 revisions that
``benchmarks/lint.py`` writes, and the example app's migrations; the corpus histories of
``benchmarks/corpus.py`` are linted where its cache holds them (run ``corpus.py --repeat 0``
once to download them). Runs happen with that folder as the working directory, so no
``pyproject.toml`` of a checkout configures them.

Each run has ``XDG_CACHE_HOME`` set to ``--cache`` (default: a new temporary folder, removed
afterwards), so lint's results cache (``lint/cache.py``) starts empty and never touches the
user's. Recording twice with the same ``--cache`` records the second time from the cache: the
two records must be the same.

``compare`` prints every run whose outputs differ and exits 1 if any does, 0 if none.
"""

from __future__ import annotations

import argparse
import difflib
import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a plain script from a checkout
    sys.path.insert(0, str(ROOT))

DIALECTS = ("auto", "postgresql", "mysql", "sqlite")
SELECTIONS: dict[str, tuple[str, ...]] = {"default": (), "all": ("--select", "ALL")}
DEFAULT_INPUTS = Path(tempfile.gettempdir()) / "safemigrate-lint-outputs-inputs"
RUN = "import sys; from flask_safemigrate.console import main; sys.argv[0] = 'safemigrate'; main()"


def freeze_inputs(inputs: Path) -> None:
    """Copy the fixtures and write the benchmark history once; later records reuse them."""
    if (inputs / ".complete").exists():
        return
    if inputs.exists():
        shutil.rmtree(inputs)
    inputs.mkdir(parents=True)
    shutil.copytree(ROOT / "tests" / "lint" / "fixtures", inputs / "fixtures")
    shutil.copytree(ROOT / "example_app" / "migrations", inputs / "example-app")
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import lint as benchmark  # benchmarks/lint.py

    benchmark.write_history(inputs / "benchmark" / "migrations", 1000)
    (inputs / ".complete").write_text("")


def corpus_targets() -> dict[str, Path]:
    """The corpus histories already in the cache, by name (nothing is downloaded here)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import corpus

    cache = corpus.cache_dir(None)
    found = {}
    for history in corpus.HISTORIES:
        stem = history.wheel.filename.removesuffix(".whl")
        versions = cache / "histories" / stem / history.versions
        if versions.is_dir():
            found[f"corpus-{history.name}"] = versions
    return found


def targets(inputs: Path) -> dict[str, Path]:
    fixtures = inputs / "fixtures"
    found = {
        "fixtures": fixtures,
        "causes": fixtures / "causes",
        "example-app": inputs / "example-app",
        "benchmark": inputs / "benchmark" / "migrations",
    }
    # The fixture folders that are histories of their own (multiple heads, a missing parent...).
    for folder in sorted(p for p in fixtures.iterdir() if p.is_dir() and p.name != "causes"):
        found[f"fixtures-{folder.name}"] = folder
    found.update(corpus_targets())
    return found


def record(outdir: Path, code: Path, inputs: Path, jobs: int, cache: Path | None) -> int:
    if cache is None:
        with tempfile.TemporaryDirectory(prefix="safemigrate-lint-outputs-cache-") as folder:
            return record(outdir, code, inputs, jobs, Path(folder))
    freeze_inputs(inputs)
    outdir.mkdir(parents=True, exist_ok=True)
    env = dict(
        os.environ,
        PYTHONPATH=str(code.resolve()),
        PYTHONDONTWRITEBYTECODE="1",
        XDG_CACHE_HOME=str(cache.resolve()),
    )
    runs = [
        (f"{name}.{dialect}.{selection}", ["--dialect", dialect, *select, str(path)])
        for name, path in targets(inputs).items()
        for dialect in DIALECTS
        for selection, select in SELECTIONS.items()
    ]

    def run(stem: str, options: list[str]) -> None:
        argv = [sys.executable, "-c", RUN, "lint", "--format", "json", *options]
        done = subprocess.run(argv, cwd=inputs, env=env, capture_output=True, check=False)
        (outdir / f"{stem}.out").write_bytes(done.stdout)
        (outdir / f"{stem}.err").write_bytes(done.stderr)
        (outdir / f"{stem}.rc").write_text(f"{done.returncode}\n")

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for future in [pool.submit(run, stem, options) for stem, options in runs]:
            future.result()
    print(f"recorded {len(runs)} runs ({len(targets(inputs))} inputs) in {outdir}")
    return 0


def compare(before: Path, after: Path) -> int:
    names = sorted({p.name for p in before.iterdir()} | {p.name for p in after.iterdir()})
    differ = 0
    for name in names:
        old, new = before / name, after / name
        if not old.exists() or not new.exists():
            print(f"{name}: only in {'after' if new.exists() else 'before'}")
            differ += 1
            continue
        if old.read_bytes() == new.read_bytes():
            continue
        differ += 1
        old_lines = old.read_text(errors="replace").splitlines()
        new_lines = new.read_text(errors="replace").splitlines()
        diff = list(difflib.unified_diff(old_lines, new_lines, str(old), str(new), lineterm=""))
        print("\n".join(diff[:40]))
    print(f"{len(names)} files compared, {differ} differ")
    return 1 if differ else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    rec = commands.add_parser("record", help="run lint on every input, write the outputs")
    rec.add_argument("outdir", type=Path)
    rec.add_argument("--code", type=Path, default=ROOT, help="checkout whose package runs")
    rec.add_argument("--inputs", type=Path, default=DEFAULT_INPUTS, help="frozen inputs")
    rec.add_argument("-j", "--jobs", type=int, default=1, help="runs at once")
    rec.add_argument("--cache", type=Path, help="XDG_CACHE_HOME of the runs [a new one]")
    cmp = commands.add_parser("compare", help="diff two records")
    cmp.add_argument("before", type=Path)
    cmp.add_argument("after", type=Path)
    args = parser.parse_args(argv)
    if args.command == "record":
        return record(args.outdir, args.code, args.inputs, args.jobs, args.cache)
    return compare(args.before, args.after)


if __name__ == "__main__":
    sys.exit(main())
