"""The four pictures of a graph: their structure on small histories, and hostile text escaped.

SVG is parsed as XML; Mermaid and DOT are checked line by line against the only statement
shapes the renderers may write (Mermaid's own parser runs in test_mermaid_parser.py).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from flask_safemigrate.graph import DatabaseMarks, HistoryGraph, build_model, collapse_runs
from flask_safemigrate.history import RevisionGraph, Script
from flask_safemigrate.render.graph_dot import render_graph_dot
from flask_safemigrate.render.graph_mermaid import render_graph_mermaid
from flask_safemigrate.render.graph_svg import render_graph_svg
from flask_safemigrate.render.graph_text import render_graph_text
from flask_safemigrate.render.graph_words import NOTE_LIMIT
from tests.support import graph_histories as gh

SVG = "{http://www.w3.org/2000/svg}"
OFFLINE = DatabaseMarks(False, "database: not connected (--no-db)")
HOSTILE_MESSAGE = 'x <script>alert(1)</script> & "q" \'s\n--> r0 `code` ]] %% ; end\x1b[31m'
HOSTILE_ID = "h<1>&\"'`-->\nx;"
HOSTILE_LABEL = '<b>&"lbl`'


def _script(rev: str, down: tuple[str, ...], message: str, labels: tuple[str, ...] = ()) -> Script:
    return Script(
        revision=rev,
        down_revisions=down,
        branch_labels=labels,
        depends_on=(),
        path=Path(f"/m/versions/{len(rev)}.py"),
        line=1,
        message=message,
        create_date=None,
        has_upgrade=True,
        upgrade_is_empty=True,
        has_downgrade=True,
        downgrade_is_empty=True,
    )


def hostile_model() -> HistoryGraph:
    graph = RevisionGraph(
        [
            _script("root0001", (), "create"),
            _script(HOSTILE_ID, ("root0001",), HOSTILE_MESSAGE, (HOSTILE_LABEL,)),
            _script("side0001", ("root0001",), "side"),
            _script("merge001", (HOSTILE_ID, "side0001"), "merge"),
        ]
    )
    return build_model(graph, DatabaseMarks(True, "database: x", (HOSTILE_ID,)))


def small(tmp_path: Path, marks: DatabaseMarks = OFFLINE) -> tuple[HistoryGraph, dict[str, str]]:
    ids = gh.branch_and_merge(tmp_path)
    return build_model(gh.load(tmp_path), marks), ids


# --------------------------------------------------------------------------- text


def test_text_draws_lanes_and_marks(tmp_path: Path) -> None:
    ids = gh.branch_and_merge(tmp_path)
    marks = DatabaseMarks(True, "database: sqlite:///x", (ids["b1"],), {ids["b1"]: 2500})
    text = render_graph_text(build_model(gh.load(tmp_path), marks))
    lines = text.splitlines()
    assert lines[0] == "5 revisions, 1 head, 1 merge"
    assert lines[1] == "database: sqlite:///x; at b1000001; 3 revisions pending"
    body = lines[3:]
    assert body[0].startswith("o    m0000001 (head) (merge) (pending)")
    assert body[1] == "|\\"
    assert any(line.startswith("| @  b1000001 ([orders]) (database)") for line in body)
    assert any('"add orders" 2.5 s' in line for line in body)
    assert "|/" in body
    assert body[-1].startswith("*    base0001 (branch point)")


def test_text_offline_marks_nothing(tmp_path: Path) -> None:
    model, _ = small(tmp_path)
    text = render_graph_text(model)
    assert "database: not connected (--no-db)" in text
    assert "(pending)" not in text and "@" not in text


def test_text_of_a_folded_run(tmp_path: Path) -> None:
    revs = gh.linear(tmp_path, 8)
    text = render_graph_text(collapse_runs(build_model(gh.load(tmp_path), OFFLINE)))
    assert f":  … 6 revisions ({revs[1]} … {revs[6]}) …" in text
    assert "6 revisions folded into 1 run (--full shows every revision)" in text


def test_text_is_printable() -> None:
    text = render_graph_text(hostile_model())
    assert "\x1b" not in text
    assert all(line.isprintable() for line in text.splitlines())
    assert "h<1>&\"'`-->\\nx;" in text


# --------------------------------------------------------------------------- SVG


def _svg(text: str) -> ET.Element:
    return ET.fromstring(text)


def _words(root: ET.Element) -> str:
    """The picture's words (its ``<text>`` elements), not its style sheet."""
    return " ".join("".join(t.itertext()) for t in root.iter(f"{SVG}text"))


