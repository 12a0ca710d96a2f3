"""Reads: the query behind each request page and API list, one function per list.

A list is a Django Page whatever its page number or size: a constant number of queries
(the counts, the rows), the rows read as a deferred join (the OFFSET runs over an index
of ids, then only the page's rows are fetched). docs/schema.md says which index serves which sort.
"""

from __future__ import annotations

import hashlib
import operator
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import reduce

from django.core.cache import cache
from django.core.paginator import Page, Paginator
from django.db import connection, transaction
from django.db.models import Count, F, Q, QuerySet, Subquery
from django.db.models.expressions import RawSQL

from accessmgr.http import page_get
from jobs.dialects import dialect_for
from requests_app.models import (
    AccessEvent,
    ExpiryNotification,
    RequestStatusCount,
    RevokedAccess,
    UserAccessRequest,
)

PAGE_SIZE = 50
SEARCH_MAX_LENGTH = 254
SEARCH_FIELDS = ("request_id", "requestor_email", "requestor_name", "resource_name")
STATUSES = tuple(UserAccessRequest.Status.values)  # ("Active", "Revoked")
EXPIRING_WITHIN_MAX_DAYS = 3650
# A search matching at most this many requests is read once (their ids and statuses), then
# counted in Python and paged by primary key; a broader one is counted by GROUP BY.
SEARCH_READ_ONCE_MAX = 500

# sort key (the API's camelCase field; "-key" reverses every column) → ORDER BY, each
# ending in a unique column so that a sort is stable and a page boundary never splits ties.
SORTS: dict[str, tuple] = {
    "requestId": ("request_id",),
    "requestorName": ("requestor_name", "id"),
    "resourceName": ("resource_name", "id"),
    "status": ("status", "-created_at", "-id"),  # newest first within a status
    "createdAt": ("created_at", "id"),
    "expiresOn": ("expires_on", "id"),
    "revokedDt": ("revocation__revoked_dt", "id"),
}
DEFAULT_SORT = "-createdAt"


def _ordering(sort: str) -> list:
    """ORDER BY for a key of SORTS, or "-" and one. Raises KeyError for an unknown key.
    NULLs (no revocation) sort last either way; NULLS LAST only there, as it would not
    match the indexes' (DESC NULLS FIRST) order elsewhere."""
    reverse = sort.startswith("-")
    ordering = []
    for name in SORTS[sort.removeprefix("-")]:
        column = name.removeprefix("-")
        descending = reverse != name.startswith("-")
        if column == "revocation__revoked_dt":
            ordering.append(F(column).desc(nulls_last=True) if descending else F(column).asc(nulls_last=True))
        else:
            ordering.append(f"-{column}" if descending else column)
    return ordering


@dataclass(frozen=True)
class RequestFilters:
    """What All Requests and GET /api/access-requests filter on; the defaults filter nothing."""

    search: str = ""  # part of the Request_Id, requestor's name or email, or resource
    status: str = ""  # "", or one of STATUSES (unknown: nothing matches)
    overdue: bool = False  # Active with Expires_On passed: what the revoke job would revoke
    expiring_within_days: int | None = None  # Active, expiring after now and within this many days
    sort: str = DEFAULT_SORT
    requester_id: int | None = None  # only this user's requests (a user who may not view all)


def _reversed(ordering: list) -> list:
    """The exact reverse of an ORDER BY (NULLS LAST becomes NULLS FIRST)."""
    flipped = []
    for term in ordering:
        if isinstance(term, str):
            flipped.append(term[1:] if term.startswith("-") else f"-{term}")
        else:
            flipped.append(term.copy().reverse_ordering())
    return flipped


class _DeferredJoin:
    """`queryset` in `ordering` as Paginator reads it: a slice selects the page's ids on
    an index (OFFSET … LIMIT in a subquery), then fetches only those rows, with `related`
    joined. count() is the `total` the caller already knows. One query a page; a page
    in the second half is read from the end, so the last page costs what the first does."""

    def __init__(self, queryset: QuerySet, *, ordering: list, total: int, related: tuple = ()):
        self.queryset, self.ordering, self.total, self.related = queryset, ordering, total, related

    def count(self) -> int:
        return self.total

    def __getitem__(self, window: slice) -> list[UserAccessRequest]:
        start, stop = window.start, min(window.stop, self.total)
        if start >= stop:
            return []
        if start > self.total - stop:
            backwards = self.queryset.order_by(*_reversed(self.ordering)).values("id")
            page_ids = backwards[self.total - stop : self.total - start]
        else:
            page_ids = self.queryset.order_by(*self.ordering).values("id")[start:stop]
        rows = UserAccessRequest.objects.filter(id__in=page_ids).select_related(*self.related)
        return list(rows.order_by(*self.ordering))


