"""A minimal text progress bar for long runs (stderr, throttled, no dependencies)."""

from __future__ import annotations

import sys
import time


class ProgressBar:
    """Progress of a quantity from ``start`` to ``stop`` (e.g. simulated time).

    Call the instance with the current value; it redraws at most ``rate`` times a second.

    Examples
    --------
    >>> import io
    >>> from meanfield.progress import ProgressBar
    >>> out = io.StringIO()
    >>> bar = ProgressBar(0.0, 2.0, width=10, stream=out)
    >>> bar(2.0)
    >>> bar.close()
    >>> print(out.getvalue().strip().split(" elapsed")[0])
    [##########] 100.0% t=2/2
    """

    def __init__(self, start: float, stop: float, label: str = "t", width: int = 30,
                 stream=None, rate: float = 10.0) -> None:
        self.start, self.stop, self.label, self.width = start, stop, label, width
        self.stream = stream if stream is not None else sys.stderr
        self.interval = 1.0 / rate
        self._t0 = time.perf_counter()
        self._last = -1.0

    def __call__(self, value: float, extra: str = "") -> None:
        now = time.perf_counter()
        if now - self._last < self.interval and value < self.stop:
            return
        self._last = now
        span = self.stop - self.start
        frac = 1.0 if span <= 0 else min(max((value - self.start) / span, 0.0), 1.0)
        filled = int(round(frac * self.width))
        bar = "#" * filled + "-" * (self.width - filled)
        elapsed = now - self._t0
        eta = elapsed * (1 - frac) / frac if frac > 0 else float("nan")
        self.stream.write(f"\r[{bar}] {100 * frac:5.1f}% {self.label}={value:.4g}/{self.stop:.4g}"
                          f" elapsed {elapsed:.1f}s eta {eta:.1f}s {extra}")
        self.stream.flush()

    def close(self) -> None:
        """End the bar's line (write a newline to the stream).

        Examples
        --------
        >>> import io
        >>> from meanfield.progress import ProgressBar
        >>> out = io.StringIO()
        >>> ProgressBar(0.0, 1.0, stream=out).close()
        >>> out.getvalue()
        '\\n'
        """
        self.stream.write("\n")
        self.stream.flush()
