"""Sphinx configuration of the docs site: ``make docs`` (or ``nox -s docs``) builds it.

The pages are the Markdown files of ``docs/`` (MyST-Parser), the same files GitHub shows, linked
from the README; ``_ext/safemigrate_docs.py`` fills the settings and rules
references from the code at build time.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))

from flask_safemigrate.version import __version__  # noqa: E402

project = "flask-safemigrate"
author = "flask-safemigrate developers"
copyright = "flask-safemigrate developers, MIT License"
release = __version__
version = ".".join(__version__.split(".")[:2])

extensions = ["myst_parser", "safemigrate_docs"]
source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "_ext", "Thumbs.db", ".DS_Store"]

# GitHub-style heading anchors, so the links written for GitHub (rules.md's #sm101-drop-table,
# the pages' links to each other's sections) resolve on the site too.
myst_heading_anchors = 4
myst_enable_extensions = ["colon_fence", "deflist"]

html_theme = "furo"
html_title = f"flask-safemigrate {release}"