def search_clean(raw: str | None) -> str:
    """The search text as it will be used: stripped, bounded, without NUL characters
    (PostgreSQL rejects NUL in a string parameter)."""
    return (raw or "").replace("\x00", "").strip()[:SEARCH_MAX_LENGTH]


def search_filter(search: str) -> Q:
    """Case-insensitive "contains" on four columns (SEARCH_FIELDS). On PostgreSQL it reads
    the upper-cased copy of those columns in UserAccessRequestSearch, whose trigram index
    serves it from three characters on (migration 0011); `%` and `_` match themselves."""
    dialect = dialect_for(connection)
    if dialect.search_text_table:
        pattern = f"%{connection.ops.prep_for_like_query(search)}%"
        return Q(id__in=RawSQL(dialect.search_ids_sql(), [pattern] * len(SEARCH_FIELDS)))
    filters = [Q(**{f"{field}__icontains": search}) for field in SEARCH_FIELDS]
    return reduce(operator.or_, filters)


def _counts_query(base: QuerySet) -> dict[str, int]:
    """Requests by status (GROUP BY Status): {"Active": n, "Revoked": m}."""
    return dict(base.values_list("status").annotate(n=Count("id")).order_by())


def status_counts() -> dict[str, int]:
    """Every request by status, read from RequestStatusCount (kept by triggers): one read of
    a row per status, whatever the number of requests."""
    return dict(RequestStatusCount.objects.values_list("status", "n"))


def _counts_fingerprint() -> tuple[int | None, int | None]:
    """The highest UserAccessRequest.Id and RevokedAccess.Id (two index look-ups, one
    query): a create or a revoke in any process changes it."""
    last_revocation = RevokedAccess.objects.order_by("-id").values("id")[:1]
    row = (
        UserAccessRequest.objects.order_by("-id")
        .annotate(last_revocation=Subquery(last_revocation))
        .values_list("id", "last_revocation")
        .first()
    )
    return row or (None, None)


def _counts_cached(
    *, base: QuerySet, search: str, requester_id: int | None, max_age: float
) -> dict[str, int]:
    """_counts_query(base), reused for up to `max_age` seconds while the fingerprint is
    the same. Not cached inside a transaction: its uncommitted rows are not for others."""
    if max_age <= 0 or transaction.get_connection().in_atomic_block:
        return _counts_query(base)
    last_request, last_revocation = _counts_fingerprint()
    digest = hashlib.sha256(search.encode()).hexdigest()[:32]
    key = f"requests_app:counts:{last_request}:{last_revocation}:{requester_id}:{digest}"
    by_status = cache.get(key)
    if by_status is None:
        by_status = _counts_query(base)
        cache.set(key, by_status, max_age)
    return by_status


def _matching(base: QuerySet, filters: RequestFilters, now: datetime) -> QuerySet:
    matching = base.filter(status=filters.status) if filters.status else base
    if filters.overdue or filters.expiring_within_days:
        matching = matching.filter(status=UserAccessRequest.Status.ACTIVE)
        if filters.overdue:
            matching = matching.filter(expires_on__lte=now)
        if filters.expiring_within_days:
            days = timedelta(days=filters.expiring_within_days)
            matching = matching.filter(expires_on__gt=now, expires_on__lte=now + days)
    return matching


def _searched(filters: RequestFilters) -> QuerySet:
    search = search_clean(filters.search)
    base = _of_requester(filters.requester_id)
    return base.filter(search_filter(search)) if search else base


def _of_requester(requester_id: int | None) -> QuerySet:
    """Every request, or only those of one user (requester_id)."""
    base = UserAccessRequest.objects.all()
    return base if requester_id is None else base.filter(requester_id=requester_id)


def access_request_filtered(*, filters: RequestFilters, now: datetime) -> QuerySet[UserAccessRequest]:
    """Every request matching `filters`, in its sort order, with its revocation (the exports)."""
    matching = _matching(_searched(filters), filters, now)
    return matching.select_related("revocation").order_by(*_ordering(filters.sort))


