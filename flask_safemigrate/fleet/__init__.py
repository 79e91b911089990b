"""Fleets: one app's migrations over many tenant schemas or databases (issue #20).

In the order a fleet run uses them: :mod:`.targets` (``SAFEMIGRATE_TARGETS``, imported,
called and checked), :mod:`.sharding` (``--shard``), :mod:`.table` (``safemigrate_fleet``
on the control database), :mod:`.runner` (the stages over one child process per target),
:mod:`.pinning` (what the child does to aim the app at its target), :mod:`.events` (what
the CLI words) and :mod:`.status` (``flask db fleet-status``).
"""

from __future__ import annotations

from flask_safemigrate.fleet.events import FleetProgress, TargetResult
from flask_safemigrate.fleet.pinning import pin_key
from flask_safemigrate.fleet.runner import FleetOptions, run_fleet
from flask_safemigrate.fleet.sharding import Shard, parse_shard, shard_of
from flask_safemigrate.fleet.status import fleet_status
from flask_safemigrate.fleet.targets import FleetTarget

__all__ = [
    "FleetOptions",
    "FleetProgress",
    "FleetTarget",
    "Shard",
    "TargetResult",
    "fleet_status",
    "parse_shard",
    "pin_key",
    "run_fleet",
    "shard_of",
]
