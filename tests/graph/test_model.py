"""The graph's data: marks on each node, edges, folding of plain runs, rows and lanes."""

from __future__ import annotations

from pathlib import Path

from flask_safemigrate.graph import (
    DatabaseMarks,
    build_model,
    collapse_runs,
    lay_out,
    row_order,
)
from tests.support import graph_histories as gh

OFFLINE = DatabaseMarks(False, "database: not connected (--no-db)")


def test_branch_and_merge_marks(tmp_path: Path) -> None:
    ids = gh.branch_and_merge(tmp_path)
    model = build_model(gh.load(tmp_path), OFFLINE)
    nodes = model.nodes
    assert nodes[ids["m"]].head and nodes[ids["m"]].merge
    assert nodes[ids["base"]].branch_point and nodes[ids["base"]].root
    assert nodes[ids["b1"]].labels == ("orders",)
    assert not nodes[ids["a1"]].head and nodes[ids["a1"]].plain
    assert all(node.pending is None and not node.current for node in nodes.values())
    assert {(e.child, e.parent) for e in model.edges} == {
        (ids["a1"], ids["base"]),
        (ids["b1"], ids["base"]),
        (ids["b2"], ids["b1"]),
        (ids["m"], ids["a1"]),
        (ids["m"], ids["b2"]),
    }


def test_current_and_pending_from_the_database(tmp_path: Path) -> None:
    ids = gh.branch_and_merge(tmp_path)
    marks = DatabaseMarks(True, "database: x", (ids["b1"],), {ids["base"]: 1500})
    model = build_model(gh.load(tmp_path), marks)
    nodes = model.nodes
    assert nodes[ids["b1"]].current and not nodes[ids["b1"]].pending
    assert nodes[ids["base"]].pending is False and nodes[ids["base"]].duration_ms == 1500
    assert {k for k, n in nodes.items() if n.pending} == {ids["a1"], ids["b2"], ids["m"]}
    pending_edges = {(e.child, e.parent) for e in model.edges if e.pending}
    assert (ids["b2"], ids["b1"]) in pending_edges
    assert (ids["b1"], ids["base"]) not in pending_edges


def test_an_unknown_current_revision_counts_everything_applied(tmp_path: Path) -> None:
    gh.linear(tmp_path, 3)
    model = build_model(gh.load(tmp_path), DatabaseMarks(True, "db", ("f00dbeef",)))
    assert all(node.pending is False for node in model.nodes.values())


def test_two_heads_and_a_depends_on(tmp_path: Path) -> None:
    ids = gh.two_heads(tmp_path)
    gh.add(tmp_path, "dep00001", ids["x"], depends_on="yfeat")
    model = build_model(gh.load(tmp_path), OFFLINE)
    heads = sorted(k for k, n in model.nodes.items() if n.head)
    assert heads == sorted([ids["y"], "dep00001"])
    depends = [e for e in model.edges if e.depends]
    assert [(e.child, e.parent) for e in depends] == [("dep00001", ids["y"])]


def test_long_runs_fold_into_one_node(tmp_path: Path) -> None:
    revs = gh.linear(tmp_path, 10)
    model = build_model(gh.load(tmp_path), DatabaseMarks(True, "db", (revs[5],)))
    folded = collapse_runs(model, min_run=3)
    # root and head stay; the current revision splits the run: 1..4 and 6..8 fold
    keys = list(folded.nodes)
    assert revs[0] in keys and revs[5] in keys and revs[9] in keys
    runs = [n for n in folded.nodes.values() if n.collapsed]
    assert [n.revisions for n in runs] == [tuple(revs[1:5]), tuple(revs[6:9])]
    assert runs[0].pending is False and runs[1].pending is True
    assert folded.hidden == 7 and folded.revision_count == 10
    chain = {(e.child, e.parent) for e in folded.edges}
    assert (runs[0].key, revs[0]) in chain and (revs[5], runs[0].key) in chain
    assert (runs[1].key, revs[5]) in chain and (revs[9], runs[1].key) in chain
    assert len(folded.edges) == 4


def test_short_runs_and_marked_revisions_are_not_folded(tmp_path: Path) -> None:
    gh.branch_and_merge(tmp_path)
    model = build_model(gh.load(tmp_path), OFFLINE)
    # b1 has a label, a1 and b2 are alone: no run of two, even when asked for runs of one
    assert collapse_runs(model, min_run=2) is model
    assert collapse_runs(model, min_run=1) is model


def test_rows_put_children_above_parents_and_keep_a_branch_together(tmp_path: Path) -> None:
    ids = gh.branch_and_merge(tmp_path)
    model = build_model(gh.load(tmp_path), OFFLINE)
    order = row_order(model)
    position = {key: index for index, key in enumerate(order)}
    for edge in model.edges:
        assert position[edge.child] < position[edge.parent]
    assert order[0] == ids["m"] and order[-1] == ids["base"]
    # b1 directly under b2: the branch is one stretch
    assert position[ids["b1"]] == position[ids["b2"]] + 1


def test_lanes_of_a_merge(tmp_path: Path) -> None:
    ids = gh.branch_and_merge(tmp_path)
    layout = lay_out(build_model(gh.load(tmp_path), OFFLINE))
    lane = {cell.key: cell.lane for cell in layout.cells}
    assert layout.lanes == 2
    assert lane[ids["m"]] == lane[ids["a1"]] == lane[ids["base"]] == 0
    assert lane[ids["b1"]] == lane[ids["b2"]] == 1
    route = next(r for r in layout.routes if r.edge.child == ids["b1"])
    # the fork is already awaited in lane 0 (under a1): b1's line joins that lane
    assert route.child.lane == 1 and route.lane == route.parent.lane == 0


def test_two_heads_take_two_lanes(tmp_path: Path) -> None:
    gh.two_heads(tmp_path)
    layout = lay_out(build_model(gh.load(tmp_path), OFFLINE))
    heads = [cell for cell in layout.cells if cell.key.endswith("head001")]
    assert sorted(cell.lane for cell in heads) == [0, 1]
    assert layout.cells[-1].key == "root0001"


def test_the_generated_history_stays_narrow_and_short(tmp_path: Path) -> None:
    revs = gh.generated(tmp_path, 300, 30)
    model = build_model(gh.load(tmp_path), OFFLINE)
    assert model.revision_count == 300 == len(revs)
    assert sum(1 for n in model.nodes.values() if n.merge) == 30
    folded = collapse_runs(model)
    layout = lay_out(folded)
    assert folded.revision_count == 300
    assert len(layout.cells) < 130  # from 300 rows
    assert layout.lanes <= 3
