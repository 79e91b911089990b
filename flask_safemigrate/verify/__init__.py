"""``flask db verify``: the history, the database against it, drift, the ledger, a roundtrip.

:func:`verify` returns a :class:`~flask_safemigrate.report.Result`: the report, whose
findings carry the check names of the contract (docs/architecture.md), and the command's exit
code (:func:`exit_code`). Nothing here prints or exits.

Checks, in the order they run:

1. Static, from the scripts read as text (:mod:`flask_safemigrate.history`, nothing is
   imported, so a history Alembic refuses to load is reported, not crashed on):
   ``multiple-heads``, ``duplicate-revision``, ``missing-parent``, ``revision-cycle``,
   ``unparseable-script`` and ``missing-downgrade`` (a warning).
2. Against the app's database, for the default engine and, with Flask-Migrate's multi-database
   template, every bind: ``database-unreachable``, ``unknown-database-revision``,
   ``not-at-head``, ``schema-drift`` (only at head: a database behind head differs from the
   models by design), and from the ledger when it exists ``edited-after-apply`` and
   ``failed-migration``.
3. With ``roundtrip=True``, on scratch databases (never the app's own): every revision
   from base is upgraded, snapshotted, downgraded (``downgrade-leaves-trace`` when the schema
   is not what it was) and upgraded again; at head the schema is compared with the models
   (``schema-drift``). Any error stops the roundtrip as ``roundtrip-failed``.

Where the scratch databases come from, and how the roundtrip runs the app's own ``env.py``
against them without touching the app: see :mod:`flask_safemigrate.scratch`.

The package, in the order a run reads it: :mod:`.setup` (what is read from the app once),
:mod:`.static_checks`, :mod:`.database_checks` with :mod:`.ledger_checks`, :mod:`.roundtrip`,
and :mod:`.orchestration` (the entry point). Safe-upgrade reuses the checks (same names, same
findings) before and after it applies revisions.
"""

from __future__ import annotations

from flask_safemigrate.text import display_path
from flask_safemigrate.verify.database_checks import (
    DRIFT_HINT,
    check_schema_models,
    drift_findings,
    unknown_revision,
)
from flask_safemigrate.verify.ledger_checks import applied_revisions, ledger_findings
from flask_safemigrate.verify.orchestration import CHECKS, SCRATCH_PREFIX, exit_code, verify
from flask_safemigrate.verify.setup import Setup, Target, setup_of, uses_multidb
from flask_safemigrate.verify.static_checks import (
    describe,
    graph_finding,
    static_findings,
    stock_width_findings,
    width_findings,
)

__all__ = [
    "CHECKS",
    "DRIFT_HINT",
    "SCRATCH_PREFIX",
    "Setup",
    "Target",
    "applied_revisions",
    "check_schema_models",
    "describe",
    "display_path",
    "drift_findings",
    "exit_code",
    "graph_finding",
    "ledger_findings",
    "setup_of",
    "static_findings",
    "stock_width_findings",
    "unknown_revision",
    "uses_multidb",
    "verify",
    "width_findings",
]
