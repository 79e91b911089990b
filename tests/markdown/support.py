"""Reading a Markdown document as GitHub does (markdown-it-py with GFM tables), for the tests
of ``--format markdown``."""

from __future__ import annotations

from dataclasses import dataclass

from markdown_it import MarkdownIt
from markdown_it.token import Token

_PARSER = MarkdownIt("commonmark").enable("table")


def tokens(document: str) -> list[Token]:
    return _PARSER.parse(document)


@dataclass
class Table:
    header: list[str]
    rows: list[list[str]]


def tables(document: str) -> list[Table]:
    """Every table, as the text of its cells (inline Markdown rendered to plain text)."""
    found: list[Table] = []
    current: Table | None = None
    row: list[str] | None = None
    in_head = False
    for token in tokens(document):
        if token.type == "table_open":
            current = Table([], [])
        elif token.type == "thead_open":
            in_head = True
        elif token.type == "thead_close":
            in_head = False
        elif token.type == "tr_open":
            row = []
        elif token.type == "inline" and row is not None:
            row.append(plain(token))
        elif token.type == "tr_close" and current is not None and row is not None:
            if in_head:
                current.header = row
            else:
                current.rows.append(row)
            row = None
        elif token.type == "table_close" and current is not None:
            found.append(current)
            current = None
    return found


def plain(token: Token) -> str:
    """An inline token's text as a reader sees it (code spans and escapes resolved)."""
    return "".join(child.content for child in token.children or [] if child.content)


def headings(document: str, level: int) -> list[str]:
    out = []
    stream = tokens(document)
    for index, token in enumerate(stream):
        if token.type == "heading_open" and token.tag == f"h{level}":
            out.append(plain(stream[index + 1]))
    return out


def code_blocks(document: str) -> list[tuple[str, str]]:
    """``(info, content)`` of every fenced code block."""
    return [(t.info.strip(), t.content) for t in tokens(document) if t.type == "fence"]


def html_blocks(document: str) -> list[str]:
    """Raw HTML the document holds (blocks and inline): only what the renderer writes."""
    out = []
    for token in tokens(document):
        if token.type == "html_block":
            out.append(token.content)
        for child in token.children or []:
            if child.type == "html_inline":
                out.append(child.content)
    return out


def paragraphs(document: str) -> list[str]:
    """The text of every inline run outside tables and code (paragraphs, quotes, headings)."""
    out = []
    depth = 0
    for token in tokens(document):
        if token.type == "table_open":
            depth += 1
        elif token.type == "table_close":
            depth -= 1
        elif token.type == "inline" and not depth:
            out.append(plain(token))
    return out
