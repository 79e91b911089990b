"""The lint rules, one module per rule under ``rules/<family>/`` (see :mod:`..registry`).

Families by code (a contract, see docs/architecture.md): ``destructive`` 1xx, ``locking`` 2xx
(locking and zero-downtime), ``correctness`` 3xx (correctness, reversibility and idempotency),
``conventions`` 4xx, ``history_graph`` 5xx. This package imports nothing:
:mod:`flask_safemigrate.lint.registry` loads the rule modules.
"""
