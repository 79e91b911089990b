"""The snapshot file: its place, its text (one line per column, sorted keys), reading it back
and replacing it atomically (a reader never sees half a file).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Final

__all__ = ["FORMAT", "SNAPSHOT_NAME", "parse", "path_in", "render", "write_atomic"]

#: The file's name in the migrations directory.
SNAPSHOT_NAME: Final = "models.snapshot.json"
#: The ``format`` key: raised when a key is removed or changes meaning.
FORMAT: Final = 1


def path_in(directory: Path) -> Path:
    """Where the snapshot of the migrations in ``directory`` lives."""
    return directory / SNAPSHOT_NAME


def _flat(value: Any) -> bool:
    """Whether ``value`` goes on one line: it holds no mapping (a column, a key's columns)."""
    if isinstance(value, dict):
        return all(not isinstance(v, dict | list) or _flat_list(v) for v in value.values())
    return isinstance(value, list) and _flat_list(value)


def _flat_list(value: Any) -> bool:
    return isinstance(value, list) and all(
        not isinstance(item, dict) and (not isinstance(item, list) or _flat_list(item))
        for item in value
    )


#: ``json.dumps(value, sort_keys=True, ensure_ascii=False)``, without a new encoder per call
#: (dumps builds one whenever it is given options): a 200-table snapshot encodes 3,000 values.
_encode = json.JSONEncoder(sort_keys=True, ensure_ascii=False).encode


def _dump(value: Any, indent: int) -> str:
    if not isinstance(value, dict | list) or (_flat(value) and indent > 0):
        return _encode(value)
    pad = "  " * (indent + 1)
    if isinstance(value, list):
        items = [pad + _dump(item, indent + 1) for item in value]
        return "[\n" + ",\n".join(items) + "\n" + "  " * indent + "]" if items else "[]"
    items = [f"{pad}{_encode(key)}: {_dump(value[key], indent + 1)}" for key in sorted(value)]
    return "{\n" + ",\n".join(items) + "\n" + "  " * indent + "}" if items else "{}"


def render(data: dict[str, Any]) -> str:
    """The file's text: keys sorted, a column (or a key's column list) on one line, ``\\n``
    line ends and a final newline, so one model change is one changed line in a diff."""
    return _dump(data, 0) + "\n"


def parse(text: str) -> dict[str, Any]:
    """A snapshot read back; ``ValueError`` (one line) when it is not one."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(data, dict) or not isinstance(data.get("databases"), list):
        raise ValueError("not a models snapshot (no 'databases' list)")
    if data.get("format") != FORMAT:
        raise ValueError(f"snapshot format {data.get('format')!r}, this version reads {FORMAT}")
    return data


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` (UTF-8): written to a temporary file beside it, synced,
    then renamed over it, so the file is either the old one or the new one, never half.
    Raises ``OSError``; the temporary file never stays."""
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    temporary = Path(name)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        mode = path.stat().st_mode & 0o7777 if path.exists() else 0o644
        temporary.chmod(mode)  # a file to commit and share, not mkstemp's 0600
        temporary.replace(path)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise
