"""Index facts and dialect sets that several rules declare in ``requires``/``dialects``."""

from __future__ import annotations

from flask_safemigrate.lint.index import EXECUTE, op_facts

UP_EXECUTE = op_facts("execute", receivers=EXECUTE, upgrade=True)

POSTGRESQL = frozenset({"postgresql"})
ANY_EXECUTE = op_facts("execute", receivers=EXECUTE)  # SQL that the rules read too
