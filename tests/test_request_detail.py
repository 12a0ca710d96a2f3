"""The page per request (/requests/<requestId>/), its Extend and Revoke forms, and the
links to it from All Requests and Pending Expiry."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission, User
from django.urls import reverse

from accessmgr.db import db_now
from requests_app.models import AccessEvent, ExpiryNotification, RevokedAccess, UserAccessRequest
from requests_app.services import access_request_extend, access_request_revoke
from tests.conftest import ROOT


@pytest.fixture
def changer(db) -> User:
    """A user given requests_app.change_useraccessrequest (not staff)."""
    u = User.objects.create_user("carol", "carol@example.com", "correct horse battery")
    u.user_permissions.add(Permission.objects.get(codename="change_useraccessrequest"))
    return u


@pytest.fixture
def changer_client(client, changer):
    client.force_login(changer)
    return client


def page(client, r):
    return client.get(reverse("requests_app:request_detail", args=[r.request_id]))


@pytest.mark.django_db
def test_page_shows_fields_expiry_notices_revocation_and_history(changer_client, make_request):
    r = make_request(expires_in=timedelta(days=5, hours=1), justification="Incident review")
    ExpiryNotification.objects.create(
        request=r,
        notification_type="30-Day Reminder",
        sent_at=db_now(),
        sent_to=r.requestor_email,
        job_id="job-1234",
        expires_on=r.expires_on,
    )
    access_request_revoke(request_id=r.request_id, reason="Left the team", revoked_by="carol")
    html = page(changer_client, r).content.decode()
    for text in (r.request_id, r.requestor_name, r.requestor_email, "Incident review", "Revoked"):
        assert text in html
    assert "30-Day Reminder" in html and "job-1234" in html  # the notice, its run
    assert "by carol" in html  # the revocation
    assert "“Left the team”" in html  # the history
    assert "Extend</button>" not in html and "Confirm: revoke" not in html  # not Active any more


@pytest.mark.django_db
@pytest.mark.parametrize(
    "expires_in,phrase",
    [
        (timedelta(days=5, hours=1), "(in 5 days)"),
        (timedelta(days=1, hours=1), "(in 1 day)"),
        (-timedelta(hours=1), "(Overdue)"),
    ],
)
def test_expiry_reads_in_days_or_overdue(user_client, make_request, expires_in, phrase):
    assert phrase in page(user_client, make_request(expires_in=expires_in)).content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("expires_in", [timedelta(days=89, hours=1), -timedelta(hours=1)])
def test_a_revoked_requests_expiry_reads_revoked_not_as_upcoming(user_client, make_request, expires_in):
    r = make_request(expires_in=expires_in)
    access_request_revoke(request_id=r.request_id, reason="Left the team", revoked_by="carol")
    html = page(user_client, r).content.decode()
    expiry = html.split("<dd data-expiry>", 1)[1].split("</dd>", 1)[0]
    assert "(Revoked)" in expiry and " day" not in expiry and "Overdue" not in expiry


@pytest.mark.django_db
def test_a_notice_without_a_run_shows_the_one_none_mark(user_client, make_request):
    r = make_request()
    ExpiryNotification.objects.create(
        request=r, notification_type="30-Day Reminder", sent_at=db_now(), sent_to=r.requestor_email
    )
    html = page(user_client, r).content.decode()
    assert '<td data-label="Run" class="mono">—</td>' in html


def test_every_table_marks_none_with_an_em_dash_not_an_en_dash():
    for path in (ROOT / "templates").rglob("*.html"):
        text = path.read_text()
        for placeholder in ('default:"–"', ">–<", "else %}–{%"):
            assert placeholder not in text, f"{path.relative_to(ROOT)}: {placeholder!r}; use —"


@pytest.mark.django_db
def test_never_expiring_shows_never(user_client, make_request):
    from requests_app.models import NEVER_EXPIRES

    html = page(user_client, make_request(expires_on=NEVER_EXPIRES)).content.decode()
    assert "<dd data-expiry>Never</dd>" in html


@pytest.mark.django_db
def test_unknown_request_id_is_404(user_client):
    assert user_client.get(reverse("requests_app:request_detail", args=["REQ-NOPE"])).status_code == 404
    response = user_client.post(reverse("requests_app:request_revoke", args=["REQ-NOPE"]), {"reason": "x"})
    assert response.status_code == 403  # without the permission, before anything else


@pytest.mark.django_db
def test_unknown_request_id_is_404_for_a_changer_too(changer_client):
    response = changer_client.post(reverse("requests_app:request_revoke", args=["REQ-NOPE"]), {"reason": "x"})
    assert response.status_code == 404


@pytest.mark.django_db
def test_without_the_permission_the_page_has_no_actions_and_posts_get_403(user_client, make_request):
    r = make_request()
    html = page(user_client, r).content.decode()
    assert "Extend</button>" not in html and "Confirm: revoke" not in html
    assert "not extend or revoke it" in html
    for name, data in (
        ("request_extend", {"duration": "90", "reason": "x"}),
        ("request_revoke", {"reason": "x"}),
    ):
        assert user_client.post(reverse(f"requests_app:{name}", args=[r.request_id]), data).status_code == 403
    r.refresh_from_db()
    assert r.status == "Active" and not AccessEvent.objects.exists()


@pytest.mark.django_db
def test_staff_have_the_permission(client, make_request):
    staff = User.objects.create_user("sam", "sam@example.com", "pw", is_staff=True)
    client.force_login(staff)
    assert "Confirm: revoke" in page(client, make_request()).content.decode()


@pytest.mark.django_db
def test_extend_on_the_page_redirects_with_a_message_and_shows_in_history(changer_client, make_request):
    r = make_request(expires_in=timedelta(days=2))
    response = changer_client.post(
        reverse("requests_app:request_extend", args=[r.request_id]),
        {"duration": "90", "reason": "Still on the project"},
        follow=True,
    )
    assert response.redirect_chain[-1][0] == reverse("requests_app:request_detail", args=[r.request_id])
    html = response.content.decode()
    assert f"Request {r.request_id} extended." in html and "“Still on the project”" in html
    r.refresh_from_db()
    assert r.expires_on > db_now() + timedelta(days=89)


@pytest.mark.django_db
def test_extend_with_bad_input_shows_field_errors_and_changes_nothing(changer_client, make_request):
    r = make_request()
    response = changer_client.post(
        reverse("requests_app:request_extend", args=[r.request_id]),
        {"duration": "custom", "custom_date": "2020-01-01", "reason": ""},
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "The expiry date must be in the future." in html and "Give a reason." in html
    assert UserAccessRequest.objects.get(pk=r.pk).expires_on == r.expires_on
    assert not AccessEvent.objects.exists()


@pytest.mark.django_db
def test_revoke_on_the_page_and_again_is_refused_with_a_message(changer_client, make_request):
    r = make_request()
    url = reverse("requests_app:request_revoke", args=[r.request_id])
    response = changer_client.post(url, {"reason": "No longer needed"}, follow=True)
    assert f"Request {r.request_id} revoked." in response.content.decode()
    assert RevokedAccess.objects.get(request_id=r.request_id).revoked_by == "carol"
    response = changer_client.post(url, {"reason": "again"}, follow=True)
    assert "is Revoked: only Active requests can change" in response.content.decode()
    assert RevokedAccess.objects.count() == 1 and AccessEvent.objects.count() == 1


@pytest.mark.django_db
def test_extend_after_revoke_is_refused(changer_client, make_request):
    r = make_request()
    access_request_revoke(request_id=r.request_id, reason="x", revoked_by="a")
    response = changer_client.post(
        reverse("requests_app:request_extend", args=[r.request_id]),
        {"duration": "90", "reason": "y"},
        follow=True,
    )
    assert "is Revoked" in response.content.decode()
    assert AccessEvent.objects.filter(event_type="Extended").count() == 0


@pytest.mark.django_db
def test_all_requests_and_pending_expiry_link_to_the_page(user_client, make_request):
    r = make_request(expires_in=-timedelta(hours=1))
    link = f'href="{reverse("requests_app:request_detail", args=[r.request_id])}"'
    assert link in user_client.get(reverse("requests_app:all_requests")).content.decode()
    assert link in user_client.get(reverse("requests_app:pending_expiry")).content.decode()


@pytest.mark.django_db
def test_history_lists_events_oldest_first(changer_client, make_request):
    r = make_request()
    access_request_extend(request_id=r.request_id, duration="30", reason="first", extended_by="a")
    access_request_revoke(request_id=r.request_id, reason="second", revoked_by="b")
    html = page(changer_client, r).content.decode()
    assert html.index("“first”") < html.index("“second”")
