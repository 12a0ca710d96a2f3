"""SmtpSink: a real SMTP server (aiosmtpd) on 127.0.0.1 that counts every delivered message,
and can refuse connections or drop one mid-session.

    with SmtpSink() as sink:
        env.update(sink.email_env())       # EMAIL_BACKEND=smtp, EMAIL_HOST/PORT of the sink
        ...
        sink.deliveries()                  # Counter {(Message-ID, recipient): times delivered}
        sink.duplicates()                  # the pairs delivered more than once
        sink.connections                   # SMTP sessions opened so far
        sink.refuse()                      # stop listening: connecting fails (ECONNREFUSED)
        sink.accept()                      # listen again, same port
        sink.drop_next(2)                  # the next 2 DATA commands: connection closed, not delivered
        sink.drop_next(1, after_delivery=True)  # delivered (counted), then dropped before the 250:
                                           # the client sees a failure for a message that arrived
"""

from __future__ import annotations

import email
import socket
import threading
from collections import Counter
from dataclasses import dataclass

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP


@dataclass(frozen=True)
class Delivery:
    message_id: str
    recipient: str
    subject: str


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Handler:
    def __init__(self, sink: SmtpSink):
        self.sink = sink

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.sink.rejected:
            return "550 5.1.1 mailbox unavailable (rejected by the test)"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.original_content)
        drop, after_delivery = self.sink._take_drop()
        if not drop or after_delivery:
            self.sink._record(message, envelope.rcpt_tos)
        if drop:
            server.transport.abort()  # no reply: the client's send fails
            return "421 dropped by the test"
        return "250 OK"


class _CountingSMTP(SMTP):
    def connection_made(self, transport):
        sock = transport.get_extra_info("socket")
        if sock is not None:  # aiosmtpd's small replies would otherwise wait for the client's delayed ACK
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.event_handler.sink._connected()
        super().connection_made(transport)


class _Controller(Controller):
    def factory(self):
        return _CountingSMTP(self.handler, **self.SMTP_kwargs)


class SmtpSink:
    """The server; `delivered` lists every Delivery in arrival order."""

    def __init__(self, *, port: int | None = None):
        self._lock = threading.Lock()
        self.delivered: list[Delivery] = []
        self.connections = 0
        self._drops: list[bool] = []  # one entry per DATA to drop: after_delivery?
        self.rejected: set[str] = set()  # recipients answered 550 (a permanent failure)
        self._controller: _Controller | None = None
        self.port = port or _free_port()

    def start(self) -> SmtpSink:
        self.accept()
        with self._lock:
            self.connections = 0  # the controller's own readiness probe is not a client
        return self

    def stop(self) -> None:
        self.refuse()

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def accept(self) -> None:
        """Listen (again: always the same port)."""
        if self._controller is not None:
            return
        self._controller = _Controller(_Handler(self), hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def refuse(self) -> None:
        """Stop listening: new connections are refused, open ones closed."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def drop_next(self, count: int = 1, *, after_delivery: bool = False) -> None:
        with self._lock:
            self._drops += [after_delivery] * count

    def reject(self, *addresses: str) -> None:
        """Answer 550 to these recipients: every send to them fails, however often tried."""
        with self._lock:
            self.rejected |= set(addresses)

    def email_env(self) -> dict[str, str]:
        """Settings for a child process that sends its mail here."""
        return {
            "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": str(self.port),
            "EMAIL_USE_TLS": "0",
            "EMAIL_USE_SSL": "0",
        }

    def deliveries(self) -> Counter:
        """{(message_id, recipient): times delivered}."""
        with self._lock:
            return Counter((d.message_id, d.recipient) for d in self.delivered)

    def duplicates(self) -> dict[tuple[str, str], int]:
        return {key: n for key, n in self.deliveries().items() if n > 1}

    def recipients(self) -> Counter:
        """{recipient: times delivered}, whatever the Message-ID."""
        with self._lock:
            return Counter(d.recipient for d in self.delivered)

    # --- called from the server's thread ------------------------------------------

    def _connected(self) -> None:
        with self._lock:
            self.connections += 1

    def _take_drop(self) -> tuple[bool, bool]:
        with self._lock:
            if self._drops:
                return True, self._drops.pop(0)
            return False, False

    def _record(self, message, recipients: list[str]) -> None:
        with self._lock:
            for recipient in recipients:
                self.delivered.append(
                    Delivery(
                        message_id=message.get("Message-ID", ""),
                        recipient=recipient,
                        subject=message.get("Subject", ""),
                    )
                )
