"""Delivering right after a change commits (WEBHOOK_DELIVER_ON_COMMIT), so receivers hear
within seconds; the scheduled `deliver_events` stays the safety net (docs/webhooks.md).

A process has at most one trigger thread. A commit while it runs asks it to run once more
when it ends, instead of starting a second thread; a run that finds the delivery lock held
(another server is delivering) ends quietly, and what that run did not pick up waits for the
next commit or the schedule.
"""

from __future__ import annotations

import logging
import threading

from django.conf import settings
from django.db import connections, transaction

from webhooks.models import WebhookEndpoint

logger = logging.getLogger(__name__)

TRIGGERED_BY = "after commit"

_guard = threading.Lock()
_thread: threading.Thread | None = None
_again = False


def deliveries_after_commit() -> None:
    """Start a delivery run once the current transaction commits (nothing if it rolls back,
    nothing when WEBHOOK_DELIVER_ON_COMMIT is off). Call it where events are recorded."""
    if settings.WEBHOOK_DELIVER_ON_COMMIT:
        transaction.on_commit(deliveries_soon)


def deliveries_soon() -> None:
    """Run the delivery job in this process's trigger thread: start the thread, or, while
    it runs, have it run once more. Nothing when no endpoint is active. Never blocks."""
    global _thread, _again
    if not settings.WEBHOOK_DELIVER_ON_COMMIT or not WebhookEndpoint.objects.filter(active=True).exists():
        return
    with _guard:
        if _thread is not None:
            _again = True
            return
        # Not a daemon: a command that recorded events waits for its deliveries before it
        # exits, rather than leave the delivery lock InProgress until it goes stale.
        _thread = threading.Thread(target=_deliver_until_quiet, name="deliver-after-commit")
        _thread.start()


def deliveries_wait(timeout: float | None = None) -> None:
    """Wait until this process's trigger thread (if any) has ended."""
    thread = _thread
    if thread is not None:
        thread.join(timeout)


def _deliver_until_quiet() -> None:
    global _thread, _again
    # Here, not at the top: jobs.delivery reads webhooks.events, which calls this module.
    from jobs.delivery import deliver_events_run
    from jobs.lock import LockHeld
    from jobs.runner import JobFailed

    try:
        while True:
            try:
                deliver_events_run(triggered_by=TRIGGERED_BY, record_refusal=False)
            except LockHeld:
                pass  # another run is delivering
            except JobFailed as failed:
                logger.warning("delivery after commit failed: %s", failed.error)
            except Exception:
                logger.exception("delivery after commit could not run")
            with _guard:
                if not _again:
                    _thread = None
                    return
                _again = False
    finally:
        connections.close_all()  # this thread's connections
        with _guard:
            if _thread is threading.current_thread():  # left by an error, not by the loop
                _thread = None
