"""Ports on this machine that refuse connections, for the "server unreachable" tests."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def refused_port() -> Iterator[int]:
    """A TCP port on 127.0.0.1 that refuses every connection while the block runs.

    The port is bound and not listening, so a connection is refused at once. Holding it (instead
    of binding port 0, closing and returning the number) keeps it from everyone else for the
    block: another xdist worker's server cannot take it, and the kernel does not hand a bound
    port out as a connection's own (ephemeral) port, which could connect the client to itself.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        yield port
