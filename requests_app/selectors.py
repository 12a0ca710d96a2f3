"""Reads: the query behind each request page and API list, one function per list.

Every list runs a constant number of queries whatever its page size: one aggregate for
the counts and one for the rows, which LEFT JOINs RevokedAccess (no query per row).
The All Requests page may take its counts from the cache instead (counts_cached).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime

from django.core.cache import cache
from django.db import transaction
from django.db.models import Count, Q, QuerySet, Subquery

from requests_app.models import AccessEvent, ExpiryNotification, RevokedAccess, UserAccessRequest

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


def _page_bounds(*, total: int, page: int, per_page: int, clamp: bool) -> tuple[int, int]:
    """(page number, offset of its first row)."""
    num_pages = max(1, -(-total // per_page))
    number = max(1, page)
    if clamp:
        number = min(number, num_pages)
    return number, (number - 1) * per_page


def _page_slice(*, queryset: QuerySet, total: int, page: int, per_page: int, clamp: bool) -> tuple[list, int]:
    number, offset = _page_bounds(total=total, page=page, per_page=per_page, clamp=clamp)
    rows = list(queryset[offset : offset + per_page]) if offset < total else []
    return rows, number


def _rows_page(*, queryset: QuerySet, total: int, page: int, per_page: int, clamp: bool) -> tuple[list, int]:
    """A page of `queryset` (ordered newest first) as a deferred join: the OFFSET runs on
    an index of ids alone (`Created_At DESC, Id DESC`, or the Status one when filtered),
    and only the page's ids are then joined to RevokedAccess. One query: the ids are a
    subquery (`Id IN (SELECT Id … LIMIT … OFFSET …)`)."""
    number, offset = _page_bounds(total=total, page=page, per_page=per_page, clamp=clamp)
    if offset >= total:
        return [], number
    page_ids = queryset.order_by("-created_at", "-id").values("id")[offset : offset + per_page]
    rows = (
        UserAccessRequest.objects.filter(id__in=page_ids)
        .select_related("revocation")
        .order_by("-created_at", "-id")
    )
    return list(rows), number


def _counts_query(base: QuerySet) -> dict[str, int]:
    """Requests by status (GROUP BY Status): {"Active": n, "Revoked": m}."""
    return dict(base.values_list("status").annotate(n=Count("id")).order_by())


def _counts_fingerprint() -> tuple[int | None, int | None]:
    """The highest UserAccessRequest.Id and RevokedAccess.Id, in one query of two index
    look-ups: a create (new request) or a revoke (new RevokedAccess row, with the status
    change in the same transaction) changes it, whichever process did it."""
    last_revocation = RevokedAccess.objects.order_by("-id").values("id")[:1]
    row = (
        UserAccessRequest.objects.order_by("-id")
        .annotate(last_revocation=Subquery(last_revocation))
        .values_list("id", "last_revocation")
        .first()
    )
    return row or (None, None)


def _counts_cached(*, base: QuerySet, search: str, max_age: float) -> dict[str, int]:
    """_counts_query(base), reused for up to `max_age` seconds while the fingerprint is
    the same. Not cached inside a transaction: its uncommitted rows are not for others."""
    if max_age <= 0 or transaction.get_connection().in_atomic_block:
        return _counts_query(base)
    last_request, last_revocation = _counts_fingerprint()
    digest = hashlib.sha256(search.encode()).hexdigest()[:32]
    key = f"requests_app:counts:{last_request}:{last_revocation}:{digest}"
    by_status = cache.get(key)
    if by_status is None:
        by_status = _counts_query(base)
        cache.set(key, by_status, max_age)
    return by_status


def access_request_filtered(*, search: str = "", status: str | None = None) -> QuerySet[UserAccessRequest]:
    """The requests All Requests lists: `search` matches part of the email or Request_Id,
    case-insensitively; `status` (if given) filters. Unordered."""
    search = search_clean(search)
    base = UserAccessRequest.objects.all()
    if search:
        base = base.filter(Q(requestor_email__icontains=search) | Q(request_id__icontains=search))
    if status:
        base = base.filter(status=status)
    return base


def access_request_list(
    *,
    status: str | None = None,
    search: str = "",
    page: int = 1,
    per_page: int = PAGE_SIZE,
    clamp: bool = True,
    counts_max_age: float = 0,
) -> RequestPage:
    """All requests, newest first, with their revocation (LEFT JOIN RevokedAccess).

    `search` matches part of the requestor's email or of the Request_Id, case-insensitively.
    `counts` (total / active / revoked) are over the search, before the status filter.
    Two queries. An unknown status is the caller's to reject; here it matches nothing.
    `clamp` moves a page number past the end to the last page (pages); the API keeps
    it and gets an empty list.

    `counts_max_age` > 0 lets the counts come from Django's cache for that many seconds
    while no request was created or revoked since (a third, index-only query reads the
    highest Id of both tables; a hit skips the GROUP BY, so two queries, a miss three).
    A deletion, an edit outside the app, or a create that commits after a later-numbered
    one was counted shows in the counts within `counts_max_age` seconds.
    """
    search = search_clean(search)
    base = access_request_filtered(search=search)

    # GROUP BY Status reads only the (Status, …) index when there is no search.
    by_status = _counts_cached(base=base, search=search, max_age=counts_max_age)
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

    rows, number = _rows_page(queryset=base, total=total, page=page, per_page=per_page, clamp=clamp)
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


@dataclass
class RequestDetail:
    """One request with everything its page shows."""

    request: UserAccessRequest
    notifications: list[ExpiryNotification]
    events: list[AccessEvent]


def access_request_detail(*, request_id: str) -> RequestDetail:
    """The request, its revocation, the notices sent for it and its audit history (oldest
    first). Three queries. Raises UserAccessRequest.DoesNotExist."""
    obj = UserAccessRequest.objects.select_related("revocation").get(request_id=request_id)
    return RequestDetail(
        request=obj,
        notifications=list(obj.notifications.order_by("sent_at", "id")),
        events=list(obj.events.order_by("occurred_at", "id")),
    )


def access_event_list(
    *, since: datetime | None = None, until: datetime | None = None
) -> QuerySet[AccessEvent]:
    """Audit events with since <= Occurred_At < until (either bound optional), oldest first."""
    events = AccessEvent.objects.order_by("occurred_at", "id")
    if since is not None:
        events = events.filter(occurred_at__gte=since)
    if until is not None:
        events = events.filter(occurred_at__lt=until)
    return events
