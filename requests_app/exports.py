"""CSV exports, streamed: rows are read from the database in chunks and written as they
go (StreamingHttpResponse + csv), so a 100,000-row export is never built in memory."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

from django.db.models import QuerySet
from django.http import StreamingHttpResponse

from requests_app.models import AccessEvent, UserAccessRequest

CHUNK_SIZE = 2000
# A cell starting with one of these is a formula to a spreadsheet: prefix it with '.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

REQUEST_COLUMNS = [
    "Request ID",
    "Requestor Name",
    "Requestor Email",
    "Resource",
    "Justification",
    "Status",
    "Created At (UTC)",
    "Expires On (UTC)",
    "Revoked At (UTC)",
    "Revoked By",
]
EVENT_COLUMNS = [
    "Occurred At (UTC)",
    "Request ID",
    "Event",
    "Actor",
    "Job ID",
    "Reason",
    "Old Expires On (UTC)",
    "New Expires On (UTC)",
    "Detail",
]


class _Echo:
    """A file-like object whose write returns the line, for csv.writer."""

    def write(self, value: str) -> str:
        return value


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    text = str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def _request_row(r: UserAccessRequest) -> list:
    revocation = getattr(r, "revocation", None)
    return [
        r.request_id,
        r.requestor_name,
        r.requestor_email,
        r.resource_name,
        r.justification,
        r.status,
        r.created_at,
        "Never" if r.never_expires else r.expires_on,
        revocation.revoked_dt if revocation else None,
        revocation.revoked_by if revocation else None,
    ]


def _event_row(e: AccessEvent) -> list:
    return [
        e.occurred_at,
        e.request_id,
        e.event_type,
        e.actor,
        e.job_id,
        e.reason,
        e.old_expires_on,
        e.new_expires_on,
        e.detail,
    ]


def _lines(columns: list[str], rows: Iterable[list]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield "\ufeff" + writer.writerow(columns)  # the BOM makes spreadsheets read UTF-8
    for row in rows:
        yield writer.writerow([_cell(v) for v in row])


def _response(lines: Iterator[str], filename: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def access_requests_csv(queryset: QuerySet[UserAccessRequest], *, filename: str) -> StreamingHttpResponse:
    """The requests of `queryset`, newest first, with their revocation, as a CSV download."""
    rows = (
        queryset.select_related("revocation").order_by("-created_at", "-id").iterator(chunk_size=CHUNK_SIZE)
    )
    return _response(_lines(REQUEST_COLUMNS, (_request_row(r) for r in rows)), filename)


def access_events_csv(queryset: QuerySet[AccessEvent], *, filename: str) -> StreamingHttpResponse:
    """The audit events of `queryset`, in its order, as a CSV download."""
    rows = queryset.iterator(chunk_size=CHUNK_SIZE)
    return _response(_lines(EVENT_COLUMNS, (_event_row(e) for e in rows)), filename)
