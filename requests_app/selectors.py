"""Reads: the query behind each request page and API list, one function per list.

Every list runs a constant number of queries whatever its page size: one aggregate for
the counts and one for the rows, which LEFT JOINs RevokedAccess (no query per row).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Count, Q, QuerySet

from requests_app.models import UserAccessRequest

PAGE_SIZE = 50
SEARCH_MAX_LENGTH = 254
STATUSES = tuple(UserAccessRequest.Status.values)  # ("Active", "Revoked")


@dataclass
class RequestPage:
    """One page of a list. `number` is already clamped to 1..num_pages."""

    rows: list[UserAccessRequest]
    number: int
    per_page: int
    total: int  # rows matching the filters, over all pages
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def num_pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.num_pages

    @property
    def previous_page_number(self) -> int:
        return self.number - 1

    @property
    def next_page_number(self) -> int:
        return self.number + 1

    @property
    def start_index(self) -> int:
        return (self.number - 1) * self.per_page + 1 if self.rows else 0

    @property
    def end_index(self) -> int:
        return (self.number - 1) * self.per_page + len(self.rows)


def search_clean(raw: str | None) -> str:
    """The search text as it will be used: stripped, bounded, without NUL characters
    (PostgreSQL rejects NUL in a string parameter)."""
    return (raw or "").replace("\x00", "").strip()[:SEARCH_MAX_LENGTH]


def _page_slice(*, queryset: QuerySet, total: int, page: int, per_page: int, clamp: bool) -> tuple[list, int]:
    num_pages = max(1, -(-total // per_page))
    number = max(1, page)
    if clamp:
        number = min(number, num_pages)
    offset = (number - 1) * per_page
    rows = list(queryset[offset : offset + per_page]) if offset < total else []
    return rows, number


def access_request_list(
    *,
    status: str | None = None,
    search: str = "",
    page: int = 1,
    per_page: int = PAGE_SIZE,
    clamp: bool = True,
) -> RequestPage:
    """All requests, newest first, with their revocation (LEFT JOIN RevokedAccess).

    `search` matches part of the requestor's email or of the Request_Id, case-insensitively.
    `counts` (total / active / revoked) are over the search, before the status filter.
    Two queries. An unknown status is the caller's to reject; here it matches nothing.
    `clamp` moves a page number past the end to the last page (pages); the API keeps
    it and gets an empty list.
    """
    search = search_clean(search)
    base = UserAccessRequest.objects.all()
    if search:
        base = base.filter(Q(requestor_email__icontains=search) | Q(request_id__icontains=search))

    # GROUP BY Status reads only the (Status, …) index when there is no search.
    by_status = dict(base.values_list("status").annotate(n=Count("id")).order_by())
    counts = {
        "total": sum(by_status.values()),
        "active": by_status.get(UserAccessRequest.Status.ACTIVE, 0),
        "revoked": by_status.get(UserAccessRequest.Status.REVOKED, 0),
    }
    if status:
        total = by_status.get(status, 0)
        base = base.filter(status=status)
    else:
        total = counts["total"]

    rows_qs = base.select_related("revocation").order_by("-created_at", "-id")
    rows, number = _page_slice(queryset=rows_qs, total=total, page=page, per_page=per_page, clamp=clamp)
    return RequestPage(rows=rows, number=number, per_page=per_page, total=total, counts=counts)


def access_request_expired(*, now: datetime) -> QuerySet[UserAccessRequest]:
    """Active requests whose Expires_On has passed at `now` (the database's clock):
    what the revoke job would revoke. Most overdue first."""
    return UserAccessRequest.objects.filter(
        status=UserAccessRequest.Status.ACTIVE, expires_on__lte=now
    ).order_by("expires_on", "id")


def access_request_pending_expiry_list(
    *, now: datetime, page: int = 1, per_page: int = PAGE_SIZE, clamp: bool = True
) -> RequestPage:
    """One page of access_request_expired(now=...) with its count. Two queries."""
    queryset = access_request_expired(now=now)
    total = queryset.count()
    queryset = queryset.select_related("revocation")  # always empty here, but keeps rows uniform
    rows, number = _page_slice(queryset=queryset, total=total, page=page, per_page=per_page, clamp=clamp)
    return RequestPage(rows=rows, number=number, per_page=per_page, total=total, counts={"total": total})
