"""The live database as pre-flight sees it: what the pending revisions lock, how big those
tables are now, and who holds a long transaction on them.

Modules, in the order pre-flight uses them: :mod:`.statements` (each pending ``upgrade()``
statement on a named table, in plan order), :mod:`.lock_levels` (the lock it takes and its
expected impact, per dialect), :mod:`.sizes` (one read per database for every table), and
:mod:`.gate` (lint's size-bound locking findings judged by those sizes). Long transactions
are named by :func:`flask_safemigrate.blockers.holders`. Nothing here prints; the safe-upgrade
pre-flight (``upgrade/live_check.py``) ties them to a run.
"""

from __future__ import annotations

from flask_safemigrate.live.gate import Sized, judge
from flask_safemigrate.live.lock_levels import lock_of
from flask_safemigrate.live.sizes import TableKey, TableSize, format_bytes, read_sizes
from flask_safemigrate.live.statements import Statement, pending_statements

__all__ = [
    "Sized",
    "Statement",
    "TableKey",
    "TableSize",
    "format_bytes",
    "judge",
    "lock_of",
    "pending_statements",
    "read_sizes",
]
