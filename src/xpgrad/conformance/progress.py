"""A plain-text progress bar on a terminal; silent when the stream is not a TTY (CI logs, pipes)."""

from __future__ import annotations

import sys
import time
from typing import IO

__all__ = ["Progress"]


class Progress:
    """``[#######.............]  35/86  exp  12s`` redrawn in place with ``\\r``."""

    def __init__(self, total: int, label: str = "", stream: IO[str] | None = None, width: int = 28,
                 enabled: bool | None = None) -> None:
        self.total = max(total, 1)
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        isatty = getattr(self.stream, "isatty", None)
        self.enabled = enabled if enabled is not None else bool(isatty and isatty())
        self.done = 0
        self.failed = 0
        self.t0 = time.perf_counter()
        self._last = 0

    def __call__(self, what: str, failed: int = 0) -> None:
        """One item done (``what``), with ``failed`` new failures."""
        self.done += 1
        self.failed += failed
        self.draw(what)

    def draw(self, what: str = "") -> None:
        if not self.enabled:
            return
        filled = int(self.width * self.done / self.total)
        bar = "#" * filled + "." * (self.width - filled)
        fails = f"  {self.failed} failing" if self.failed else ""
        text = (f"\r{self.label} [{bar}] {self.done:>3}/{self.total}  {what[:24]:<24} "
                f"{time.perf_counter() - self.t0:5.0f}s{fails}")
        pad = max(0, self._last - len(text))
        self.stream.write(text + " " * pad)
        self.stream.flush()
        self._last = len(text)

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\r" + " " * self._last + "\r")
            self.stream.flush()
