"""Which of Alembic's operation tables a call's receiver (``op`` or ``batch_op``) answers to.

SM319 (a keyword the operation does not take) and SM324 (an operation Alembic does not
have) both start from it; any other receiver is not Alembic's and neither rule reads it.
"""

from __future__ import annotations

from collections.abc import Mapping

from flask_safemigrate.lint.helpers.op_signatures import BATCH_KEYWORDS, OP_KEYWORDS

__all__ = ["Signatures", "signatures_of"]

#: ``operation name -> (keywords, takes **kw)``, as :mod:`.op_signatures` lists them.
Signatures = Mapping[str, tuple[frozenset[str], bool]]


def signatures_of(receiver: str | None) -> Signatures | None:
    """The operations of ``op.*`` or of ``batch_op.*``; ``None`` for any other receiver."""
    if receiver == "op":
        return OP_KEYWORDS
    if receiver == "batch_op":
        return BATCH_KEYWORDS
    return None