def access_request_list(
    *,
    filters: RequestFilters = RequestFilters(),
    now: datetime,
    page: int = 1,
    per_page: int = PAGE_SIZE,
    clamp: bool = True,
    counts_max_age: float = 0,
) -> Page:
    """One page of all requests with their revocation, filtered and sorted by `filters`
    (`now`: the database's clock, for the expiry filters). The page's `counts` are
    {total, active, revoked} over the search alone (without a search or requester_id: from
    RequestStatusCount); `page.paginator.count` is the rows matching every filter. Past the
    end: the last page (clamp) or an empty page. Two queries, three with an expiry filter
    (a search of more than SEARCH_READ_ONCE_MAX requests: one more); with a search or
    requester_id and `counts_max_age` > 0, the counts of more than that may come from the
    cache (REQUESTS_COUNTS_CACHE_SECONDS). Raises KeyError for an unknown sort.
    """
    ordering = _ordering(filters.sort)
    base = _searched(filters)
    search = search_clean(filters.search)
    found = list(base.values_list("id", "status")[: SEARCH_READ_ONCE_MAX + 1]) if search else []
    if search and len(found) <= SEARCH_READ_ONCE_MAX:  # the search's one scan
        by_status = dict(Counter(status for _, status in found))
        base = UserAccessRequest.objects.filter(id__in=[pk for pk, _ in found])
    elif search or filters.requester_id is not None:
        by_status = _counts_cached(
            base=base, search=search, requester_id=filters.requester_id, max_age=counts_max_age
        )
    else:
        by_status = status_counts()
    counts = {
        "total": sum(by_status.values()),
        "active": by_status.get(UserAccessRequest.Status.ACTIVE, 0),
        "revoked": by_status.get(UserAccessRequest.Status.REVOKED, 0),
    }

    matching = _matching(base, filters, now)
    if filters.overdue or filters.expiring_within_days:
        total = matching.count()
    elif filters.status:
        total = by_status.get(filters.status, 0)
    else:
        total = counts["total"]

    rows = _DeferredJoin(matching, ordering=ordering, total=total, related=("revocation",))
    result = page_get(Paginator(rows, per_page), page, clamp=clamp)
    result.counts = counts
    return result


def access_request_expired(*, now: datetime, requester_id: int | None = None) -> QuerySet[UserAccessRequest]:
    """Active requests whose Expires_On has passed at `now` (the database's clock):
    what the revoke job would revoke (of one user, with requester_id). Most overdue first."""
    return (
        _of_requester(requester_id)
        .filter(status=UserAccessRequest.Status.ACTIVE, expires_on__lte=now)
        .order_by("expires_on", "id")
    )


def access_request_pending_expiry_list(
    *,
    now: datetime,
    page: int = 1,
    per_page: int = PAGE_SIZE,
    clamp: bool = True,
    requester_id: int | None = None,
) -> Page:
    """One page of access_request_expired(now=..., requester_id=...); `page.paginator.count`
    is all of them. Two queries, neither touching RevokedAccess (an Active request has no revocation)."""
    queryset = access_request_expired(now=now, requester_id=requester_id)
    rows = _DeferredJoin(queryset, ordering=list(queryset.query.order_by), total=queryset.count())
    return page_get(Paginator(rows, per_page), page, clamp=clamp)


def access_request_mine(*, requester_id: int, now: datetime, page: int = 1) -> Page:
    """My Access: one page of this user's requests, newest first, with their revocation, and
    each row's reminders (`r.reminders`, ExpiryNotification rows, oldest first). Past the
    end: the last page. Three queries."""
    result = access_request_list(filters=RequestFilters(requester_id=requester_id), now=now, page=page)
    rows = list(result.object_list)
    reminders: dict[str, list[ExpiryNotification]] = {r.request_id: [] for r in rows}
    if rows:
        sent = ExpiryNotification.objects.filter(request_id__in=list(reminders)).order_by("sent_at", "id")
        for notice in sent:
            reminders[notice.request_id].append(notice)
    for r in rows:
        r.reminders = reminders[r.request_id]
    result.object_list = rows
    return result


@dataclass
class RequestDetail:
    """One request with everything its page shows."""

    request: UserAccessRequest
    notifications: list[ExpiryNotification]
    events: list[AccessEvent]


def access_request_detail(*, request_id: str, requester_id: int | None = None) -> RequestDetail:
    """The request (only if it is this requester's, with requester_id), its revocation, the
    notices sent for it and its audit history (oldest first). Three queries. Raises
    UserAccessRequest.DoesNotExist after one query, alike for an unknown id and another's."""
    obj = _of_requester(requester_id).select_related("revocation").get(request_id=request_id)
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
