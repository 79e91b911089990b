"""SM405 file-name-convention."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime

from flask_safemigrate.lint.model import Migration, Rule, Violation
from flask_safemigrate.lint.patterns import compiled_later
from flask_safemigrate.lint.registry import register
from flask_safemigrate.report import Severity

_FILE_NAME = compiled_later(r"(\d{4})_(\d{2})_(\d{2})_(\d{2})(\d{2})_(.+)\.py")
_SLUG = compiled_later(r"[a-z0-9]+(?:_[a-z0-9]+)*")


def _slug(message: str | None) -> str:
    """Alembic's slug of a message (``%(slug)s``, truncated to 40 characters)."""
    words = re.findall(r"\w+", message or "", flags=re.UNICODE)
    slug = "_".join(words).lower()
    if len(slug) > 40:
        slug = slug[:40].rsplit("_", 1)[0] or slug[:40]
    return slug or "migration"


def _suggestion(migration: Migration) -> str:
    info = migration.info
    assert info is not None
    stamp = None
    if info.create_date:
        try:
            stamp = datetime.fromisoformat(info.create_date.strip())
        except ValueError:
            stamp = None
    prefix = stamp.strftime("%Y_%m_%d_%H%M") if stamp else "YYYY_MM_DD_HHMM"
    return f"{prefix}_{info.revision}_{_slug(info.message)}.py"


def _name_problem(file_name: str, revision: str) -> str | None:
    """What is wrong with a script's file name, or ``None`` when it follows the convention."""
    match = _FILE_NAME.fullmatch(file_name)
    if match is None:
        return "does not start with a YYYY_MM_DD_HHMM_ timestamp"
    year, month, day, hour, minute, rest = match.groups()
    try:
        datetime(int(year), int(month), int(day), int(hour), int(minute))
    except ValueError:
        return (
            f"starts with {year}_{month}_{day}_{hour}{minute}, which is not a valid date and time"
        )
    if not rest.startswith(revision + "_"):
        return f"does not carry the script's revision id {revision} after the timestamp"
    if _SLUG.fullmatch(rest[len(revision) + 1 :]) is None:
        return "does not end in a lowercase slug of [a-z0-9_]"
    return None


@register
class FileNameConvention(Rule):
    """The script's file name is not `YYYY_MM_DD_HHMM_<revision>_<slug>.py`.

    ## What it does
    Off by default. Reports a script whose file name is not a valid date and time
    (`YYYY_MM_DD_HHMM`), then the script's own revision id, then a lowercase slug of
    `[a-z0-9_]`. That is what Alembic writes with
    `file_template = %%(year)d_%%(month).2d_%%(day).2d_%%(hour).2d%%(minute).2d_%%(rev)s_%%(slug)s`
    in `alembic.ini`.

    ## Why it matters
    Alembic orders scripts by their revision graph, but people read the directory: with
    dated names the listing is the history, merge conflicts between branches show up next
    to each other, and a file whose name carries another revision id (a copied script)
    stands out.

    ## Example
    ```text
    migrations/versions/3f2a1b9c8d7e_.py
    migrations/versions/add users.py
    ```

    ## Use instead
    ```text
    migrations/versions/2024_05_14_0932_3f2a1b9c8d7e_add_users.py
    ```
    """

    code = "SM405"
    name = "file-name-convention"
    severity = Severity.WARNING
    default_enabled = False
    fix = (
        "rename the file to YYYY_MM_DD_HHMM_<revision>_<slug>.py (set file_template in alembic.ini)"
    )

    def check(self, migration: Migration) -> Iterator[Violation]:
        if migration.info is None:
            return
        name = migration.path.name
        problem = _name_problem(name, migration.info.revision)
        if problem is not None:
            yield Violation(
                f"file name {name} {problem}; expected YYYY_MM_DD_HHMM_<revision>_<slug>.py, "
                f"such as {_suggestion(migration)}",
                line=1,
                col=1,
            )
