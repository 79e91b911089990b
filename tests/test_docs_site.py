"""The docs site's generated pages stay true to their sources, and its links work on GitHub.

The site itself is built by ``make docs`` (Sphinx, warnings as errors) in CI; these tests catch,
in a second and without Sphinx, what would otherwise be found only there: a settings table that
lost a key, a page whose marker is gone. And what Sphinx never sees: the README's links into
``docs/``, and the pages' links as GitHub follows them (a file or a heading that is gone).
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


def test_settings_page_commits_the_table_the_site_builds() -> None:
    # GitHub shows the committed page; the site builds the table again from SPECS.
    extension = _extension()
    page = (DOCS / "settings.md").read_text(encoding="utf-8")
    assert extension.fill_settings_page(page) == page, (
        "docs/settings.md's table is not the one the code gives:"
        " run `python docs/_ext/safemigrate_docs.py`"
    )


def test_settings_page_gets_a_fresh_table_between_its_markers() -> None:
    extension = _extension()
    page = (DOCS / "settings.md").read_text(encoding="utf-8")
    start, end = extension.SETTINGS_MARKER, extension.SETTINGS_END_MARKER
    row = "| `SAFEMIGRATE_LOCK_WAIT` | `600` |"
    stale = page.replace(row, row.replace("600", "60"))
    assert stale != page
    filled = extension.fill_settings_page(stale)
    assert filled == page
    assert filled.count(start) == filled.count(end) == 1
    table = filled.split(start)[1].split(end)[0]
    assert table.strip() == extension.render_settings_table().strip()


@pytest.mark.parametrize(
    "text",
    [
        "# Settings\n\nno table here\n",
        "# Settings\n\n<!-- generated: settings table -->\n| key |\n",
        "<!-- end of the generated settings table -->\n<!-- generated: settings table -->\n" * 2,
    ],
)
def test_settings_page_without_its_markers_fails_the_build(text: str) -> None:
    with pytest.raises(ValueError, match=r"docs/settings\.md has its marker line"):
        _extension().fill_settings_page(text)


def _github_anchor(heading: str) -> str:
    """The id GitHub (and MyST's ``myst_heading_anchors``) gives a heading."""
    text = heading.strip().lower().replace("`", "")
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    text = re.sub(r"^```.*?^```$", "", page.read_text(encoding="utf-8"), flags=re.M | re.S)
    return {_github_anchor(h) for h in re.findall(r"^#{1,6} (.+)$", text, re.M)}


def _local_links(page: Path) -> list[str]:
    text = re.sub(r"^```.*?^```$", "", page.read_text(encoding="utf-8"), flags=re.M | re.S)
    targets = re.findall(r"\]\(([^)\s]+)\)", text)
    return [t for t in targets if not re.match(r"[a-z]+:", t)]


def _markdown_pages() -> list[Path]:
    pages = [README, *sorted(DOCS.rglob("*.md"))]
    return [page for page in pages if "_build" not in page.parts]


def test_every_local_link_finds_its_file_and_heading() -> None:
    broken = []
    for page in _markdown_pages():
        for link in _local_links(page):
            path, _, anchor = link.partition("#")
            target = (page.parent / path).resolve() if path else page
            if not target.exists():
                broken.append(f"{page.relative_to(ROOT)}: {link} (no such file)")
            elif anchor and target.suffix == ".md" and anchor not in _anchors(target):
                broken.append(f"{page.relative_to(ROOT)}: {link} (no such heading)")
    assert not broken, "\n".join(broken)


def test_the_readme_links_to_every_page_of_the_site() -> None:
    links = {(README.parent / link.partition("#")[0]).resolve() for link in _local_links(README)}
    pages = {page.resolve() for page in DOCS.rglob("*.md") if "_build" not in page.parts}
    # changelog.md only includes CHANGELOG.md, which the README links to directly.
    unlinked = sorted(
        str(page.relative_to(ROOT)) for page in pages - links if page.name != "changelog.md"
    )
    assert not unlinked, f"the README does not link to: {unlinked}"


def test_no_page_includes_the_readme() -> None:
    # The reference moved out of the README for good (issue #21): each section's text lives in
    # its page, and the README links to it.
    including = [
        str(page.relative_to(ROOT))
        for page in _markdown_pages()
        if re.search(r"^```\{include\} [./]*README\.md$", page.read_text(encoding="utf-8"), re.M)
    ]
    assert not including


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
