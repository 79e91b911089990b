"""The Alembic revision graph, read statically with :mod:`ast`.

Alembic loads a revision by executing the script, which imports the application, needs its
settings and fails on the first broken file. Checks that must run before anything is trusted
(pre-flight, ``verify``, ``lint``) therefore read the scripts as text: one read and one
``ast.parse`` per file, and every defect becomes a :class:`GraphProblem` instead of an exception.

The parts, each importable on its own: :mod:`.model` (the data), :mod:`.files` (finding the
files), :mod:`.scripts` (reading one), :mod:`.identifiers` (id checks) and :mod:`.graph`;
:mod:`.cache` keeps what the reads found between safe-upgrade runs.
"""

from __future__ import annotations

from flask_safemigrate.history.cache import ScriptCache
from flask_safemigrate.history.files import (
    not_regular,
    resolved,
    unreadable_reason,
    version_locations,
)
from flask_safemigrate.history.graph import RevisionGraph, load_graph
from flask_safemigrate.history.identifiers import identifier_problems, overlong_ids
from flask_safemigrate.history.model import (
    GraphProblem,
    RevisionCycleError,
    RevisionLookupError,
    Script,
)
from flask_safemigrate.history.script_json import script_from_json, script_to_json
from flask_safemigrate.history.scripts import (
    is_empty_body,
    parse_source,
    read_script,
    top_level_imports,
)

__all__ = [
    "GraphProblem",
    "RevisionCycleError",
    "RevisionGraph",
    "RevisionLookupError",
    "Script",
    "ScriptCache",
    "identifier_problems",
    "is_empty_body",
    "load_graph",
    "not_regular",
    "overlong_ids",
    "parse_source",
    "read_script",
    "resolved",
    "script_from_json",
    "script_to_json",
    "top_level_imports",
    "unreadable_reason",
    "version_locations",
]
