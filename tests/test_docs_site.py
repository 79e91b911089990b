"""The docs site's generated pages and its README includes stay true to their sources.

The site itself is built by ``make docs`` (Sphinx, warnings as errors) in CI; these tests catch,
in a second and without Sphinx, what would otherwise be found only there: a settings table that
lost a key, a page whose marker is gone, a README heading renamed under a page that includes it.
"""

from __future__ import annotations

import importlib.util
import re
import runpy
from pathlib import Path
from types import ModuleType

import pytest

from flask_safemigrate.settings import SPECS
from flask_safemigrate.version import __version__

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
README = ROOT / "README.md"
COMMAND_PAGES = (
    "safe-upgrade",
    "verify",
    "lint",
    "auto-merge-heads",
    "snapshot",
    "ledger",
    "migrate",
    "graph",
)


def _extension() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "safemigrate_docs", DOCS / "_ext" / "safemigrate_docs.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_settings_table_has_every_key_in_order_with_default_and_meaning() -> None:
    table = _extension().render_settings_table()
    rows = re.findall(r"^\| `(SAFEMIGRATE_[A-Z_]+)` \| `([^`]*)` \| (.+) \|$", table, re.M)
    assert [(key, default) for key, default, _ in rows] == [
        (spec.key, repr(spec.default)) for spec in SPECS
    ]
    assert [meaning for _, _, meaning in rows] == [spec.meaning for spec in SPECS]


def test_settings_table_agrees_with_the_readme_table() -> None:
    pattern = r"^\| `(SAFEMIGRATE_[A-Z_]+)` \| `([^`]*)` \|"
    generated = re.findall(pattern, _extension().render_settings_table(), re.M)
    # The same keys and defaults; the README may order its rows as it likes.
    assert dict(generated) == dict(re.findall(pattern, README.read_text(encoding="utf-8"), re.M))


def test_settings_page_gets_the_table_in_place_of_its_marker() -> None:
    extension = _extension()
    page = (DOCS / "settings.md").read_text(encoding="utf-8")
    filled = extension.fill_settings_page(page)
    assert extension.SETTINGS_MARKER not in filled
    assert extension.render_settings_table() in filled


def test_settings_page_without_its_marker_fails_the_build() -> None:
    with pytest.raises(ValueError, match=r"docs/settings\.md lost its marker line"):
        _extension().fill_settings_page("# Settings\n\nno table here\n")


def _includes() -> list[tuple[Path, str, str]]:
    """``(page, start-after, end-before)`` of every README include of the site."""
    found = []
    for page in sorted(DOCS.rglob("*.md")):
        text = page.read_text(encoding="utf-8")
        for block in re.findall(r"^```\{include\} [./]*README\.md\n(.*?)^```$", text, re.M | re.S):
            start = re.search(r'^:start-after: "(.*)"$', block, re.M)
            end = re.search(r'^:end-before: "(.*)"$', block, re.M)
            assert start and end, f"{page}: a README include needs :start-after: and :end-before:"
            found.append((page, start.group(1), end.group(1)))
    return found


def test_readme_includes_find_their_sections_once_and_in_order() -> None:
    readme = README.read_text(encoding="utf-8")
    includes = _includes()
    assert len(includes) >= 10
    for page, start, end in includes:
        where = f"{page.relative_to(ROOT)}: README include"
        assert readme.count(start) == 1, f"{where} starts after {start!r}: {readme.count(start)}x"
        assert readme.count(end) == 1, f"{where} ends before {end!r}: {readme.count(end)}x"
        assert readme.index(start) < readme.index(end), f"{where}: {end!r} comes before {start!r}"


def test_every_command_has_a_page() -> None:
    pages = {p.stem for p in (DOCS / "commands").glob("*.md")}
    expected = set(COMMAND_PAGES)
    assert expected <= pages
    index = (DOCS / "index.md").read_text(encoding="utf-8")
    assert all(f"commands/{name}\n" in index for name in expected)


def test_sphinx_reads_the_package_version() -> None:
    conf = runpy.run_path(str(DOCS / "conf.py"))
    assert conf["release"] == __version__
    assert __version__.startswith(conf["version"])
