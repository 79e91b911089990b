"""lint_files raises the garbage collector's young threshold while it lints, then restores it."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from flask_safemigrate.lint import engine
from flask_safemigrate.lint.engine import LintConfig, lint_files
from flask_safemigrate.lint.reading import read_script

FIXTURE = Path(__file__).parent / "fixtures" / "drop-table.py"


@pytest.fixture
def thresholds() -> Iterator[None]:
    saved = gc.get_threshold()
    yield
    gc.set_threshold(*saved)


def _threshold_while_linting(monkeypatch: pytest.MonkeyPatch) -> int:
    seen: list[int] = []

    def spy(path: Path) -> object:
        seen.append(gc.get_threshold()[0])
        return read_script(path)

    monkeypatch.setattr(engine, "read_script", spy)
    results = lint_files([FIXTURE], engine.select_rules(LintConfig(), []), LintConfig(), None)
    assert [r.path for r in results] == [FIXTURE]
    return seen[0]


def test_young_threshold_is_raised_while_linting_and_restored(
    monkeypatch: pytest.MonkeyPatch, thresholds: None
) -> None:
    gc.set_threshold(700, 10, 10)
    assert _threshold_while_linting(monkeypatch) == engine.YOUNG_COLLECTION_THRESHOLD
    assert gc.get_threshold() == (700, 10, 10)


def test_collection_switched_off_stays_off(
    monkeypatch: pytest.MonkeyPatch, thresholds: None
) -> None:
    gc.set_threshold(0, 10, 10)
    assert _threshold_while_linting(monkeypatch) == 0
    assert gc.get_threshold() == (0, 10, 10)


def test_thresholds_come_back_when_linting_raises(
    monkeypatch: pytest.MonkeyPatch, thresholds: None
) -> None:
    gc.set_threshold(700, 10, 10)

    def broken(path: Path) -> object:
        raise RuntimeError("boom")

    monkeypatch.setattr(engine, "read_script", broken)
    with pytest.raises(RuntimeError):
        lint_files([FIXTURE], [], LintConfig(), None)
    assert gc.get_threshold() == (700, 10, 10)
