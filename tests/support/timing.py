"""The ``timing`` group: tests that kill processes, race migrators or measure seconds.

Under pytest-xdist (``make test`` runs ``--dist loadgroup``) every test of the group runs on
one worker, one at a time, so two of them never compete for the CPU or for a server's locks;
the other workers run the rest of the suite meanwhile. Without xdist the marker does nothing.
Mark a module with ``pytestmark = TIMING`` (or a test with ``@TIMING``) when what it asserts
depends on how fast something happens: a SIGKILL at a chosen moment, a lock wait, a deadline.
"""

from __future__ import annotations

import pytest

TIMING = pytest.mark.xdist_group("timing")
