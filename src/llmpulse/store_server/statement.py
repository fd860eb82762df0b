"""What the server needs to know about a statement's text: where an insert's data
starts, its format, and whether the statement returns a result set."""

from __future__ import annotations

import re

_LEADING_COMMENTS = re.compile(r"\A(?:\s+|--[^\n]*(?:\n|\Z)|/\*.*?\*/)*", re.DOTALL)
#: ``INSERT INTO ... FORMAT name`` at the start of a body, the data following it.
_INSERT_HEAD = re.compile(rb"\A\s*INSERT\s+INTO\s.*?\sFORMAT\s+([A-Za-z0-9_]+)",
                          re.DOTALL | re.IGNORECASE)
#: Where an insert statement in a body may end: the data follows within this many bytes.
_HEAD_LIMIT = 1 << 16
_INSERT = re.compile(
    r"\A\s*INSERT\s+INTO\s+(?P<target>.*?)(?:\s+(?P<settings>SETTINGS\s+.*?))?"
    r"\s+FORMAT\s+(?P<format>[A-Za-z0-9_]+)\s*;?\s*\Z", re.DOTALL | re.IGNORECASE)
_TRAILING_FORMAT = re.compile(r"\bFORMAT\s+([A-Za-z0-9_]+)\s*;?\s*\Z", re.IGNORECASE)
_RESULT_KEYWORDS = frozenset({"SELECT", "WITH", "SHOW", "DESCRIBE", "DESC", "EXISTS", "EXPLAIN",
                              "CHECK", "VALUES", "TABLE"})


def _skip_comments(sql: str) -> str:
    return sql[_LEADING_COMMENTS.match(sql).end():]  # type: ignore[union-attr]


def split_insert(body: bytes) -> tuple[str, bytes] | None:
    """``(statement, data)`` when ``body`` is ``INSERT INTO ... FORMAT x`` then its data.

    As ClickHouse does, the data starts after the format name, spaces and one line break.
    """
    found = _INSERT_HEAD.match(body[:_HEAD_LIMIT])
    if found is None:
        return None
    at = found.end()
    while at < len(body) and body[at] in b" \t":
        at += 1
    if body.startswith(b"\r\n", at):
        at += 2
    elif body.startswith(b"\n", at):
        at += 1
    return found.group(0).decode("utf-8"), body[at:]


def expects_data(sql: str) -> bool:
    """``INSERT INTO ... FORMAT x`` with no inline data: its rows come in the body."""
    return _INSERT.match(sql) is not None


def from_infile(sql: str, path: str) -> str:
    """The insert ``sql`` reading its rows from the file at ``path`` (``FROM INFILE``)."""
    found = _INSERT.match(sql)
    if found is None:
        raise ValueError(f"not an INSERT ... FORMAT statement: {sql[:200]!r}")
    quoted = path.replace("\\", "\\\\").replace("'", "\\'")
    settings = f" {found['settings']}" if found["settings"] else ""
    return (f"INSERT INTO {found['target']} FROM INFILE '{quoted}'{settings} "
            f"FORMAT {found['format']}")


def output_format(sql: str, default: str) -> str:
    """The format a statement's result is written in: its own ``FORMAT`` clause, or
    ``default``."""
    found = _TRAILING_FORMAT.search(sql)
    return found.group(1) if found else default


def returns_rows(sql: str) -> bool:
    """Whether the statement produces a result set (a ``SELECT``, ``SHOW``, ...), for
    which ClickHouse reports its format in ``X-ClickHouse-Format``."""
    text = _skip_comments(sql).lstrip("(")
    word = re.match(r"[A-Za-z]+", text)
    return word is not None and word.group(0).upper() in _RESULT_KEYWORDS