def test_svg_has_a_marker_per_node_and_a_path_per_edge(tmp_path: Path) -> None:
    ids = gh.branch_and_merge(tmp_path)
    marks = DatabaseMarks(True, "database: x", (ids["a1"],))
    model = build_model(gh.load(tmp_path), marks)
    root = _svg(render_graph_svg(model))
    assert root.tag == f"{SVG}svg"
    assert float(root.attrib["width"]) > 200 and float(root.attrib["height"]) > 5 * 26
    paths = root.findall(f"{SVG}path")
    assert len(paths) == len(model.edges) == 5
    assert sum("pending" in p.attrib["class"] for p in paths) == 4  # b1's, b2's and m's two
    circles = root.findall(f"{SVG}circle")
    assert len(circles) == 5 + 1  # one per node, and the ring of the current revision
    words = _words(root)
    for mark in ("head", "merge", "branch point", "[orders]", "database", "pending"):
        assert mark in words
    assert not root.findall(f".//{SVG}image") and not root.findall(f".//{SVG}script")


def test_svg_of_a_folded_run_and_offline(tmp_path: Path) -> None:
    gh.linear(tmp_path, 8)
    root = _svg(render_graph_svg(collapse_runs(build_model(gh.load(tmp_path), OFFLINE))))
    words = _words(root)
    assert "… 6 revisions" in words and "not connected (--no-db)" in words
    assert "pending" not in words
    assert len(root.findall(f"{SVG}rect")) >= 2  # background, the run's pill


def test_svg_escapes_hostile_text() -> None:
    text = render_graph_svg(hostile_model())
    root = _svg(text)  # parses: nothing closed a tag or an attribute
    assert not root.findall(f".//{SVG}script") and "<script>" not in text
    words = _words(root)
    assert "h<1>&\"'`-->\\nx;" in words
    assert 'x <script>alert(1)</script> & "q" \'s --> r0 `code`' in words
    assert '<b>&"lbl`' in words
    assert "\x1b" not in text


# --------------------------------------------------------------------------- Mermaid

MERMAID_NODE = re.compile(r'^  (r\d+)(\["([^"\n]*)"\]|\(\["([^"\n]*)"\]\))$')
MERMAID_EDGE = re.compile(r"^  (r\d+) (-->|-\.->|-\. depends_on \.->) (r\d+)$")
MERMAID_CLASS = re.compile(r"^  (classDef \w+ [\w:#,.% -]+|class (r\d+,)*r\d+ \w+)$")
LABEL_TEXT = re.compile(r"^([A-Za-z0-9 ._,:/()+=-]|#\d+;|<br>)*$")


def mermaid_lines(text: str) -> tuple[dict[str, str], list[tuple[str, str, str]]]:
    """Every line of a flowchart, checked against the statements we write; the labels
    decoded, and the edges."""
    lines = text.splitlines()
    assert lines[0].startswith("%% ") and lines[1].startswith("%% ")
    assert lines[2] == "flowchart BT"
    labels: dict[str, str] = {}
    edges = []
    for line in lines[3:]:
        if node := MERMAID_NODE.match(line):
            label = node.group(3) if node.group(3) is not None else node.group(4)
            assert LABEL_TEXT.match(label), line
            labels[node.group(1)] = re.sub(r"#(\d+);", lambda m: chr(int(m.group(1))), label)
        elif edge := MERMAID_EDGE.match(line):
            edges.append((edge.group(1), edge.group(2), edge.group(3)))
        else:
            assert MERMAID_CLASS.match(line), line
    return labels, edges


def test_mermaid_structure(tmp_path: Path) -> None:
    ids = gh.branch_and_merge(tmp_path)
    model = build_model(gh.load(tmp_path), DatabaseMarks(True, "db", (ids["b1"],)))
    text = render_graph_mermaid(model)
    labels, edges = mermaid_lines(text)
    by_revision = {label.split(" ")[0]: node for node, label in labels.items()}
    assert set(by_revision) == set(ids.values())
    assert labels[by_revision[ids["m"]]].startswith("m0000001 (head) (merge) (pending)<br>")
    assert "([orders]) (database)" in labels[by_revision[ids["b1"]]]
    assert (by_revision[ids["b1"]], "-.->", by_revision[ids["b2"]]) in edges
    assert (by_revision[ids["base"]], "-->", by_revision[ids["b1"]]) in edges
    assert len(edges) == 5
    assert f"  class {by_revision[ids['b1']]} current" in text.splitlines()


def test_mermaid_folded_run_is_a_stadium(tmp_path: Path) -> None:
    gh.linear(tmp_path, 8)
    text = render_graph_mermaid(collapse_runs(build_model(gh.load(tmp_path), OFFLINE)))
    labels, edges = mermaid_lines(text)
    assert '(["#8230; 6 revisions' in text
    assert len(labels) == 3 and len(edges) == 2


def test_mermaid_escapes_hostile_text() -> None:
    text = render_graph_mermaid(hostile_model())
    labels, edges = mermaid_lines(text)  # every line is one of our statements
    assert len(edges) == 4
    hostile = next(label for label in labels.values() if label.startswith("h<1>"))
    assert hostile.startswith('h<1>&"\'`-->\\nx; ([<b>&"lbl`]) (database)<br>x <script>')
    statements = [line for line in text.splitlines() if not line.startswith("%% ")]
    assert not any("`" in line or "<script>" in line for line in statements)


