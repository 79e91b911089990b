"""SM402 vague-message: The revision's message is missing or says nothing."""

from __future__ import annotations

from collections.abc import Iterator

from flask_safemigrate.lint.helpers.messages import PUNCTUATION, VAGUE_WORDS
from flask_safemigrate.lint.model import Migration, Rule, Violation
from flask_safemigrate.lint.registry import register
from flask_safemigrate.report import Severity


@register
class VagueMessage(Rule):
    """The revision's message is missing or says nothing.

    ## What it does
    Reads the revision message (the first line of the script's docstring, which
    `flask db migrate -m` writes) and reports it when it is missing or made only of generic
    words: `empty message` (what Flask-Migrate writes when `-m` is not given), `None`,
    `update`, `changes`, `fix`, `WIP: db changes`, `migration`, `auto`, `test`, `tmp`,
    `misc`, `update models` and the like, compared case-insensitively without punctuation.
    "Initial migration" is a fine message for a first revision.

    ## Why it matters
    The message is what `flask db history`, the file name and a reviewer see. During an
    incident, "empty message" does not say which revision added the column that is now
    failing, or whether it is safe to roll back.

    ## Example
    ```python
    '''empty message

    Revision ID: 3f2a1b9c8d7e
    '''
    ```

    ## Use instead
    ```python
    '''add email to users

    Revision ID: 3f2a1b9c8d7e
    '''
    ```
    (`flask db migrate -m "add email to users"`)
    """

    code = "SM402"
    name = "vague-message"
    severity = Severity.WARNING
    fix = (
        "describe the change in the first docstring line"
        ' (`flask db migrate -m "add email to users"`)'
    )

    def check(self, migration: Migration) -> Iterator[Violation]:
        if migration.info is None:
            return  # not a revision script (no `revision = ...`)
        message = migration.info.message
        if message is not None and message.lower().startswith("revision id:"):
            message = None  # `-m ""`: the docstring starts with the identifiers
        if message is None:
            yield Violation(
                "the revision has no message; `flask db history` and reviewers cannot tell "
                "what it does",
                line=1,
                col=1,
            )
            return
        words = message.lower().translate(PUNCTUATION).split()
        if all(word in VAGUE_WORDS or word.isdigit() for word in words):
            yield Violation(
                f"the revision message {message!r} does not say what the migration changes",
                line=1,
                col=1,
            )
