"""docs/architecture.md places every module of the package, and names no file that is gone.

The page is the newcomer's map; a module added, moved or removed without it fails here, in the
commit that changes the tree.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "flask_safemigrate"
PAGE = ROOT / "docs" / "architecture.md"
#: Files the page names that are not ours: Alembic's and pytest's.
NOT_OURS = {"env.py", "conftest.py"}
#: Packages whose modules the page lists one by one (the others are placed as a whole).
LISTED_PACKAGES = ("merge", "verify")


def _mentioned(name: str, text: str) -> bool:
    return re.search(rf"(?<![\w.]){re.escape(name)}(?![\w])", text) is not None


def test_every_module_and_package_is_on_the_page() -> None:
    text = PAGE.read_text(encoding="utf-8")
    names = [p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"]
    names += [p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()]
    for package in LISTED_PACKAGES:
        names += [p.stem for p in (PACKAGE / package).glob("*.py") if p.stem != "__init__"]
    missing = sorted(name for name in names if not _mentioned(name, text))
    assert not missing, f"docs/architecture.md does not place: {', '.join(missing)}"


def test_every_file_the_page_names_exists() -> None:
    text = PAGE.read_text(encoding="utf-8")
    named = {match.group(1) for match in re.finditer(r"(?<![\w/<>-])([\w/]+\.py)\b", text)}
    gone = sorted(
        path
        for path in named - NOT_OURS
        if not (PACKAGE / path).is_file() and not (ROOT / path).is_file()
    )
    assert named and not gone, f"docs/architecture.md names files that do not exist: {gone}"


def test_the_readme_links_to_the_page() -> None:
    assert "(docs/architecture.md)" in (ROOT / "README.md").read_text(encoding="utf-8")
