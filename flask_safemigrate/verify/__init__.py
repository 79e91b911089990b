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
   ``not-at-head``, ``schema-drift`` and ``unmapped-required-column`` (only at head: a
   database behind head differs from the models by design), and from the ledger when it
   exists ``edited-after-apply`` and ``failed-migration``.
3. With ``roundtrip=True``, on scratch databases (never the app's own): every revision
   from base is upgraded, snapshotted, downgraded (``downgrade-leaves-trace`` when the schema
   is not what it was) and upgraded again; at head the schema is compared with the models
   (``schema-drift``, ``unmapped-required-column``). Any error stops the roundtrip as
   ``roundtrip-failed``. ``compat_with`` builds the schema the same way and reports
   ``breaks-previous-release`` (and ``unmapped-required-column``, once with the roundtrip).

Where the scratch databases come from, and how the roundtrip runs the app's own ``env.py``
against them without touching the app: see :mod:`flask_safemigrate.scratch`.

The package, in the order a run reads it: :mod:`.database_checks` (the checks of one
database, in order), :mod:`.roundtrip` and :mod:`.orchestration` (the entry point). What is
read from the app once is :mod:`flask_safemigrate.project`; the findings themselves come from
:mod:`flask_safemigrate.checks`, which safe-upgrade uses too (same names, same findings)
before and after it applies revisions.
"""

from __future__ import annotations

from flask_safemigrate.verify.orchestration import CHECKS, SCRATCH_PREFIX, exit_code, verify

__all__ = ["CHECKS", "SCRATCH_PREFIX", "exit_code", "verify"]
