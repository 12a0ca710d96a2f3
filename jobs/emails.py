"""Emails as template triples: templates/emails/<name>-subject.txt, -body.txt, -body.html.

Sent through django.core.mail, so EMAIL_BACKEND decides where they go: SMTP in
production, a file outbox under var/ in development, locmem in tests.
"""

import hashlib
from email.utils import parseaddr
from functools import lru_cache

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string


def email_build(*, name: str, to: str, context: dict) -> EmailMultiAlternatives:
    """One email, text and HTML, from the three templates called `name`."""
    subject = " ".join(render_to_string(f"emails/{name}-subject.txt", context).split())
    text = render_to_string(f"emails/{name}-body.txt", context)
    html = render_to_string(f"emails/{name}-body.html", context)
    message = EmailMultiAlternatives(subject, text, settings.DEFAULT_FROM_EMAIL, [to])
    message.attach_alternative(html, "text/html")
    return message


def stable_message_id(*parts: str) -> str:
    """A Message-ID that is the same whenever it is made from the same `parts` (so a message
    sent twice can be recognised), in the domain of DEFAULT_FROM_EMAIL."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:40]
    return f"<{digest}@{_domain(settings.DEFAULT_FROM_EMAIL)}>"


@lru_cache(maxsize=8)
def _domain(address: str) -> str:
    return (parseaddr(address)[1].rpartition("@")[2] or "localhost")[:200]
