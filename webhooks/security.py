"""Endpoint URLs and secrets: what may be configured and where a delivery may connect.

Only http(s) URLs. Unless WEBHOOK_ALLOW_PRIVATE_NETWORKS (default: on with DEBUG), a host
must resolve to public addresses only: no loopback, link-local, private or reserved ones
(server-side request forgery). The check runs when an endpoint is saved and again before
every delivery, on the addresses the name resolves to then.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import secrets
import socket
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator

SECRET_PREFIX = "whsec_"
SECRET_BYTES = (24, 64)  # Standard Webhooks: 24 to 64 random bytes
URL_MAX = 2000


class AddressRefused(Exception):
    """The endpoint's host resolves to an address deliveries may not reach."""


def secret_generate() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def secret_validate(value: str) -> str:
    """A Standard Webhooks secret, whsec_<base64 of 24-64 bytes>. Raises ValidationError
    (whose message never repeats the value)."""
    value = (value or "").strip()
    if not value.startswith(SECRET_PREFIX):
        raise ValidationError("The secret must look like whsec_<base64>.")
    try:
        key = base64.b64decode(value[len(SECRET_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        raise ValidationError("The secret after whsec_ is not valid base64.") from None
    low, high = SECRET_BYTES
    if not low <= len(key) <= high:
        raise ValidationError(f"The secret must encode {low} to {high} bytes (it encodes {len(key)}).")
    return value


def _address_allowed(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def host_check(host: str, port: int) -> None:
    """Resolve `host` and refuse it unless every address is public (or private networks are
    allowed). Raises AddressRefused with the reason."""
    if settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS:
        return
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise AddressRefused(f"{host} does not resolve ({exc}).") from None
    for info in infos:
        address = info[4][0]
        if not _address_allowed(address):
            raise AddressRefused(
                f"{host} resolves to {address}, a loopback, link-local, private or reserved address "
                "(set WEBHOOK_ALLOW_PRIVATE_NETWORKS to allow it)."
            )


def url_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)


def endpoint_url_validate(value: str) -> str:
    """An endpoint URL that deliveries may use. Raises ValidationError with the reason."""
    value = (value or "").strip()
    if not value:
        raise ValidationError("Enter the endpoint's URL.")
    if len(value) > URL_MAX:
        raise ValidationError(f"The URL is longer than {URL_MAX} characters.")
    try:
        URLValidator(schemes=["http", "https"])(value)
    except ValidationError:
        raise ValidationError("Enter a valid http:// or https:// URL.") from None
    parts = urlsplit(value)
    if parts.username or parts.password:
        raise ValidationError("The URL may not contain a user name or password.")
    try:
        host_check(*url_port(value))
    except AddressRefused as refused:
        raise ValidationError(str(refused)) from None
    return value
