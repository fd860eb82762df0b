"""A progress line for long commands, on stderr (stdout stays for their result).

On a terminal the line is rewritten in place (at most once a second); when stderr is a
pipe or a file, a whole line is written every ``piped_every_s`` seconds instead (10 by
default), so a log shows the command is alive without filling up.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

#: Seconds between lines when stderr is not a terminal.
PIPED_EVERY_S = 10.0


class ProgressLine:
    def __init__(self, stream: TextIO | None = None, *, piped_every_s: float = PIPED_EVERY_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.stream = sys.stderr if stream is None else stream
        self.tty = self.stream.isatty()
        self.every_s = 1.0 if self.tty else piped_every_s
        self._clock = clock
        self._last: float | None = None
        self._width = 0

    def update(self, text: str) -> None:
        """Show ``text`` unless the last line was shown less than the interval ago."""
        now = self._clock()
        if self._last is not None and now - self._last < self.every_s:
            return
        self._last = now
        if self.tty:
            self.stream.write("\r" + text.ljust(self._width))
            self._width = max(self._width, len(text))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        """End the line being rewritten (a terminal), so what follows starts afresh."""
        if self.tty and self._width:
            self.stream.write("\n")
            self.stream.flush()
        self._width = 0
