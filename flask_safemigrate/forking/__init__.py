"""Processes forked from a Python that has already imported the libraries (issues #15 and #20).

A fresh ``python -m flask db safe-upgrade`` spends about 1.1 of its 1.6 CPU seconds importing
Flask, SQLAlchemy, Alembic, the drivers and flask_safemigrate before it reads its first
migration. A fleet runs one such process per target, so most of a fleet's CPU went on the same
imports again and again. The fork server imports them once, in a process of its own started
fresh (so it inherits no database connection from its caller), and forks each command from
there: still a process of its own, with its own pid, environment, working directory, session,
descriptors 0-2 and database connections, that can be signalled, killed, and whose exit status
reads as from ``subprocess``. Only the imports are skipped.

:mod:`.client` starts the server and asks it for processes (:class:`~.client.ForkServer`, a
process as :class:`~.client.Forked`); :mod:`.server` is the server's process. The fleet's
runner (:mod:`flask_safemigrate.fleet.runner`) uses it, and the test suite's
``tests/support/fork_server.py`` runs its ``flask`` commands through it.

Differences from a fresh interpreter, none of which the commands depend on: modules already
imported are not imported again (a warning their import gave is not given again), the hash
seed is the server's, and settings read only at interpreter start-up are the server's (it is
started with the caller's environment; a command's own ``PYTHONPATH`` and
``PYTHONUNBUFFERED`` are honoured).
"""
