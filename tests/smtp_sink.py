"""A real SMTP server on 127.0.0.1 (aiosmtpd) that counts the connections opened to it and
the messages delivered, and can drop a client's connection after a given message. Used by
the sending tests and by bench/ (the real-SMTP benchmark)."""

from __future__ import annotations

import asyncio
import socket
import threading
from email import message_from_bytes

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class SmtpSink:
    """Start with start(), stop with stop() (or use as a context manager). `message_ids`
    lists the Message-ID of every message delivered, in order; `connections` counts the
    connections clients opened. The connection that delivered message n (1-based) for n
    in `drop_after` is closed by the server right after its 250 reply."""

    def __init__(self, *, drop_after: set[int] | frozenset = frozenset()):
        self.drop_after = set(drop_after)
        self.message_ids: list[str] = []
        self.recipients: list[str] = []
        self.connections = 0
        self._lock = threading.Lock()
        self.port = _free_port()
        sink = self

        class CountingSMTP(SMTP):
            def connection_made(self, transport):
                with sink._lock:
                    sink.connections += 1
                # Replies go out in several small writes: without this each waits for the
                # client's delayed ACK (~40 ms), as no real SMTP server makes it wait.
                transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                super().connection_made(transport)

        class SinkController(Controller):
            def factory(self):
                return CountingSMTP(self.handler, **self.SMTP_kwargs)

        self._controller = SinkController(
            self, hostname="127.0.0.1", port=self.port, server_hostname="localhost"
        )

    async def handle_DATA(self, server, session, envelope) -> str:
        message = message_from_bytes(envelope.content)
        with self._lock:
            self.message_ids.append(message.get("Message-ID", ""))
            self.recipients.extend(envelope.rcpt_tos)
            delivered = len(self.message_ids)
        if delivered in self.drop_after:
            asyncio.get_running_loop().call_soon(server.transport.close)
        return "250 OK"

    def start(self) -> SmtpSink:
        self._controller.start()
        with self._lock:
            self.connections = 0  # the controller's own start-up probe
        return self

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def django_settings(self) -> dict:
        """The email settings that send to this server."""
        return {
            "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": self.port,
            "EMAIL_USE_TLS": False,
            "EMAIL_USE_SSL": False,
            "EMAIL_HOST_USER": "",
            "EMAIL_HOST_PASSWORD": "",
        }
