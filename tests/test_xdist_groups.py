"""``--dist loadgroup`` keeps an ``xdist_group`` on one worker (:mod:`tests.support.xdist_groups`).

The timing group's kills and lock waits assume they run one at a time; when pytest 9.2 stopped
reading xdist's node-id suffix, the group was silently spread over the workers. A small suite
run with two real workers shows where each test ran.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.apps import REPO_ROOT
from tests.support.xdist_groups import grouped_ids, has_group_suffix

CONFTEST = 'pytest_plugins = ("tests.support.xdist_groups",)'
GROUPED = 12
UNGROUPED = 12

SUITE = f"""
import json
import os
from pathlib import Path

import pytest

TIMING = pytest.mark.xdist_group("timing")
OUT = Path(os.environ["GROUPS_OUT"])


def record(name):
    worker = os.environ.get("PYTEST_XDIST_WORKER", "none")
    (OUT / f"{{name}}.json").write_text(json.dumps(worker))


@TIMING
@pytest.mark.parametrize("n", range({GROUPED}))
def test_grouped(n):
    record(f"grouped-{{n}}")


@pytest.mark.parametrize("n", range({UNGROUPED}))
def test_free(n):
    record(f"free-{{n}}")
"""


def test_grouped_ids_add_the_suffix_once() -> None:
    ids = ["a.py::t[x@y]", "a.py::u", "a.py::v@timing", "a.py::w"]
    groups = {"a.py::t[x@y]": "timing", "a.py::v@timing": "timing", "a.py::u": "other"}
    assert grouped_ids(ids, groups) == [
        "a.py::t[x@y]@timing",
        "a.py::u@other",
        "a.py::v@timing",
        "a.py::w",
    ]
    assert has_group_suffix("a.py::v@timing")
    assert not has_group_suffix("a.py::t[x@y]")


def test_a_group_runs_on_one_worker_and_the_rest_on_both(
    pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.setenv("GROUPS_OUT", str(out))
    monkeypatch.setenv("PYTHONPATH", str(REPO_ROOT))
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_suite=SUITE)
    result = pytester.runpytest_subprocess(
        "-n", "2", "--dist", "loadgroup", "-p", "no:cacheprovider", "-q"
    )
    result.assert_outcomes(passed=GROUPED + UNGROUPED)
    ran = {path.stem: json.loads(path.read_text()) for path in out.glob("*.json")}
    grouped = {ran[f"grouped-{n}"] for n in range(GROUPED)}
    assert len(grouped) == 1 and grouped <= {"gw0", "gw1"}, ran
    # Both workers ran tests (xdist hands each worker work units at the start).
    assert set(ran.values()) == {"gw0", "gw1"}, ran
