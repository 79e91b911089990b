"""The base of the history rules that report one kind of revision-graph problem."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from flask_safemigrate import history
from flask_safemigrate.lint.model import Rule, Violation


class GraphProblemRule(Rule):
    """Shared body: report the history module's problems of one kind."""

    check_name: ClassVar[str]

    def check_graph(self, graph: history.RevisionGraph) -> Iterator[Violation]:
        for problem in graph.problems:
            if problem.check == self.check_name:
                yield Violation(
                    problem.message,
                    line=problem.line or 1,
                    col=1,
                    path=problem.path,
                    help=problem.hint,
                )
