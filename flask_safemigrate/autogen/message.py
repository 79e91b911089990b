"""The revision message check: ``flask db migrate`` refuses a message that says nothing.

It uses the word list of the ``vague-message`` lint rule, so a message that passes here
passes there; it runs before Alembic does, so nothing is written when it fails.
"""

from __future__ import annotations

from flask_safemigrate.errors import ConfigError

EXAMPLE = '-m "add email to users"'


def is_vague(message: str) -> bool:
    """Whether the message is empty or made only of generic words and numbers."""
    # Imported here: it is small, but ``flask_safemigrate.lint`` loads the engine.
    from flask_safemigrate.lint.helpers.messages import PUNCTUATION, VAGUE_WORDS

    words = message.lower().translate(PUNCTUATION).split()
    return all(word in VAGUE_WORDS or word.isdigit() for word in words)


def check_writable(message: str | None) -> None:
    """Raise :class:`ConfigError` (exit 2) for a message the script cannot hold.

    Alembic writes the message verbatim into the script's docstring (the stock
    ``script.py.mako`` opens it with three double quotes): three double quotes in the message
    end that string early, and a backslash starts an escape (``x`` or ``N`` after it is a
    syntax error). Alembic then wrote a script that does not parse, failed to load it with a
    traceback, and left the file behind. Checked with or without
    ``SAFEMIGRATE_REQUIRE_MESSAGE``: it is not about style.
    """
    if message is None:
        return
    for text, what in (('"""', "three double quotes"), ("\\", "a backslash")):
        if text in message:
            raise ConfigError(
                f"the message {message!r} holds {what}, which Alembic copies into the"
                " script's docstring unescaped: the script would not parse",
                hint=f"reword it without {text} (single quotes and one double quote are fine)",
            )


def check_message(message: str | None) -> None:
    """Raise :class:`ConfigError` (exit 2) for a missing, empty or generic message."""
    if message is None or not message.strip():
        raise ConfigError(f"a revision message is required: name the change, e.g. {EXAMPLE}")
    if is_vague(message):
        raise ConfigError(
            f"the message {message.strip()!r} does not say what the migration changes:"
            f" name the change, e.g. {EXAMPLE}"
        )
