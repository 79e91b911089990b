"""SM313 unparseable-script: The script cannot be read or parsed."""

from __future__ import annotations

from flask_safemigrate.lint.model import Rule
from flask_safemigrate.lint.registry import register


@register
class UnparseableScript(Rule):
    """The script cannot be read or parsed.

    ## What it does
    Reports a script with a syntax error, bytes that are not valid UTF-8, or that cannot be
    read. The engine reports this itself; the rest of the run goes on.

    ## Why it matters
    Alembic imports every script in the versions directory, so one broken file stops every
    `flask db` command, including the upgrade of a deploy.

    ## Example
    ```python
    def upgrade():
        op.add_column("users", sa.Column("email", sa.String(120))
    ```

    ## Use instead
    ```python
    def upgrade():
        op.add_column("users", sa.Column("email", sa.String(120)))
    ```
    """

    code = "SM313"
    name = "unparseable-script"
    fix = "fix the file so that Python can parse it"
