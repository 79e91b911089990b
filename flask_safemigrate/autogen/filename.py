"""Dated file names for new revisions, unless the project chose its own ``file_template``."""

from __future__ import annotations

from alembic.config import Config
from flask import current_app, has_app_context

# Doubled percent signs: Alembic's config interpolates values set with set_main_option.
FILE_TEMPLATE = "%%(year)d_%%(month).2d_%%(day).2d_%%(hour).2d%%(minute).2d_%%(rev)s_%%(slug)s"


def use_dated_file_names(config: Config) -> Config:
    """A ``Migrate.configure`` callback: ``YYYY_MM_DD_HHMM_<rev>_<slug>.py`` for new files.

    A ``Migrate`` may serve several apps, so it acts only for apps that use SafeMigrate, and
    never over a ``file_template`` in ``alembic.ini`` or ``[tool.alembic]``.
    """
    if not has_app_context() or "safemigrate" not in current_app.extensions:
        return config
    if config.get_alembic_option("file_template") is None:
        config.set_main_option("file_template", FILE_TEMPLATE)
    return config
