"""Release compatibility (issue #19): will the release running now survive the migrations?

:mod:`.source` reads the previous release's models snapshot (a file, or ``git show
REF:<path>``; no old code is imported); :mod:`.fit` says whether an old column type's values
fit a new one; :mod:`.removals` what the pending scripts drop or rename. The findings are
:mod:`flask_safemigrate.checks.compat`'s (``breaks-previous-release``), found by
:mod:`.breaks` with the renames the pending scripts perform, for both ``verify --compat-with``
(a scratch database: :mod:`flask_safemigrate.verify.compat`) and safe-upgrade's deploy check
(:mod:`flask_safemigrate.upgrade.compat_stage`).
"""

from __future__ import annotations

from flask_safemigrate.compat.source import OldSnapshot, load_old_snapshot
from flask_safemigrate.type_fit import narrowing

__all__ = ["OldSnapshot", "load_old_snapshot", "narrowing"]
