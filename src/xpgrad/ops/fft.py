"""The fft extension, with gradients.

Exported under ``xpgrad.fft`` (the names in ``FFT``), not in the main namespace.
"""

from __future__ import annotations

FFT: tuple[str, ...] = ()
