"""SIGTERM handled like SIGINT: an exception in the main thread, so that runs keep what they
computed (checkpoints) and the command line exits cleanly."""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager


class Terminated(SystemExit):
    """Raised in the main thread when the process receives SIGTERM.

    A :class:`SystemExit` with status 128 + 15 = 143: an uncaught one ends the program
    without a traceback, after ``finally`` blocks and ``except BaseException`` handlers
    (such as the checkpoint of :func:`meanfield.evolve`) have run.

    Examples
    --------
    >>> from meanfield._signals import Terminated
    >>> err = Terminated()
    >>> err.code, str(err), isinstance(err, SystemExit)
    (143, 'terminated by SIGTERM', True)
    """

    def __init__(self, signum: int = signal.SIGTERM) -> None:
        super().__init__(128 + int(signum))
        self.signum = int(signum)

    def __str__(self) -> str:
        return f"terminated by {signal.Signals(self.signum).name}"


def _raise_terminated(signum, frame) -> None:
    raise Terminated(signum)


@contextmanager
def sigterm_raises():
    """Within the block, SIGTERM raises :class:`Terminated` (in the main thread).

    Nothing changes outside the main thread or when the program has its own SIGTERM
    handler already; the previous handler is restored on exit.

    Examples
    --------
    >>> import os
    >>> import signal
    >>> import time
    >>> from meanfield._signals import Terminated, sigterm_raises
    >>> with sigterm_raises():
    ...     try:
    ...         os.kill(os.getpid(), signal.SIGTERM)
    ...         time.sleep(5)  # interrupted at once
    ...     except Terminated as err:
    ...         print(err)
    terminated by SIGTERM
    >>> signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    True
    """
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL):
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
