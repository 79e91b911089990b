"""Text from scripts, users and databases made safe for where it is written.

Two sinks copy outside text verbatim and let it act: a generated Python file (a message with
``\"\"\"`` and a newline ends the docstring and adds module code) and a terminal or CI log (a
newline followed by ``::warning file=...::`` is a GitHub Actions command; ``ESC [`` moves the
cursor or hides text). Each function here escapes exactly what would act, so the reader sees
what was written and nothing runs.
"""

from __future__ import annotations

__all__ = ["driver_text", "in_python_string", "printable"]

# Escapes Python understands inside every kind of string literal (single, double, triple).
_PYTHON_ESCAPES = {"\\": "\\\\", '"': '\\"', "'": "\\'", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escaped(char: str) -> str:
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def in_python_string(text: str) -> str:
    """``text`` escaped so it can be placed inside any Python string literal, or a comment.

    The result holds no quote, backslash, line break or other control character that is not
    escaped, so no template position (``\"\"\"${message}``, ``'${message}'``,
    ``# ${message}``) can be left; inside a literal it reads back as ``text`` exactly.
    """
    out = []
    for char in text:
        if char in _PYTHON_ESCAPES:
            out.append(_PYTHON_ESCAPES[char])
        elif char.isprintable() and char != "\x7f":
            out.append(char)
        else:  # control, format and separator characters (U+2028 ends a line for some readers)
            out.append(_escaped(char))
    return "".join(out)


def printable(text: str) -> str:
    """``text`` for a terminal or CI log line: every control character shown as an escape.

    ``\\n``, ``\\r``, ``ESC`` and the rest become ``\\n``, ``\\r``, ``\\x1b``...; a backslash
    is left alone (paths and SQL are full of them). Printable text, non-ASCII included, is
    unchanged, so ordinary messages read as before.
    """
    if text.isprintable():
        return text
    return "".join(
        char
        if char.isprintable()
        else {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(char) or _escaped(char)
        for char in text
    )


def driver_text(cause: BaseException) -> str:
    """A driver error's text: PyMySQL's ``(1045, "Access denied ...")`` tuple becomes
    ``Access denied ... (error 1045)``; any other error its ``str()``."""
    args = cause.args
    if len(args) == 2 and isinstance(args[0], int) and isinstance(args[1], str):
        return f"{args[1].strip()} (error {args[0]})"
    return str(cause).strip()
