"""Mermaid's own parser reads every flowchart ``flask db graph --format mermaid`` writes.

The ``mermaid`` npm package (with ``jsdom`` for the DOM it expects) runs under Node from
tests/graph/mermaid/ (``npm ci`` there on first use, from its lockfile). Without Node the tests
skip on a developer's machine and fail under ``CI=true``.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from flask_safemigrate.graph import DatabaseMarks, build_model, collapse_runs
from flask_safemigrate.render.graph_mermaid import render_graph_mermaid
from tests.graph.test_render import hostile_model
from tests.support import graph_histories as gh
from tests.support.databases import in_ci

HERE = Path(__file__).resolve().parent / "mermaid"
GRAPH_PAGE = HERE.parent.parent.parent / "docs" / "commands" / "graph.md"

pytestmark = pytest.mark.xdist_group("mermaid-npm")  # one `npm ci` at a time


@pytest.fixture(scope="module")
def node() -> Iterator[str]:
    """The ``node`` binary, with the parser's packages installed."""
    binary = shutil.which("node")
    npm = shutil.which("npm")
    if binary is None or npm is None:
        if in_ci():
            pytest.fail("node and npm are needed for the Mermaid parser test under CI=true")
        pytest.skip("node is not installed: Mermaid's parser cannot run here")
    if not (HERE / "node_modules" / "mermaid").is_dir():
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=HERE,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert done.returncode == 0, f"npm ci failed in {HERE}:\n{done.stderr[-2000:]}"
    yield binary


def parse(node: str, diagrams: list[str]) -> list[str]:
    done = subprocess.run(
        [node, str(HERE / "parse.mjs")],
        input=json.dumps(diagrams),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    lines = done.stdout.splitlines()
    assert len(lines) == len(diagrams), done.stderr[-2000:]
    return lines


def test_the_parser_refuses_a_broken_flowchart(node: str) -> None:
    # the check can fail: a label closed too early is an error
    assert parse(node, ['flowchart BT\n  r0["a"]] --> r1\n'])[0].startswith("error ")


def test_every_shape_parses(node: str, tmp_path: Path) -> None:
    diagrams = [render_graph_mermaid(hostile_model())]
    small = tmp_path / "small"
    ids = gh.branch_and_merge(small)
    gh.add(small, "dep00001", ids["m"], depends_on="orders")
    marks = DatabaseMarks(True, "database: x", (ids["b1"],), {ids["base"]: 12})
    diagrams.append(render_graph_mermaid(build_model(gh.load(small), marks)))
    heads = tmp_path / "heads"
    gh.two_heads(heads)
    diagrams.append(render_graph_mermaid(build_model(gh.load(heads), marks)))
    long = tmp_path / "long"
    revs = gh.generated(long, 300, 30)
    model = build_model(gh.load(long), DatabaseMarks(True, "database: x", (revs[150],)))
    diagrams.append(render_graph_mermaid(collapse_runs(model)))
    diagrams.append(render_graph_mermaid(model))  # --full: 300 nodes
    page = GRAPH_PAGE.read_text(encoding="utf-8")
    shown = re.findall(r"^```mermaid\n(.*?)^```$", page, re.M | re.S)
    assert shown, "docs/commands/graph.md shows a Mermaid example"
    diagrams.extend(shown)
    assert parse(node, diagrams) == ["ok flowchart-v2"] * len(diagrams)
