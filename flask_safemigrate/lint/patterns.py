"""Regular expressions compiled when a run first uses them, not when their module is imported.

Every rule module is imported by a run that selects it, and the rules' module-level patterns
(well over a hundred, with the helpers and :mod:`.sql`) took about 30 ms of CPU to compile: a
tenth of a short ``safemigrate lint`` (a pre-commit hook on a few scripts), most of them for
statements those scripts do not have. :func:`compiled_later` stands for ``re.compile``: the
first use compiles, and the compiled pattern's methods are then looked up directly.
"""

from __future__ import annotations

import re
from typing import Any, cast

__all__ = ["compiled_later"]

#: What callers use a pattern for; after the first use these are the compiled pattern's own.
_FORWARDED = (
    "search",
    "match",
    "fullmatch",
    "finditer",
    "findall",
    "sub",
    "subn",
    "split",
    "pattern",
    "flags",
    "groups",
    "groupindex",
)


class _Later:
    """``re.compile(source, flags)``, compiled on the first attribute asked of it."""

    def __init__(self, source: str, flags: int) -> None:
        self._source = source
        self._flags = flags

    def __getattr__(self, name: str) -> Any:
        # Only called for attributes the instance does not hold: the first use, or one that
        # is not forwarded (then the pattern comes from ``re``'s own cache).
        if name.startswith("__"):
            raise AttributeError(name)  # copy, pickle and the like: no pattern's behaviour
        compiled = re.compile(self._source, self._flags)
        for forwarded in _FORWARDED:
            self.__dict__[forwarded] = getattr(compiled, forwarded)
        return getattr(compiled, name)

    def __repr__(self) -> str:
        return f"compiled_later({self._source!r}, {self._flags!r})"


def compiled_later(source: str, flags: int = 0) -> re.Pattern[str]:
    """``re.compile(source, flags)``, compiled when first used (see the module's docstring)."""
    return cast("re.Pattern[str]", _Later(source, flags))
