"""The finding factories verify and safe-upgrade share, one module per family of contract checks.

Each function is named after the check it reports (docs/architecture.md, "Contracts": names)
and returns :class:`~flask_safemigrate.report.Finding` objects; the commands decide what a
finding means for their exit code (verify fails a check, safe-upgrade's pre-flight stops):

- :mod:`.graph`: the scripts read as text (``multiple-heads``, ``duplicate-revision``,
  ``missing-parent``, ``revision-cycle``, ``unparseable-script``, ``missing-downgrade``,
  ``invalid-revision-id``);
- :mod:`.position`: where a database stands (``database-unreachable``,
  ``unknown-database-revision``, ``not-at-head``, ``overlapping-database-revisions``);
- :mod:`.ledger`: the ledger's rows (``edited-after-apply``, ``failed-migration``);
- :mod:`.drift`: the live schema against the models (``schema-drift``);
- :mod:`.unmapped`: columns the models leave out of their inserts though the database
  requires them (``unmapped-required-column``);
- :mod:`.snapshot`: the committed models snapshot against the models
  (``models-snapshot-stale``);
- :mod:`.indexes`: PostgreSQL indexes left INVALID (``invalid-index``);
- :mod:`.failures`: a revision that failed while applied (``migration-failed``,
  ``connection-lost``), worded from the :class:`~.failures.Failure` the run gathered.

They read what they are given (a :class:`~flask_safemigrate.project.Setup`, a target, a
connection) and never print, connect on their own or stop a run.
"""

from __future__ import annotations

from flask_safemigrate.checks.drift import DRIFT_HINT, check_schema_models, drift_findings
from flask_safemigrate.checks.failures import (
    Failure,
    commits_implicitly,
    connection_lost,
    kept_by_mysql,
    migration_failed,
)
from flask_safemigrate.checks.graph import (
    describe,
    graph_finding,
    static_findings,
    stock_width_findings,
    width_findings,
)
from flask_safemigrate.checks.indexes import invalid_index_findings
from flask_safemigrate.checks.ledger import applied_revisions, ledger_findings
from flask_safemigrate.checks.position import (
    database_unreachable,
    not_at_head,
    overlapping_revisions,
    unknown_revision,
)
from flask_safemigrate.checks.snapshot import snapshot_findings
from flask_safemigrate.checks.unmapped import UNMAPPED_RULE, unmapped_findings

__all__ = [
    "DRIFT_HINT",
    "UNMAPPED_RULE",
    "Failure",
    "applied_revisions",
    "check_schema_models",
    "commits_implicitly",
    "connection_lost",
    "database_unreachable",
    "describe",
    "drift_findings",
    "graph_finding",
    "invalid_index_findings",
    "kept_by_mysql",
    "ledger_findings",
    "migration_failed",
    "not_at_head",
    "overlapping_revisions",
    "snapshot_findings",
    "static_findings",
    "stock_width_findings",
    "unknown_revision",
    "unmapped_findings",
    "width_findings",
]
