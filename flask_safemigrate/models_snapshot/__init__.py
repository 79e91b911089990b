"""The models snapshot (``migrations/models.snapshot.json``): what a release's models map.

In the order a run reads it: :mod:`.describe` (the metadata as sorted, dialect-free data),
:mod:`.files` (the file's place and text, read back, replaced atomically) and
:mod:`.command` (``flask db snapshot``, and the refresh ``flask db migrate`` makes). verify
compares the committed file with the models (``models-snapshot-stale``,
:mod:`flask_safemigrate.checks.snapshot`); ``verify --compat-with`` reads an older one.
"""

from __future__ import annotations

from flask_safemigrate.models_snapshot.command import models_of, refresh, take
from flask_safemigrate.models_snapshot.describe import describe_metadata, describe_type, table_key
from flask_safemigrate.models_snapshot.files import FORMAT, SNAPSHOT_NAME, parse, path_in, render

__all__ = [
    "FORMAT",
    "SNAPSHOT_NAME",
    "describe_metadata",
    "describe_type",
    "models_of",
    "parse",
    "path_in",
    "refresh",
    "render",
    "table_key",
    "take",
]
