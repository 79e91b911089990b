"""The package version, in a module of its own.

Modules inside the package read it from here, never from ``flask_safemigrate`` itself: a name
taken from the package's ``__init__`` depends on the whole package having run, and the
``__init__`` (lazily) imports the extension, which imports the CLI, which imports nearly
everything: that made one import cycle of the package.
"""

from __future__ import annotations

__version__ = "0.1.0"
