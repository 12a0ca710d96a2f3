"""All Requests' counts over a search from the cache (REQUESTS_COUNTS_CACHE_SECONDS): reused
while no request was created or revoked, recounted as soon as one was, never cached from
inside a transaction. Without a search the counts are RequestStatusCount's rows, never a
GROUP BY and never cached (tests/test_status_counts.py). Transactional tests: the page runs
in autocommit, as it does when served."""

import pytest
from django.core.cache import cache
from django.db import connection, transaction
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accessmgr.db import db_now
from requests_app import selectors
from tests.factories import revocation_make

ALL = reverse("requests_app:all_requests")
CREATE = reverse("requests_app:create_request")

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def counts_cached(monkeypatch):
    """The cache on, and every search counted by GROUP BY (none read once): the cache is
    for searches broader than SEARCH_READ_ONCE_MAX."""
    monkeypatch.setattr(selectors, "SEARCH_READ_ONCE_MAX", 0)
    cache.clear()
    with override_settings(REQUESTS_COUNTS_CACHE_SECONDS=60):
        yield
    cache.clear()


def page_counts(client, **params) -> tuple[dict, bool]:
    """The page's counts, and whether it ran the GROUP BY."""
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(ALL, params)
    assert response.status_code == 200
    counted = any("GROUP BY" in q["sql"] for q in ctx.captured_queries)
    return response.context["page"].counts, counted


def test_counts_without_a_search_never_group_by_and_are_never_stale(user_client, make_request):
    first = make_request()
    assert page_counts(user_client) == ({"total": 1, "active": 1, "revoked": 0}, False)
    make_request()  # not through the page: another process, the API, a command
    assert page_counts(user_client) == ({"total": 2, "active": 2, "revoked": 0}, False)
    revocation_make(first)
    assert page_counts(user_client, status="Revoked") == ({"total": 2, "active": 1, "revoked": 1}, False)


def test_counts_are_reused_while_nothing_changed(user_client, make_request):
    make_request()
    assert page_counts(user_client, q="example") == ({"total": 1, "active": 1, "revoked": 0}, True)
    assert page_counts(user_client, q="example") == ({"total": 1, "active": 1, "revoked": 0}, False)
    assert page_counts(user_client, q="example", page=2, status="Active") == (
        {"total": 1, "active": 1, "revoked": 0},
        False,
    )


def test_creating_a_request_on_the_page_recounts(user_client, make_request):
    make_request()
    page_counts(user_client)
    assert page_counts(user_client, q="example")[1] is True
    form = {
        "requestor_name": "Bob Builder",
        "requestor_email": "bob@example.com",
        "resource_name": "GitHub org",
        "justification": "",
        "duration": "5",
        "custom_date": "",
    }
    response = user_client.post(CREATE, form, follow=True)
    assert response.context["page"].counts == {"total": 2, "active": 2, "revoked": 0}
    assert 'data-count="total">2<' in response.content.decode()
    assert page_counts(user_client, q="example") == ({"total": 2, "active": 2, "revoked": 0}, True)


def test_a_request_created_elsewhere_or_revoked_recounts(user_client, make_request):
    first = make_request()
    page_counts(user_client, q="example")
    make_request()  # not through the page: another process, the API, a command
    assert page_counts(user_client, q="example") == ({"total": 2, "active": 2, "revoked": 0}, True)
    revocation_make(first)  # the revoke job records a RevokedAccess row with each status change
    assert page_counts(user_client, q="example") == ({"total": 2, "active": 1, "revoked": 1}, True)
    html = user_client.get(ALL, {"status": "Revoked", "q": "example"}).content.decode()
    assert first.request_id in html and 'data-count="revoked">1<' in html


def test_each_search_has_its_own_counts(user_client, make_request):
    make_request(requestor_email="zoe@corp.example")
    make_request(requestor_email="max@corp.example")
    assert page_counts(user_client, q="zoe")[0]["total"] == 1
    assert page_counts(user_client, q="corp")[0]["total"] == 2
    assert page_counts(user_client, q="zoe") == ({"total": 1, "active": 1, "revoked": 0}, False)


def test_a_narrow_search_is_read_once_counted_from_its_rows_and_never_cached(
    user_client, make_request, monkeypatch
):
    monkeypatch.setattr(selectors, "SEARCH_READ_ONCE_MAX", 3)
    first = make_request(requestor_email="zoe@corp.example")
    make_request(requestor_email="zoey@corp.example")
    make_request(requestor_email="max@corp.example")
    revocation_make(first)
    with CaptureQueriesContext(connection) as ctx:
        response = user_client.get(ALL, {"q": "zoe", "status": "Active"})
    assert response.context["page"].counts == {"total": 2, "active": 1, "revoked": 1}
    assert response.context["page"].paginator.count == 1
    assert len(response.context["page"].object_list) == 1
    searched = [q["sql"] for q in ctx.captured_queries if "UserAccessRequest" in q["sql"]]
    assert len(searched) == 2 and not any("GROUP BY" in q for q in searched)  # ids + statuses, the page
    assert page_counts(user_client, q="corp") == ({"total": 3, "active": 2, "revoked": 1}, False)
    make_request(requestor_email="ann@corp.example")  # four: more than read once
    assert page_counts(user_client, q="corp") == ({"total": 4, "active": 3, "revoked": 1}, True)
    assert page_counts(user_client, q="nobody") == ({"total": 0, "active": 0, "revoked": 0}, False)


def test_zero_seconds_counts_on_every_view(user_client, make_request):
    make_request()
    with override_settings(REQUESTS_COUNTS_CACHE_SECONDS=0):
        assert page_counts(user_client, q="example")[1] is True
        assert page_counts(user_client, q="example")[1] is True


def test_counts_read_inside_a_transaction_are_not_cached(make_request):
    searched = selectors.RequestFilters(search="example")
    make_request()
    with transaction.atomic():
        make_request()
        inside = selectors.access_request_list(filters=searched, now=db_now(), counts_max_age=60).counts
        transaction.set_rollback(True)
    assert inside["total"] == 2
    assert (
        selectors.access_request_list(filters=searched, now=db_now(), counts_max_age=60).counts["total"] == 1
    )
    assert selectors.access_request_list(now=db_now(), counts_max_age=60).counts["total"] == 1


def test_a_page_runs_the_same_queries_whatever_its_size(make_request):
    for i in range(60):
        obj = make_request()
        if i % 2:
            revocation_make(obj)
    sizes, now = [], db_now()
    for per_page in (1, 10, 50):
        cache.clear()
        for filters in (selectors.RequestFilters(), selectors.RequestFilters(search="example")):
            with CaptureQueriesContext(connection) as ctx:
                page = selectors.access_request_list(
                    filters=filters, now=now, per_page=per_page, counts_max_age=60
                )
            assert len(page.object_list) == per_page
            sizes.append(len(ctx.captured_queries))
    # RequestStatusCount, rows; searched (broader than read once): the first
    # SEARCH_READ_ONCE_MAX + 1 matches, fingerprint, GROUP BY (a miss), rows
    assert sizes == [2, 4] * 3
