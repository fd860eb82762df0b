"""Errors the store server reports the way ClickHouse does: ``Code: N. DB::Exception: ...``."""

from __future__ import annotations

import re

_CODE = re.compile(r"Code:\s*(\d+)")
#: ClickHouse's code for an exception without one of its own (STD_EXCEPTION).
STD_EXCEPTION = 1001


class ServerError(Exception):
    """A request the server refuses or the engine fails, with its ClickHouse error code."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code

    @classmethod
    def from_engine(cls, exc: BaseException) -> ServerError:
        """The engine's own exception, keeping the code and text it reported."""
        text = str(exc).strip() or type(exc).__name__
        found = _CODE.search(text)
        return cls(int(found.group(1)) if found else STD_EXCEPTION, text)

    def body(self, version: str) -> str:
        """The response text: ClickHouse's ``Code: N. DB::Exception: ...`` form."""
        text = str(self)
        if not text.startswith("Code:"):
            text = f"Code: {self.code}. DB::Exception: {text}"
        return f"{text} (version {version})\n"
