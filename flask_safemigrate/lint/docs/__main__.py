"""``python -m flask_safemigrate.lint.docs``: regenerate (or ``--check``) docs/rules.md.

The entry point's arguments and messages belong to the CLI edge (:mod:`flask_safemigrate.console`).
"""

from flask_safemigrate.console import regenerate_rules_doc

regenerate_rules_doc()
