"""SmtpSink: a real SMTP server that counts deliveries, refuses and drops. It needs no
database, so it runs on every pass."""

import smtplib
from email.utils import make_msgid

import pytest
from django.core.mail import EmailMessage, get_connection


def send(sink, *messages: EmailMessage, connection=None) -> int:
    connection = connection or get_connection(
        "django.core.mail.backends.smtp.EmailBackend", host="127.0.0.1", port=sink.port, timeout=10
    )
    return connection.send_messages(list(messages))


def message(to: str) -> EmailMessage:
    """A message with a fixed Message-ID (Django makes a new one per send otherwise)."""
    return EmailMessage(
        "Reminder", "body", "accessmgr@example.com", [to], headers={"Message-ID": make_msgid()}
    )


def test_counts_each_delivery_by_message_id_and_recipient(smtp_sink):
    first, second = message("a@example.com"), message("b@example.com")
    assert send(smtp_sink, first, second) == 2
    send(smtp_sink, first)  # the same message (same Message-ID) again
    deliveries = smtp_sink.deliveries()
    assert sum(deliveries.values()) == 3
    [(twice, count)] = smtp_sink.duplicates().items()
    assert twice == (first.extra_headers["Message-ID"], "a@example.com") and count == 2
    assert smtp_sink.recipients() == {"a@example.com": 2, "b@example.com": 1}


def test_counts_connections_not_messages(smtp_sink):
    send(smtp_sink, *(message(f"p{i}@example.com") for i in range(5)))  # one connection
    send(smtp_sink, message("q@example.com"))
    assert smtp_sink.connections == 2
    assert len(smtp_sink.delivered) == 6


def test_refuse_then_accept_on_the_same_port(smtp_sink):
    port = smtp_sink.port
    smtp_sink.refuse()
    with pytest.raises(ConnectionRefusedError):
        send(smtp_sink, message("a@example.com"))
    smtp_sink.accept()
    assert smtp_sink.port == port
    assert send(smtp_sink, message("a@example.com")) == 1


def test_drop_next_fails_the_send_and_delivers_nothing(smtp_sink):
    smtp_sink.drop_next()
    with pytest.raises(smtplib.SMTPException):
        send(smtp_sink, message("a@example.com"))
    assert smtp_sink.delivered == []
    assert send(smtp_sink, message("a@example.com")) == 1  # only the next one was dropped


def test_drop_after_delivery_fails_the_send_of_a_delivered_message(smtp_sink):
    smtp_sink.drop_next(after_delivery=True)
    with pytest.raises(smtplib.SMTPException):
        send(smtp_sink, message("a@example.com"))
    assert smtp_sink.recipients() == {"a@example.com": 1}  # it arrived all the same
