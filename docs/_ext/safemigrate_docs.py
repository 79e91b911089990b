"""Pages of the docs site that are generated from the code at build time, never copied by hand.

When Sphinx reads a page (``source-read``), this extension fills two of them from the code:

- ``settings``: the table between its two marker lines is built again from
  :data:`flask_safemigrate.settings.SPECS` (the committed copy, which GitHub shows, is kept equal
  to it by a test; ``python docs/_ext/safemigrate_docs.py`` rewrites it);
- ``rules``: the whole page is :func:`render_rules_markdown`, the generator that also writes the
  committed ``docs/rules.md`` (a test keeps that file current; the site does not depend on it).

A setting or rule added in the code is on the site at the next build, and a settings page that
lost a marker fails the build instead of publishing a reference without its table.

The rendering functions import nothing from Sphinx, so the tests can call them.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask_safemigrate.lint.docs import render_rules_markdown
from flask_safemigrate.settings import SPECS

if TYPE_CHECKING:
    from sphinx.application import Sphinx

SETTINGS_MARKER = "<!-- generated: settings table -->"
SETTINGS_END_MARKER = "<!-- end of the generated settings table -->"
SETTINGS_PAGE = Path(__file__).resolve().parent.parent / "settings.md"


def render_settings_table() -> str:
    """Every ``SAFEMIGRATE_*`` key with its default and meaning, in the order of ``SPECS``."""
    lines = ["| key | default | meaning |", "|---|---|---|"]
    for spec in SPECS:
        meaning = spec.meaning.replace("|", "\\|")
        lines.append(f"| `{spec.key}` | `{spec.default!r}` | {meaning} |")
    return "\n".join(lines) + "\n"


def fill_settings_page(text: str) -> str:
    """The settings page with the text between its two marker lines replaced by a fresh table."""
    for marker in (SETTINGS_MARKER, SETTINGS_END_MARKER):
        if text.count(marker) != 1:
            raise ValueError(
                f"docs/settings.md has its marker line {marker!r} {text.count(marker)} times, not"
                f" once: the table of settings goes between {SETTINGS_MARKER!r} and"
                f" {SETTINGS_END_MARKER!r}"
            )
    before, rest = text.split(SETTINGS_MARKER)
    _, after = rest.split(SETTINGS_END_MARKER)
    table = render_settings_table()
    return f"{before}{SETTINGS_MARKER}\n\n{table}\n{SETTINGS_END_MARKER}{after}"


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


def main() -> int:
    """Rewrite docs/settings.md's committed table from the code (what the site builds anyway)."""
    page = SETTINGS_PAGE.read_text(encoding="utf-8")
    filled = fill_settings_page(page)
    if filled != page:
        SETTINGS_PAGE.write_text(filled, encoding="utf-8")
        print(f"{SETTINGS_PAGE}: settings table rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main())
