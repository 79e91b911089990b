"""Release compatibility (issue #19): will the release running now survive the migrations?

:mod:`.source` reads the previous release's models snapshot (a file, or ``git show
REF:<path>``; no old code is imported); :mod:`.fit` says whether an old column type's values
fit a new one. The findings are :mod:`flask_safemigrate.checks.compat`'s
(``breaks-previous-release``); ``verify --compat-with`` runs them on a scratch database
(:mod:`flask_safemigrate.verify.compat`).
"""

from __future__ import annotations

from flask_safemigrate.compat.fit import narrowing
from flask_safemigrate.compat.source import OldSnapshot, load_old_snapshot

__all__ = ["OldSnapshot", "load_old_snapshot", "narrowing"]
