"""Print a pip constraints file that pins every runtime dependency to its declared minimum.

``nox -s minimum`` installs the package with it, so the suite runs on the oldest versions that
``pyproject.toml`` promises to support: a ``>=`` bound nobody tests is a guess, and the first
user who has the old version finds out during a deploy. The pins are read from
``[project].dependencies`` at run time, never copied, so raising a bound there is all it takes.

Usage: ``python .ci/minimum_constraints.py [PYPROJECT] > constraints.txt``
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

# "name[extra]>=1.2" (an optional comment was already dropped by the TOML parser).
_LOWER_BOUND = re.compile(
    r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*>=\s*([0-9][^\s,;]*)"
)


def minimum_pins(pyproject: Path) -> list[str]:
    """``name==minimum`` for each runtime dependency, in the order ``pyproject.toml`` lists them.

    A dependency without a ``>=`` bound has no minimum to test: it is an error, so that one added
    unbounded is noticed here rather than silently tested only at its newest.
    """
    dependencies = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    pins = []
    for requirement in dependencies:
        match = _LOWER_BOUND.match(requirement)
        if match is None:
            raise ValueError(
                f"{pyproject}: dependency {requirement!r} has no '>=' lower bound;"
                " give it one so the minimum-versions session can pin it"
            )
        pins.append(f"{match.group(1).lower()}=={match.group(2)}")
    return pins


def main(argv: list[str]) -> int:
    pyproject = Path(argv[0]) if argv else Path(__file__).resolve().parent.parent / "pyproject.toml"
    try:
        pins = minimum_pins(pyproject)
    except (OSError, ValueError, KeyError, tomllib.TOMLDecodeError) as error:
        print(f"minimum_constraints: {error}", file=sys.stderr)
        return 2
    print("\n".join(pins))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