# --------------------------------------------------------------------------- DOT

DOT_STRING = r'"(?:[^"\\\n]|\\.)*"'
DOT_NODE = re.compile(rf"^  (n\d+) \[label=({DOT_STRING})(, [a-z]+=(?:{DOT_STRING}|\w+))*\];$")
DOT_EDGE = re.compile(rf"^  (n\d+) -> (n\d+)( \[style=dashed(, label={DOT_STRING})?\])?;$")


def dot_lines(text: str) -> tuple[dict[str, str], list[tuple[str, str]]]:
    lines = text.splitlines()
    assert lines[0].startswith("// ") and lines[1].startswith("// ")
    assert lines[2] == "digraph revisions {" and lines[-1] == "}"
    assert lines[3] == "  rankdir=BT;" and lines[4].startswith("  node [")
    labels: dict[str, str] = {}
    edges = []
    for line in lines[5:-1]:
        if node := DOT_NODE.match(line):
            raw = node.group(2)[1:-1]
            labels[node.group(1)] = re.sub(r"\\(.)", lambda m: {"n": "\n"}.get(m[1], m[1]), raw)
        else:
            edge = DOT_EDGE.match(line)
            assert edge, line
            edges.append((edge.group(1), edge.group(2)))
    return labels, edges


def test_dot_structure(tmp_path: Path) -> None:
    model, ids = small(tmp_path)
    labels, edges = dot_lines(render_graph_dot(model))
    by_revision = {re.split("[ \n]", label)[0]: node for node, label in labels.items()}
    assert set(by_revision) == set(ids.values())
    assert labels[by_revision[ids["m"]]] == "m0000001 (head) (merge)\nmerge heads"
    assert (by_revision[ids["a1"]], by_revision[ids["m"]]) in edges and len(edges) == 5


def test_dot_escapes_hostile_text() -> None:
    text = render_graph_dot(hostile_model())
    labels, edges = dot_lines(text)
    assert len(edges) == 4
    hostile = next(label for label in labels.values() if label.startswith("h<1>"))
    assert hostile.startswith('h<1>&"\'`-->\\nx; ([<b>&"lbl`]) (database)\nx <script>')
    assert "\x1b" not in text


@pytest.mark.parametrize(
    "render", [render_graph_text, render_graph_svg, render_graph_mermaid, render_graph_dot]
)
def test_every_format_draws_the_generated_history(render: object, tmp_path: Path) -> None:
    gh.generated(tmp_path, 300, 30)
    model = collapse_runs(build_model(gh.load(tmp_path), OFFLINE))
    assert callable(render)
    out = render(model)
    assert isinstance(out, str) and "300 revisions, 1 head, 30 merges" in out


def test_text_moves_a_line_one_lane_per_gap_line(tmp_path: Path) -> None:
    ids = gh.branch_and_merge(tmp_path)
    gh.add(tmp_path, "x1000001", ids["b1"], message="another head")
    gh.add(tmp_path, "y1000001", ids["a1"], message="third head")
    text = render_graph_text(build_model(gh.load(tmp_path), OFFLINE))
    lines = text.splitlines()
    row = next(i for i, line in enumerate(lines) if "y1000001" in line)
    assert lines[row].startswith("| | *  y1000001 (head)")
    # from lane 2 to a1's lane 0 across lane 1: two lines, one lane each
    assert lines[row + 1 : row + 3] == ["| |/", "|/|"]
    assert lines[row + 3].startswith("* |    a1000001")


def test_a_long_not_connected_note_keeps_its_reason(tmp_path: Path) -> None:
    """Cut in the middle: the reason ends the database's error, after its URL."""
    note = (
        "database: not connected (cannot connect to postgresql+psycopg://app:***@db.internal."
        "example.com:5499/shop_production_eu_west: connection failed: connection to server at"
        ' "db.internal.example.com" (10.1.2.3), port 5499 failed: Connection refused)'
    )
    assert len(note) > NOTE_LIMIT
    model, _ = small(tmp_path, DatabaseMarks(False, note))
    (line,) = [line for line in render_graph_text(model).splitlines() if "not connected" in line]
    assert line.endswith("Connection refused)") and " … " in line, line
    assert line.startswith("database: not connected (cannot connect to postgresql+psycopg://")
    assert len(line) <= NOTE_LIMIT, line


def test_dot_gives_the_current_head_one_penwidth(tmp_path: Path) -> None:
    head = "m0000001"
    model, _ = small(tmp_path, DatabaseMarks(True, "database: here", (head,)))
    labels = [line for line in render_graph_dot(model).splitlines() if head in line]
    (node,) = [line for line in labels if line.startswith("  n")]
    assert node.count("penwidth") == 1 and "penwidth=3" in node, node
