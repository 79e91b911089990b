"""``--dist loadgroup`` that keeps ``xdist_group`` tests together, through public hooks only.

pytest-xdist groups a test by an ``@<group>`` suffix it appends to the node id on the worker
(``item._nodeid``). pytest 9.2 keeps node ids elsewhere, so the suffix is lost and a group's
tests were spread over workers: the timing group (:mod:`tests.support.timing`) ran its kills
and lock waits two at a time. Node ids have no public setter, so the grouping travels beside
them instead:

1. the controller gives every worker a directory (``pytest_configure_node``, ``workerinput``);
2. each worker writes there which of its collected tests belong to which group;
3. the controller's scheduler (``pytest_xdist_make_scheduler``) is xdist's own
   ``LoadGroupScheduling``, handed each worker's node ids with the ``@<group>`` suffix added.

The scheduler only sends tests to workers by their index in the collection, so the suffixed
ids never leave the controller. Where xdist's own suffix still works (pytest before 9.2), the
ids arrive suffixed and are left as they are. Registered by the root ``conftest.py``.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from xdist.scheduler import LoadGroupScheduling

#: Where the controller keeps the directory the workers write their groups into.
GROUPS_DIR = pytest.StashKey[Path]()
#: The ``workerinput`` key that hands the directory to a worker.
WORKERINPUT_KEY = "safemigrate_groups_dir"


def group_of(item: pytest.Item) -> str | None:
    """The item's group as xdist names it (several ``xdist_group`` marks: sorted, ``_``-joined)."""
    names = {
        str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
        for mark in item.iter_markers("xdist_group")
    }
    return "_".join(sorted(names)) if names else None


def has_group_suffix(nodeid: str) -> bool:
    """Whether ``nodeid`` already ends with ``@<group>`` (an ``@`` inside ``[...]`` is a param)."""
    return nodeid.rfind("@") > nodeid.rfind("]")


def grouped_ids(ids: Sequence[str], groups: dict[str, str]) -> list[str]:
    """``ids`` with ``@<group>`` added to those in ``groups`` (node id -> group name)."""
    return [
        f"{nodeid}@{groups[nodeid]}"
        if nodeid in groups and not has_group_suffix(nodeid)
        else nodeid
        for nodeid in ids
    ]


def groups_file(directory: Path, workerid: str) -> Path:
    return directory / f"{workerid}.json"


class GroupFileScheduling(LoadGroupScheduling):
    """xdist's ``loadgroup`` scheduler, reading each worker's groups from its file."""

    def __init__(self, config: pytest.Config, log: Any, directory: Path) -> None:
        super().__init__(config, log)
        self.directory = directory

    def add_node_collection(self, node: Any, collection: Sequence[str]) -> None:
        path = groups_file(self.directory, node.workerinput["workerid"])
        # A worker whose collection failed (a path that does not exist, an import error) never
        # reached the hook that writes the file; pytest reports that error, not a missing file.
        groups: dict[str, str] = (
            json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
        )
        super().add_node_collection(node, grouped_ids(collection, groups))


def is_loadgroup(config: pytest.Config) -> bool:
    return bool(config.getoption("dist", default="no") == "loadgroup")


def pytest_configure(config: pytest.Config) -> None:
    if is_loadgroup(config) and not hasattr(config, "workerinput"):
        config.stash[GROUPS_DIR] = Path(tempfile.mkdtemp(prefix="safemigrate-xdist-groups-"))


def pytest_unconfigure(config: pytest.Config) -> None:
    directory = config.stash.get(GROUPS_DIR, None)
    if directory is not None:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    directory = node.config.stash.get(GROUPS_DIR, None)
    if directory is not None:
        node.workerinput[WORKERINPUT_KEY] = str(directory)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> GroupFileScheduling | None:
    directory = config.stash.get(GROUPS_DIR, None)
    return None if directory is None else GroupFileScheduling(config, log, directory)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On a worker: write node id -> group for the grouped tests (before xdist reports the
    collection to the controller, which happens after this hook)."""
    workerinput = getattr(config, "workerinput", None)
    if workerinput is None or WORKERINPUT_KEY not in workerinput:
        return
    groups = {item.nodeid: group for item in items if (group := group_of(item)) is not None}
    path = groups_file(Path(workerinput[WORKERINPUT_KEY]), workerinput["workerid"])
    path.write_text(json.dumps(groups), encoding="utf-8")
