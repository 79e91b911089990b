"""Run ``flask db safe-upgrade --format json`` on a 3-revision SQLite history in this process,
as a subprocess of a test: ``python -m tests.telemetry.cli_run MODE FOLDER``.

``blocked``: an import blocker makes ``opentelemetry`` missing, as without the extra.
``sdk``: the global providers are the SDK's with an in-memory exporter, as an app sets them.
``plain``: neither (the API's no-op providers). Prints one JSON object: the exit code, the
report, the ``opentelemetry`` modules loaded, and the finished spans' names and revisions.
"""

from __future__ import annotations

import importlib.abc
import json
import sys
from pathlib import Path
from typing import Any


class Blocker(importlib.abc.MetaPathFinder):
    """``import opentelemetry...`` fails as it does where the package is not installed."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name == "opentelemetry" or name.startswith("opentelemetry."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)


def main(mode: str, folder: Path) -> None:
    if mode == "blocked":
        sys.meta_path.insert(0, Blocker())
    exporter = None
    if mode == "sdk":
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(provider)

    from flask import Flask
    from flask_sqlalchemy import SQLAlchemy

    from flask_safemigrate import SafeMigrate
    from tests.support.cli import invoke
    from tests.upgrade.histories import TABLES, models, prepare

    app = Flask(__name__, instance_path=str(folder / "instance"))
    app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{folder / 'app.db'}"
    db = SQLAlchemy()
    models(TABLES[:3])(db)
    db.init_app(app)
    SafeMigrate().init_app(app, db, directory=folder / "migrations")
    prepare(app, count=3)
    result = invoke(app, "db", "safe-upgrade", "--format", "json")
    spans = [
        {"name": span.name, "revision": (span.attributes or {}).get("safemigrate.revision")}
        for span in (exporter.get_finished_spans() if exporter is not None else ())
    ]
    loaded = sorted(name for name in sys.modules if name.split(".")[0] == "opentelemetry")
    print(
        json.dumps(
            {
                "exit_code": result.exit_code,
                "report": json.loads(result.stdout),
                "stderr": result.stderr,
                "loaded": loaded,
                "spans": spans,
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]))
