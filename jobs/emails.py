"""Emails as template triples: templates/emails/<name>-subject.txt, -body.txt, -body.html.

Sent through django.core.mail, so EMAIL_BACKEND decides where they go: SMTP in
production, a file outbox under var/ in development, locmem in tests.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Sequence
from email.utils import parseaddr
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.utils.html import escape

logger = logging.getLogger("jobs.emails")

PARTS = ("subject.txt", "body.txt", "body.html")


class PreparedEmail(EmailMultiAlternatives):
    """An email whose MIME message can be made ahead of its send: after prepare(), every
    message() call (the email backend's, when it sends) returns that one message. Change
    nothing on it after prepare(). A copy (locmem's outbox keeps one) makes its own again."""

    _prepared = None

    def prepare(self) -> PreparedEmail:
        self._prepared = super().message()
        return self

    def message(self):
        return self._prepared if self._prepared is not None else super().message()

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state.pop("_prepared", None)
        return state


def _email(subject: str, text: str, html: str, to: str) -> PreparedEmail:
    message = PreparedEmail(" ".join(subject.split()), text, settings.DEFAULT_FROM_EMAIL, [to])
    message.attach_alternative(html, "text/html")
    return message


def email_build(*, name: str, to: str, context: dict) -> PreparedEmail:
    """One email, text and HTML, from the three templates called `name`."""
    return _email(*(render_to_string(f"emails/{name}-{part}", context) for part in PARTS), to)


_MARKER = "\x1e{}\x1e"
_MARKERS = re.compile("\x1e(\\d+)\x1e")


class _Filler:
    """A rendered template with markers, split once: fill(values) puts each marker's value
    in its place."""

    def __init__(self, rendered: str):
        pieces = _MARKERS.split(rendered)  # text, field index, text, …, text
        self._texts = pieces[0::2]
        self._fields = [int(index) for index in pieces[1::2]]

    def fill(self, values: Sequence[str]) -> str:
        texts = self._texts
        return texts[0] + "".join(values[f] + text for f, text in zip(self._fields, texts[1:], strict=True))


class _Marked:
    """Stands in for the item while a variant renders: each of `fields` reads as its marker,
    a `variant` attribute as the item's; any other attribute read is noted in `strays`."""

    def __init__(self, item: Any, fields: Sequence[str], variant: Sequence[str]):
        self._item, self._fields, self._variant, self.strays = item, fields, variant, set()

    def __getattr__(self, name: str):
        if name in self._fields:
            return _MARKER.format(self._fields.index(name))
        if name not in self._variant:
            self.strays.add(name)
        return getattr(self._item, name)


class EmailRenderer:
    """email_build(name=name, to=…, context={"item": item}) for many items, cheaper: each
    template is rendered once per variant (the items' values of `variant`, which the
    templates may test and print) with a marker for each of `fields` (values the templates
    only print, never test or filter), then each email fills in its own values (escaped in
    the HTML part). Byte for byte what email_build makes: the first email of each variant is
    checked against a full rendering, and a template that reads an attribute named in
    neither list, or does not match, is rendered whole from then on (logged once). Safe to
    share between threads."""

    def __init__(self, name: str, *, fields: Sequence[str], variant: Sequence[str]):
        self.name, self.fields, self.variant = name, tuple(fields), tuple(variant)
        self._parts: dict[tuple, tuple[_Filler, ...]] = {}
        self.whole = False  # set once the cache was refused: every email is rendered whole

    def build(self, item: Any, *, to: str) -> PreparedEmail:
        if self.whole:
            return email_build(name=self.name, to=to, context={"item": item})
        key = tuple(getattr(item, f) for f in self.variant)
        parts = self._parts.get(key)
        if parts is None:
            return self._first(item, key, to)
        return self._filled(parts, item, to)

    def _filled(self, parts: tuple[_Filler, ...], item: Any, to: str) -> PreparedEmail:
        values = [str(getattr(item, f)) for f in self.fields]
        escaped = [escape(v) for v in values]
        subject, text, html = (
            part.fill(vs) for part, vs in zip(parts, (values, values, escaped), strict=True)
        )
        return _email(subject, text, html, to)

    def _first(self, item: Any, key: tuple, to: str) -> PreparedEmail:
        marked = _Marked(item, self.fields, self.variant)
        parts = tuple(
            _Filler(render_to_string(f"emails/{self.name}-{part}", {"item": marked})) for part in PARTS
        )
        whole = email_build(name=self.name, to=to, context={"item": item})
        filled = self._filled(parts, item, to) if not marked.strays else None
        if filled is None or _content(filled) != _content(whole):
            self.whole = True
            logger.error(
                "email templates %r cannot be rendered once per variant (they read %s, or print a "
                "value other than as it is); every email is rendered whole",
                self.name,
                ", ".join(sorted(marked.strays)) or "no other attribute",
                extra={"event": "email_cache_refused", "template": self.name},
            )
            return whole
        self._parts[key] = parts
        return filled


def _content(message: EmailMultiAlternatives) -> tuple:
    return (message.subject, message.body, tuple(message.alternatives))


def stable_message_id(*parts: str) -> str:
    """A Message-ID that is the same whenever it is made from the same `parts` (so a message
    sent twice can be recognised), in the domain of DEFAULT_FROM_EMAIL."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:40]
    return f"<{digest}@{_domain(settings.DEFAULT_FROM_EMAIL)}>"


@lru_cache(maxsize=8)
def _domain(address: str) -> str:
    return (parseaddr(address)[1].rpartition("@")[2] or "localhost")[:200]
