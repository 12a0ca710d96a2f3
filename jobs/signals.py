"""Interrupts for jobs run by a command: SIGTERM becomes KeyboardInterrupt in the main thread,
so the runner releases the run as Failed; while a lock is being taken, interrupts wait until
the runner can release it. Outside the main thread (a web request) both do nothing."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

logger = logging.getLogger("jobs.signals")

_deferring = False
_pending: str | None = None


def _interrupt(reason: str) -> None:
    global _pending
    if _deferring:
        _pending = _pending or reason
        return
    raise KeyboardInterrupt(reason)


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block the first SIGTERM raises KeyboardInterrupt("Interrupted (SIGTERM)") in
    the main thread; later ones are ignored while the job cleans up."""
    if not _in_main_thread():
        yield
        return
    received = []

    def on_sigterm(signum, frame):
        if received:
            logger.warning("SIGTERM again while cleaning up; ignored", extra={"event": "sigterm_ignored"})
            return
        received.append(signum)
        logger.warning("SIGTERM received; interrupting the job", extra={"event": "sigterm"})
        _interrupt("Interrupted (SIGTERM)")

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Hold back Ctrl-C and SIGTERM (as set up by sigterm_as_interrupt) inside the block; the
    first one received is raised as KeyboardInterrupt when the block ends, also over an
    exception the block raised."""
    global _deferring, _pending
    if not _in_main_thread() or _deferring:
        yield
        return
    previous_int = signal.signal(signal.SIGINT, lambda signum, frame: _interrupt("Interrupted (Ctrl-C)"))
    _deferring = True
    try:
        yield
    finally:
        _deferring = False
        signal.signal(signal.SIGINT, previous_int)
        pending, _pending = _pending, None
        if pending:
            raise KeyboardInterrupt(pending)
