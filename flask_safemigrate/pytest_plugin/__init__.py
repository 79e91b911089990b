"""The pytest plugin (entry point ``pytest11``: ``safemigrate``): migration checks as tests.

Installed with the package, it stays inert, adding only its command-line option and ini
names, until a project turns it on with ``--safemigrate`` or ``safemigrate = true`` in its
ini file. Then it adds the fixtures (:mod:`.fixtures`: ``safemigrate_app``,
``migration_database``, ``migration_runner``...) and collects the built-in tests
(:mod:`.items`, made by :mod:`flask_safemigrate.verify.suite`) in the project's tests folder.

This module imports only pytest and the standard library, so that every pytest run in an
environment where the package is installed stays as fast as without it; the rest is imported
once the plugin is on. docs/pytest-plugin.md describes the options.
"""

from __future__ import annotations

import pytest

from flask_safemigrate.pytest_plugin.options import add_options, enabled

__all__ = ["pytest_addoption", "pytest_configure"]


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    if not enabled(config):
        return
    from flask_safemigrate.pytest_plugin import fixtures, items
    from flask_safemigrate.pytest_plugin.options import read_options

    options = read_options(config)
    config.stash[fixtures.OPTIONS] = options
    config.addinivalue_line(
        "markers", "safemigrate: a built-in migration test of flask-safemigrate"
    )
    config.pluginmanager.register(fixtures, "safemigrate-fixtures")
    config.pluginmanager.register(items.Collection(options), "safemigrate-collection")
