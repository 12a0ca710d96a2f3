"""The three request pages: All Requests, Create Request, Pending Expiry."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from requests_app.models import NEVER_EXPIRES, UserAccessRequest
from tests.factories import revocation_make

ALL = reverse("requests_app:all_requests")
CREATE = reverse("requests_app:create_request")
PENDING = reverse("requests_app:pending_expiry")


def valid_form(**overrides):
    data = {
        "requestor_name": "Bob Builder",
        "requestor_email": "bob@example.com",
        "resource_name": "GitHub org",
        "justification": "Needed for the release.",
        "duration": "5",
        "custom_date": "",
    }
    data.update(overrides)
    return data


# --- All Requests -------------------------------------------------------------------


def test_all_requests_lists_newest_first_with_revoked_column(user_client, make_request):
    old = make_request(created_ago=timedelta(days=3))
    new = make_request()
    revocation_make(old, by="System - Scheduled Expiry Job")
    html = user_client.get(ALL).content.decode()
    assert html.index(new.request_id) < html.index(old.request_id)
    assert "by System - Scheduled Expiry Job" in html
    assert 'data-count="total">2<' in html
    assert 'data-count="active">1<' in html
    assert 'data-count="revoked">1<' in html


def test_never_expiring_request_shows_never(user_client, make_request):
    make_request(expires_on=NEVER_EXPIRES)
    assert "Never" in user_client.get(ALL).content.decode()


def test_all_requests_paginates_fifty_a_page(user_client, make_request):
    rows = [make_request() for _ in range(51)]
    first = user_client.get(ALL)
    assert len(first.context["page"].object_list) == 50
    assert rows[0].request_id not in first.content.decode()  # the oldest is on page 2
    second = user_client.get(ALL, {"page": 2})
    assert [r.request_id for r in second.context["page"].object_list] == [rows[0].request_id]


@pytest.mark.parametrize("page", ["abc", "-3", "0", "999999", "1.5", "", "%00", "99999999999999999999999"])
def test_bad_page_numbers_do_not_fail(user_client, make_request, page):
    make_request()
    response = user_client.get(ALL, {"page": page})
    assert response.status_code == 200
    assert len(response.context["page"].object_list) == 1


def test_status_filter_and_unknown_status(user_client, make_request):
    active = make_request()
    revoked = make_request()
    revocation_make(revoked)
    html = user_client.get(ALL, {"status": "Revoked"}).content.decode()
    assert revoked.request_id in html and active.request_id not in html
    response = user_client.get(ALL, {"status": "Bogus"})
    assert response.status_code == 200
    assert "Ignored status: Must be one of: Active, Revoked." in response.content.decode()
    assert len(response.context["page"].object_list) == 2


@pytest.mark.parametrize(
    ("fields", "search"),
    [
        ({"requestor_email": "zoe@corp.example"}, "ZOE@corp"),
        ({"request_id": "REQ-2026-000777"}, "req-2026-000777"),
        ({"requestor_name": "Ada Lovelace"}, "lovelace"),
        ({"resource_name": "Corporate VPN"}, "corporate vpn"),
    ],
)
def test_search_by_request_id_requestor_name_or_email_or_resource(user_client, make_request, fields, search):
    found = make_request(**fields)
    other = make_request()
    html = user_client.get(ALL, {"q": search}).content.decode()
    assert found.request_id in html and other.request_id not in html


def test_a_long_or_nul_search_does_not_fail(user_client, make_request):
    assert user_client.get(ALL, {"q": "a\x00b" + "x" * 5000}).status_code == 200


def ids_shown(client, **params) -> list[str]:
    return [r.request_id for r in client.get(ALL, params).context["page"].object_list]


def test_every_column_sorts_both_ways_and_ties_keep_one_order(user_client, make_request):
    b = make_request(requestor_name="Bea", resource_name="VPN", expires_in=timedelta(days=9))
    a = make_request(requestor_name="Al", resource_name="VPN", expires_in=timedelta(days=20))
    c = make_request(requestor_name="Cy", resource_name="CRM", expires_in=timedelta(days=1))
    revocation_make(c)
    assert ids_shown(user_client, sort="requestorName") == [a.request_id, b.request_id, c.request_id]
    assert ids_shown(user_client, sort="-requestorName") == [c.request_id, b.request_id, a.request_id]
    assert ids_shown(user_client, sort="expiresOn") == [c.request_id, b.request_id, a.request_id]
    # the two VPN rows tie on the resource: the Id decides, the same way every time
    assert ids_shown(user_client, sort="resourceName") == [c.request_id, b.request_id, a.request_id]
    assert ids_shown(user_client, sort="-resourceName") == [a.request_id, b.request_id, c.request_id]
    assert ids_shown(user_client, sort="status") == [a.request_id, b.request_id, c.request_id]
    assert ids_shown(user_client, sort="revokedDt")[0] == c.request_id  # not revoked: last
    assert ids_shown(user_client, sort="-revokedDt")[0] == c.request_id
    assert ids_shown(user_client, sort="requestId") == sorted([a.request_id, b.request_id, c.request_id])
    assert ids_shown(user_client, sort="createdAt") == [b.request_id, a.request_id, c.request_id]


def test_a_sorted_column_is_marked_and_its_link_reverses_it(user_client, make_request):
    make_request()
    html = user_client.get(ALL, {"sort": "expiresOn", "status": "Active"}).content.decode()
    assert (
        '<th scope="col" aria-sort="ascending"><a href="?status=Active&amp;sort=-expiresOn">Expires ▲' in html
    )
    assert 'href="?status=Active&amp;sort=requestorName"' in html


def test_an_unknown_sort_is_ignored_with_a_message(user_client, make_request):
    make_request()
    response = user_client.get(ALL, {"sort": "Id; DROP TABLE"})
    assert response.status_code == 200
    assert "Ignored sort" in response.content.decode()
    assert len(response.context["page"].object_list) == 1


def test_overdue_filter_and_badge(user_client, make_request):
    overdue = make_request(expires_in=-timedelta(hours=1))
    current = make_request(expires_in=timedelta(days=3))
    revoked = make_request(expires_in=-timedelta(days=2))
    revocation_make(revoked)
    response = user_client.get(ALL, {"overdue": "true"})
    assert ids_shown(user_client, overdue="true") == [overdue.request_id]
    assert response.context["page"].paginator.count == 1
    assert 'data-count="matching">1<' in response.content.decode()
    html = user_client.get(ALL).content.decode()
    assert html.count('class="badge Overdue"') == 1  # not on the future one, nor the revoked one
    assert current.request_id in html


def test_expiring_within_days_filter(user_client, make_request):
    soon = make_request(expires_in=timedelta(days=2))
    make_request(expires_in=timedelta(days=10))
    make_request(expires_in=-timedelta(hours=1))  # already expired: not "expiring"
    make_request(expires_on=NEVER_EXPIRES)
    assert ids_shown(user_client, expiringWithinDays="7") == [soon.request_id]
    response = user_client.get(ALL, {"expiringWithinDays": "0"})
    assert "Ignored expiringWithinDays" in response.content.decode()
    assert len(response.context["page"].object_list) == 4


def test_filters_carry_into_the_page_links(user_client, make_request):
    for _ in range(51):
        make_request(resource_name="VPN")
    html = user_client.get(ALL, {"q": "VPN", "sort": "expiresOn"}).content.decode()
    assert 'href="?q=VPN&amp;sort=expiresOn&amp;page=2"' in html


def test_all_requests_runs_a_constant_number_of_queries(user_client, make_request):
    make_request()

    def count_queries():
        with CaptureQueriesContext(connection) as ctx:
            assert user_client.get(ALL).status_code == 200
        return len(ctx.captured_queries)

    one_row = count_queries()
    for i in range(60):
        obj = make_request()
        if i % 2:
            revocation_make(obj)
    assert count_queries() == one_row
    with CaptureQueriesContext(connection) as ctx:
        user_client.get(ALL, {"q": "example", "status": "Revoked", "page": 2, "sort": "revokedDt"})
    assert len(ctx.captured_queries) == one_row
    with CaptureQueriesContext(connection) as ctx:
        user_client.get(ALL, {"expiringWithinDays": "60"})
    assert len(ctx.captured_queries) == one_row + 1  # the count of the rows matching the expiry filter


# --- Create Request -----------------------------------------------------------------


def test_create_page_offers_the_durations(user_client):
    html = user_client.get(CREATE).content.decode()
    for value in ["1", "5", "29", "30", "90", "180", "365", "never", "custom"]:
        assert f'value="{value}"' in html


def test_create_success_redirects_with_message_and_row_on_all_requests(user_client):
    response = user_client.post(CREATE, valid_form(), follow=True)
    obj = UserAccessRequest.objects.get()
    assert response.redirect_chain == [(ALL, 302)]
    html = response.content.decode()
    assert f"Request {obj.request_id} created" in html
    assert obj.request_id in html
    assert obj.expires_on - obj.created_at == timedelta(days=5)


def test_create_with_custom_future_date(user_client):
    day = (timezone.localdate() + timedelta(days=12)).isoformat()
    user_client.post(CREATE, valid_form(duration="custom", custom_date=day))
    obj = UserAccessRequest.objects.get()
    assert timezone.localtime(obj.expires_on).date().isoformat() == day


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"requestor_name": ""}, "requestor_name", "This field is required."),
        ({"requestor_email": "not-an-email"}, "requestor_email", "Enter a valid email address."),
        ({"resource_name": "x" * 201}, "resource_name", "at most 200 characters"),
        ({"justification": "j" * 1001}, "justification", "at most 1000 characters"),
        ({"requestor_email": "a" * 250 + "@example.com"}, "requestor_email", "at most 254 characters"),
        ({"duration": "7"}, "duration", "Choose one of"),
        ({"duration": "custom", "custom_date": "2020-01-01"}, "custom_date", "must be in the future"),
        ({"duration": "custom", "custom_date": ""}, "custom_date", "Pick a date"),
        ({"duration": "custom", "custom_date": "31/31/2031"}, "custom_date", "Enter a valid date."),
        ({"requestor_name": "nul\x00byte"}, "requestor_name", "Null characters are not allowed."),
    ],
)
def test_create_rejects_bad_input_inline_and_saves_nothing(user_client, overrides, field, message):
    response = user_client.post(CREATE, valid_form(**overrides))
    assert response.status_code == 200
    assert message in " ".join(response.context["form"].errors[field])
    assert "Nothing was saved" in response.content.decode()
    assert UserAccessRequest.objects.count() == 0


def test_empty_post_shows_required_errors(user_client):
    response = user_client.post(CREATE, {})
    assert set(response.context["form"].errors) >= {"requestor_name", "requestor_email", "resource_name"}
    assert UserAccessRequest.objects.count() == 0


def test_past_custom_date_is_ignored_when_another_duration_is_chosen(user_client):
    user_client.post(CREATE, valid_form(duration="30", custom_date="2020-01-01"))
    assert UserAccessRequest.objects.count() == 1


# --- Pending Expiry -----------------------------------------------------------------


def test_pending_expiry_lists_only_active_expired_with_how_long_ago(user_client, make_request):
    expired = make_request(expires_in=-timedelta(days=3, hours=1))
    future = make_request(expires_in=timedelta(days=1))
    never = make_request(expires_on=NEVER_EXPIRES)
    gone = make_request(expires_in=-timedelta(days=1))
    revocation_make(gone)
    response = user_client.get(PENDING)
    html = response.content.decode().replace("\xa0", " ")
    assert expired.request_id in html
    for other in (future, never, gone):
        assert other.request_id not in html
    assert "3 days, 1 hour ago" in html
    assert response.context["page"].paginator.count == 1


def test_pending_expiry_pages_add_up_to_the_whole_list(user_client, make_request):
    rows = [make_request(expires_in=-timedelta(hours=1 + i % 3)) for i in range(101)]
    shown = []
    for number in (1, 2, 3):
        shown += [r.id for r in user_client.get(PENDING, {"page": number}).context["page"].object_list]
    assert shown == [r.id for r in sorted(rows, key=lambda r: (r.expires_on, r.id))]


def test_pending_expiry_never_reads_revoked_access(user_client, make_request):
    make_request(expires_in=-timedelta(days=1))
    with CaptureQueriesContext(connection) as ctx:
        assert user_client.get(PENDING).status_code == 200
    assert not [q for q in ctx.captured_queries if "RevokedAccess" in q["sql"]]


def test_pending_expiry_empty_state_and_bad_page(user_client):
    response = user_client.get(PENDING, {"page": "zzz"})
    assert response.status_code == 200
    assert "Nothing has expired" in response.content.decode()


def test_pages_render_for_a_logged_in_user(user_client):
    for url in (ALL, CREATE, PENDING):
        response = user_client.get(url)
        assert response.status_code == 200
        assert b'aria-current="page"' in response.content
