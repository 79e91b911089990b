"""Where safe-upgrade keeps what it remembers between runs: the user's cache directory.

Three files live there: lint results of unchanged scripts (:mod:`.lint.cache`), the
statements pre-flight reads in them for the live database (:mod:`.live.statements_cache`) and
the fingerprints of drift checks that found nothing (:mod:`.schema_fingerprint`). All only
ever save time, so they are kept outside the project: a run writes nothing under the app's folders
(a failed run leaves the project byte for byte as it was), and a deploy that cannot write
there simply does the work again.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["user_cache"]


def user_cache() -> Path | None:
    """``$XDG_CACHE_HOME/flask-safemigrate``, else ``~/.cache/flask-safemigrate``; ``None``
    when neither can be named (no home directory)."""
    base = os.environ.get("XDG_CACHE_HOME")
    if base and Path(base).is_absolute():
        return Path(base) / "flask-safemigrate"
    try:
        return Path.home() / ".cache" / "flask-safemigrate"
    except (RuntimeError, KeyError, OSError):
        return None
