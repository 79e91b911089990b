"""Pages of the docs site that are generated from the code at build time, never copied by hand.

When Sphinx reads a page (``source-read``), this extension fills two of them from the code:

- ``settings``: its marker line becomes a table built from
  :data:`flask_safemigrate.settings.SPECS`, the table the README's "Configuration" section is
  checked against by a test;
- ``rules``: the whole page is :func:`render_rules_markdown`, the generator that also writes the
  committed ``docs/rules.md`` (a test keeps that file current; the site does not depend on it).

A setting or rule added in the code is on the site at the next build, and a settings page that
lost its marker fails the build instead of publishing a reference without its table.

The rendering functions import nothing from Sphinx, so the tests can call them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask_safemigrate.lint.docs import render_rules_markdown
from flask_safemigrate.settings import SPECS

if TYPE_CHECKING:
    from sphinx.application import Sphinx

SETTINGS_MARKER = "<!-- generated: settings table -->"


def render_settings_table() -> str:
    """Every ``SAFEMIGRATE_*`` key with its default and meaning, in the order of ``SPECS``."""
    lines = ["| key | default | meaning |", "|---|---|---|"]
    for spec in SPECS:
        meaning = spec.meaning.replace("|", "\\|")
        lines.append(f"| `{spec.key}` | `{spec.default!r}` | {meaning} |")
    return "\n".join(lines) + "\n"


def fill_settings_page(text: str) -> str:
    """The settings page with its marker line replaced by the generated table."""
    if SETTINGS_MARKER not in text:
        raise ValueError(
            f"docs/settings.md lost its marker line {SETTINGS_MARKER!r}: put it back where the"
            " table of settings goes"
        )
    return text.replace(SETTINGS_MARKER, render_settings_table())


def _source_read(app: Sphinx, docname: str, source: list[str]) -> None:
    if docname == "settings":
        source[0] = fill_settings_page(source[0])
    elif docname == "rules":
        source[0] = render_rules_markdown()


def setup(app: Sphinx) -> dict[str, Any]:
    from pygments.lexers.special import TextLexer

    app.connect("source-read", _source_read)
    # Mermaid blocks (the graph section) are shown as text: Pygments has no Mermaid lexer.
    app.add_lexer("mermaid", TextLexer)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
