"""The names safe-upgrade's spans and metrics carry.

OpenTelemetry's semantic conventions for databases where they apply (``db.system.name``,
``db.namespace``, ``server.address``, ``server.port``, ``error.type``: semconv 1.33 and later),
and a ``safemigrate.`` namespace for what is ours. Kept apart so the docs, the subscriber and
the tests read one list.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "DB_NAMESPACE",
    "DB_SYSTEM_NAME",
    "ERROR_TYPE",
    "EXIT_CODE",
    "INSTRUMENTATION",
    "LOCK_WAIT",
    "OUTCOME",
    "POSITION",
    "RETRIES",
    "REVISION",
    "REVISIONS_APPLIED",
    "REVISIONS_FAILED",
    "REVISION_DURATION",
    "SECONDS",
    "SERVER_ADDRESS",
    "SERVER_PORT",
    "STAGE",
    "SYSTEMS",
    "TARGET",
]

#: The tracer's and meter's instrumentation scope.
INSTRUMENTATION: Final = "flask_safemigrate"

# Semantic conventions (databases, errors).
DB_SYSTEM_NAME: Final = "db.system.name"
DB_NAMESPACE: Final = "db.namespace"
SERVER_ADDRESS: Final = "server.address"
SERVER_PORT: Final = "server.port"
ERROR_TYPE: Final = "error.type"

# Ours.
TARGET: Final = "safemigrate.target"
REVISION: Final = "safemigrate.revision"
STAGE: Final = "safemigrate.stage"
SECONDS: Final = "safemigrate.seconds"
OUTCOME: Final = "safemigrate.outcome"
RETRIES: Final = "safemigrate.retries"
POSITION: Final = "safemigrate.position"
EXIT_CODE: Final = "safemigrate.exit_code"

# Metrics.
REVISIONS_APPLIED: Final = "safemigrate.revisions.applied"
REVISIONS_FAILED: Final = "safemigrate.revisions.failed"
REVISION_DURATION: Final = "safemigrate.revision.duration"
LOCK_WAIT: Final = "safemigrate.lock.wait_time"

#: ``db.system.name`` of each SQLAlchemy backend name (the URL's; MySQL's driver says
#: ``mysql`` for a MariaDB server too, unless the URL is ``mariadb://``).
SYSTEMS: Final = {
    "postgresql": "postgresql",
    "mysql": "mysql",
    "mariadb": "mariadb",
    "sqlite": "sqlite",
}
