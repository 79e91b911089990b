"""Revision-script builders: the text of a script, and writing it into ``versions/``.

:func:`revision_script` writes the single-database template's shape, :func:`multidb_script` the
multi-database template's (``upgrade(engine_name)`` dispatching to ``upgrade_<bind>``).
Bodies are source text, dedented and indented here, so tests write them at any indentation.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Sequence
from pathlib import Path


def write_revision(migrations: Path, source: str, *, filename: str | None = None) -> Path:
    """Write a revision script (``source`` is dedented) into ``migrations/versions``.

    The file is named ``<revision>_test.py`` after the script's ``revision = '...'`` unless
    ``filename`` is given.
    """
    text = textwrap.dedent(source).lstrip("\n")
    if filename is None:
        found = re.search(r"""^revision\s*(?::[^=]*)?=\s*['"]([^'"]+)['"]""", text, re.MULTILINE)
        assert found is not None, "the script has no `revision = '...'` line"
        filename = f"{found.group(1)}_test.py"
    path = migrations / "versions" / filename
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def body(text: str) -> str:
    """A function body: ``text`` dedented, stripped and indented by four spaces."""
    return textwrap.indent(textwrap.dedent(text).strip(), "    ")


def revision_script(
    rev: str,
    down: str | Sequence[str] | None,
    upgrade: str = "pass",
    downgrade: str | None = "pass",
    *,
    message: str | None = None,
    labels: Sequence[str] | None = None,
    header: str = "",
) -> str:
    """A single-database revision script; ``upgrade``/``downgrade`` are function bodies.

    ``down`` is one parent, several (a merge) or ``None``; ``downgrade=None`` writes no
    downgrade function at all; ``header`` is extra source after the imports.
    """
    down_literal = repr(tuple(down) if isinstance(down, list | tuple) else down)
    labels_literal = repr(tuple(labels)) if labels else "None"
    text = (
        f'"""{message or f"step {rev}"}\n\nRevision ID: {rev}\n"""\n'
        f"import sqlalchemy as sa\nfrom alembic import op\n{header}\n"
        f'revision = "{rev}"\ndown_revision = {down_literal}\n'
        f"branch_labels = {labels_literal}\ndepends_on = None\n\n\n"
        f"def upgrade():\n{body(upgrade)}\n"
    )
    if downgrade is not None:
        text += f"\n\ndef downgrade():\n{body(downgrade)}\n"
    return text


def multidb_script(rev: str, down: str | None, default: str, logs: str, message: str) -> str:
    """A revision in the multi-database template's shape; ``default`` and ``logs`` are each
    ``upgrade---downgrade`` source text for the default bind and the ``logs`` bind."""
    up_default, down_default = default.split("---")
    up_logs, down_logs = logs.split("---")
    return (
        f'"""{message}\n\nRevision ID: {rev}\n"""\n'
        "import sqlalchemy as sa\nfrom alembic import op\n\n"
        "from flask_safemigrate import guards\n\n"
        f'revision = "{rev}"\ndown_revision = {down!r}\nbranch_labels = None\ndepends_on = None\n'
        "\n\ndef upgrade(engine_name):\n"
        '    globals()["upgrade_%s" % engine_name]()\n'
        "\n\ndef downgrade(engine_name):\n"
        '    globals()["downgrade_%s" % engine_name]()\n'
        f"\n\ndef upgrade_():\n{body(up_default)}\n"
        f"\n\ndef downgrade_():\n{body(down_default)}\n"
        f"\n\ndef upgrade_logs():\n{body(up_logs)}\n"
        f"\n\ndef downgrade_logs():\n{body(down_logs)}\n"
    )


def write_users_then_drop_email(migrations: Path, first: str, second: str) -> Path:
    """Two revisions in ``migrations``: ``first`` creates ``users`` (id, email), ``second``
    drops ``users.email`` (SM102, an error). Returns the versions folder."""
    write_revision(
        migrations,
        revision_script(
            first,
            None,
            'op.create_table("users", sa.Column("id", sa.Integer(), primary_key=True),'
            ' sa.Column("email", sa.String(50)))',
            'op.drop_table("users")',
        ),
    )
    write_revision(
        migrations,
        revision_script(
            second,
            first,
            'op.drop_column("users", "email")',
            'op.add_column("users", sa.Column("email", sa.String(50)))',
        ),
    )
    return migrations / "versions"
