"""Login throttling (django-axes) on /login/ and /admin/login/: LOGIN_FAILURE_LIMIT wrong
passwords lock the username out from that address for LOGIN_COOLOFF_SECONDS, the right
password included, with a message; the lockouts are in the admin."""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth.models import User
from django.db.models import F

from .conftest import PASSWORD

LOGIN_FORMS = ["/login/", "/admin/login/"]


@pytest.fixture
def staff(db) -> User:
    return User.objects.create_user("sam", "sam@example.com", PASSWORD, is_staff=True)


def attempt(client, url: str, username: str, password: str):
    return client.post(url, {"username": username, "password": password, "next": "/"})


def end_the_cool_off() -> None:
    """Moves the recorded failures back by the cool-off: what the time passing would do."""
    AccessAttempt.objects.update(
        attempt_time=F("attempt_time") - settings.AXES_COOLOFF_TIME - timedelta(seconds=1)
    )


def test_the_defaults_are_ten_failures_and_fifteen_minutes():
    assert settings.AXES_FAILURE_LIMIT == 10
    assert settings.AXES_COOLOFF_TIME.total_seconds() == 15 * 60
    assert settings.AXES_LOCKOUT_PARAMETERS == [["username", "ip_address"]]


@pytest.mark.parametrize("url", LOGIN_FORMS)
def test_eleven_wrong_passwords_lock_out_even_the_right_one_until_the_cool_off_ends(client, staff, url):
    answers = [attempt(client, url, staff.username, "wrong password").status_code for _ in range(11)]
    assert answers[:9] == [200] * 9  # the form again, with its error
    assert answers[9:] == [429, 429]
    locked = attempt(client, url, staff.username, PASSWORD)
    assert locked.status_code == 429
    text = locked.content.decode()
    assert "Too many failed logins" in text and "locked for 15 minutes" in text
    assert "_auth_user_id" not in client.session

    end_the_cool_off()
    response = attempt(client, url, staff.username, PASSWORD)
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(staff.pk)


def test_the_lockout_is_per_username_and_address(client, user, staff):
    for _ in range(10):
        attempt(client, "/login/", user.username, "wrong password")
    assert attempt(client, "/login/", user.username, PASSWORD).status_code == 429
    # Another user from the same address, and the same user from another address, still log in.
    assert attempt(client, "/login/", staff.username, PASSWORD).status_code == 302
    client.logout()
    response = client.post(
        "/login/", {"username": user.username, "password": PASSWORD}, REMOTE_ADDR="192.0.2.10"
    )
    assert response.status_code == 302


def test_a_success_resets_the_count(client, user):
    for _ in range(9):
        attempt(client, "/login/", user.username, "wrong password")
    assert attempt(client, "/login/", user.username, PASSWORD).status_code == 302
    client.logout()
    for _ in range(9):
        assert attempt(client, "/login/", user.username, "wrong password").status_code == 200


def test_the_cool_off_and_limit_are_settings(client, user, settings):
    settings.AXES_FAILURE_LIMIT = 2
    settings.AXES_COOLOFF_TIME = timedelta(seconds=30)
    attempt(client, "/login/", user.username, "wrong")
    assert attempt(client, "/login/", user.username, "wrong").status_code == 429
    assert "locked for 1 minute." in attempt(client, "/login/", user.username, PASSWORD).content.decode()


def test_lockouts_are_listed_in_the_admin(client, user, db):
    for _ in range(10):
        attempt(client, "/login/", user.username, "wrong password")
    admin = User.objects.create_superuser("root", "root@example.com", PASSWORD)
    client.force_login(admin)
    page = client.get("/admin/axes/accessattempt/")
    assert page.status_code == 200
    assert user.username in page.content.decode()
    assert AccessAttempt.objects.get(username=user.username).failures_since_start == 10


def test_a_nul_byte_in_the_username_is_a_form_error(client, db):
    response = attempt(client, "/login/", "ad\x00min", "x")
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session
