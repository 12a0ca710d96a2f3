"""Who a request belongs to, and who sees it: a plain user creates requests only for
themself (the form does not ask a name or email; the API ignores them) and sees only their
own, on My Access, their request pages and the list APIs; everything else that lists other
people's requests needs requests_app.view_all_requests (staff have it). Real database, the
Django test client."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accessmgr.db import db_now
from requests_app.models import ExpiryNotification, UserAccessRequest
from tests.factories import PASSWORD, request_make, requests_make, user_make

LIST = reverse("requests_app:api_access_requests")
PENDING_EXPIRY = reverse("requests_app:api_pending_expiry")
CREATE_BODY = {"resourceName": "Wiki", "duration": "30"}


@pytest.fixture
def admin_client(client, db):
    """A staff user: every request permission through requests_app.auth.StaffRequestsBackend."""
    client.force_login(user_make("root", is_staff=True))
    return client


def _post_json(client, body):
    return client.post(LIST, body, content_type="application/json")


# --- Creating ---------------------------------------------------------------------------


def test_the_create_form_does_not_ask_a_plain_user_for_a_name_or_email(requester_client):
    html = requester_client.get(reverse("requests_app:create_request")).content.decode()
    assert 'name="requestor_email"' not in html and 'name="requestor_name"' not in html
    assert "bob@example.com" in html and "Bob Builder" in html  # whom it is for


def test_a_plain_user_cannot_create_a_request_for_another_email_on_the_page(requester_client, requester):
    response = requester_client.post(
        reverse("requests_app:create_request"),
        {
            "requestor_name": "Mallory",
            "requestor_email": "victim@example.com",
            "resource_name": "Wiki",
            "duration": "30",
        },
    )
    assert response.status_code == 302 and response["Location"] == reverse("requests_app:my_access")
    r = UserAccessRequest.objects.get()
    assert (r.requestor_name, r.requestor_email, r.requester) == ("Bob Builder", "bob@example.com", requester)
    assert r.events.get().actor == "bob"


def test_the_api_ignores_a_plain_users_name_and_email_and_uses_the_account(requester_client, requester):
    response = _post_json(
        requester_client,
        {**CREATE_BODY, "requestorName": "Bcc: x@evil.test", "requestorEmail": "victim@example.com"},
    )
    assert response.status_code == 201
    body = response.json()
    assert (body["requestorName"], body["requestorEmail"]) == ("Bob Builder", "bob@example.com")
    assert UserAccessRequest.objects.get().requester == requester
    # they may be left out altogether
    assert _post_json(requester_client, CREATE_BODY).status_code == 201


def test_a_plain_user_without_a_name_is_named_by_their_username(client, db):
    client.force_login(user_make("dora"))
    assert _post_json(client, CREATE_BODY).json()["requestorName"] == "dora"


def test_an_account_without_an_email_gets_a_clear_refusal_and_nothing_is_saved(client, db):
    client.force_login(user_make("noemail", email=""))
    page = client.get(reverse("requests_app:create_request"))
    assert page.status_code == 200
    assert b"Your account has no email address" in page.content
    assert b'name="resource_name"' not in page.content

    posted = client.post(reverse("requests_app:create_request"), {"resource_name": "Wiki", "duration": "30"})
    assert posted.status_code == 403 and b"Your account has no email address" in posted.content
    api = _post_json(client, CREATE_BODY)
    assert api.status_code == 403
    assert api.json()["message"].startswith("Your account has no email address")
    assert not UserAccessRequest.objects.exists()


def test_with_create_for_others_the_request_belongs_to_the_user_with_that_email(user_client, user, requester):
    for_bob = _post_json(
        user_client, {**CREATE_BODY, "requestorName": "Bob", "requestorEmail": "BOB@example.com"}
    )
    for_stranger = _post_json(
        user_client, {**CREATE_BODY, "requestorName": "Zed", "requestorEmail": "zed@example.com"}
    )
    assert for_bob.status_code == for_stranger.status_code == 201
    assert for_bob.json()["requestorEmail"] == "BOB@example.com"  # as given
    assert UserAccessRequest.objects.get(request_id=for_bob.json()["requestId"]).requester == requester
    # nobody has that email: it is the creator's
    assert UserAccessRequest.objects.get(request_id=for_stranger.json()["requestId"]).requester == user


def test_staff_have_the_request_permissions_and_inactive_staff_do_not(db):
    staff = User.objects.create_user("sam", is_staff=True)
    inactive = User.objects.create_user("ivan", is_staff=True, is_active=False)
    plain = User.objects.create_user("pat")
    for perm in ("requests_app.view_all_requests", "requests_app.create_for_others"):
        assert staff.has_perm(perm)
        assert not inactive.has_perm(perm) and not plain.has_perm(perm)


# --- Seeing -----------------------------------------------------------------------------


def test_my_access_lists_my_requests_with_their_expiry_and_reminders(requester_client, requester):
    mine_soon = request_make(expires_in=timedelta(days=5, hours=1), requester=requester, reminders=1)
    request_make(expires_in=None, requester=requester, resource_name="Build servers")
    request_make(expires_in=-timedelta(days=1), requester=requester, resource_name="Billing")
    someone_elses = request_make(requester=user_make("carol"))
    unowned = request_make()

    response = requester_client.get(reverse("requests_app:my_access"))

    assert response.status_code == 200
    html = response.content.decode()
    assert mine_soon.request_id in html
    assert someone_elses.request_id not in html and unowned.request_id not in html
    for phrase in ("in 5 days", "Never", "Overdue", "30-Day Reminder"):
        assert phrase in html
    assert response.context["page"].paginator.count == 3


def test_my_access_comes_in_pages(requester_client, requester):
    requests_make(51, requester=requester)
    first = requester_client.get(reverse("requests_app:my_access"))
    assert len(first.context["page"].object_list) == 50
    assert 'rel="next"' in first.content.decode()
    second = requester_client.get(reverse("requests_app:my_access"), {"page": 2})
    assert len(second.context["page"].object_list) == 1


def test_my_access_is_in_everyones_nav_and_all_requests_only_for_those_who_see_all(requester_client):
    plain = requester_client.get(reverse("requests_app:my_access")).content.decode()
    assert 'href="/my-access/"' in plain
    assert "All Requests</a>" not in plain and "Job History</a>" not in plain
    admin = Client()
    admin.force_login(user_make("root", is_staff=True))
    admin_html = admin.get(reverse("requests_app:my_access")).content.decode()
    assert "All Requests</a>" in admin_html and 'href="/my-access/"' in admin_html


def test_the_start_page_sends_a_plain_user_to_my_access(requester_client):
    response = requester_client.get("/")
    assert response.status_code == 302 and response["Location"] == reverse("requests_app:my_access")


@pytest.mark.parametrize(
    "url",
    [
        reverse("requests_app:pending_expiry"),
        reverse("requests_app:all_requests_csv"),
        reverse("requests_app:audit_csv"),
        reverse("jobs:revoke_expired"),
        reverse("jobs:expiry_notifications"),
        reverse("jobs:job_history"),
        reverse("jobs:run_detail", args=["00000000-0000-0000-0000-000000000000"]),
        reverse("jobs:banner", args=["revoke"]),
        reverse("webhooks:deliveries"),
    ],
)
def test_the_other_lists_and_job_pages_are_403_for_a_plain_user(requester_client, url):
    response = requester_client.get(url)
    assert response.status_code == 403
    assert b"permission to view all requests" in response.content
    assert b"My Access" in response.content


@pytest.mark.parametrize(
    "url",
    [
        "/",
        reverse("requests_app:pending_expiry"),
        reverse("jobs:revoke_expired"),
        reverse("jobs:expiry_notifications"),
        reverse("jobs:job_history"),
        reverse("webhooks:deliveries"),
    ],
)
def test_an_admin_sees_the_lists_and_job_pages(admin_client, url):
    assert admin_client.get(url).status_code == 200


@pytest.mark.parametrize("run", ["revoke_run", "notifications_run"])
def test_a_job_page_post_is_403_without_view_all_even_with_the_run_permission(client, db, run):
    client.force_login(user_make("runner", permissions=("run_revoke_job", "run_notification_job")))
    assert client.post(reverse(f"jobs:{run}")).status_code == 403


def test_the_list_apis_return_a_plain_users_own_rows_in_the_same_shape(requester_client, requester, user):
    mine = request_make(requester=requester)
    mine_expired = request_make(requester=requester, expires_in=-timedelta(days=1))
    request_make(requester=user_make("carol"))
    request_make(expires_in=-timedelta(days=2))  # no owner: admins only
    requests_make(3)

    listed = requester_client.get(LIST)
    assert listed.status_code == 200
    assert {r["requestId"] for r in listed.json()} == {mine.request_id, mine_expired.request_id}
    assert listed["X-Total-Count"] == "2"
    seeing_all = Client()
    seeing_all.force_login(user)
    assert seeing_all.get(LIST)["X-Total-Count"] == "7"
    assert set(listed.json()[0]) == set(seeing_all.get(LIST).json()[0])  # the seed's shape
    assert {r["requestId"] for r in requester_client.get(LIST, {"search": "Person"}).json()} == {
        mine.request_id,
        mine_expired.request_id,
    }

    expired = requester_client.get(PENDING_EXPIRY)
    assert [r["requestId"] for r in expired.json()] == [mine_expired.request_id]
    assert expired["X-Total-Count"] == "1"

    csv = b"".join(requester_client.get(LIST, {"format": "csv"}).streaming_content).decode()
    assert mine.request_id in csv and csv.count("REQ-TEST-") == 2


def test_an_admin_sees_every_row_on_the_list_apis(admin_client, requester):
    request_make(requester=requester)
    request_make()
    request_make(expires_in=-timedelta(days=1))
    assert admin_client.get(LIST)["X-Total-Count"] == "3"
    assert admin_client.get(PENDING_EXPIRY)["X-Total-Count"] == "1"


def test_a_request_page_is_its_requesters_and_404_for_other_plain_users(requester_client, requester, client):
    mine = request_make(requester=requester)
    theirs = request_make(requester=user_make("carol"))
    unowned = request_make()

    page = requester_client.get(reverse("requests_app:request_detail", args=[mine.request_id]))
    assert page.status_code == 200 and mine.request_id.encode() in page.content
    assert b"Revoke now" not in page.content  # extending and revoking still need the change permission
    for other in (theirs, unowned):
        assert (
            requester_client.get(reverse("requests_app:request_detail", args=[other.request_id])).status_code
            == 404
        )


def test_another_users_request_page_costs_the_queries_an_unknown_id_does(requester_client):
    theirs = request_make(requester=user_make("carol"))
    answers = {}
    for request_id in (theirs.request_id, "REQ-NOPE"):
        with CaptureQueriesContext(connection) as queries:
            response = requester_client.get(reverse("requests_app:request_detail", args=[request_id]))
        answers[request_id] = (response.status_code, [q["sql"].split(" WHERE ")[0] for q in queries])
    assert answers[theirs.request_id] == answers["REQ-NOPE"]
    assert answers["REQ-NOPE"][0] == 404


def test_an_admin_sees_any_request_page(admin_client, requester):
    for r in (request_make(requester=requester), request_make()):
        assert (
            admin_client.get(reverse("requests_app:request_detail", args=[r.request_id])).status_code == 200
        )


def test_a_plain_user_still_cannot_extend_or_revoke_even_their_own(requester_client, requester):
    mine = request_make(requester=requester)
    api = requester_client.post(
        reverse("requests_app:api_revoke", args=[mine.request_id]),
        {"reason": "x"},
        content_type="application/json",
    )
    assert api.status_code == 403
    page = requester_client.post(
        reverse("requests_app:request_revoke", args=[mine.request_id]), {"reason": "x"}
    )
    assert page.status_code == 403
    assert UserAccessRequest.objects.get(pk=mine.pk).status == UserAccessRequest.Status.ACTIVE


def test_reminders_on_my_access_are_only_those_of_my_requests(requester_client, requester):
    mine = request_make(requester=requester)
    other = request_make(reminders=2)
    ExpiryNotification.objects.create(
        request=mine, notification_type="7-Day Reminder", sent_at=db_now(), sent_to=mine.requestor_email
    )
    html = requester_client.get(reverse("requests_app:my_access")).content.decode()
    assert html.count("7-Day Reminder") == 1 and "30-Day Reminder" not in html
    assert other.request_id not in html


def test_after_a_password_login_a_plain_user_lands_on_my_access(client, requester):
    response = client.post(reverse("login"), {"username": "bob", "password": PASSWORD}, follow=True)
    assert response.redirect_chain == [("/", 302), ("/my-access/", 302)]
    assert response.status_code == 200 and b"My access" in response.content
