"""Single sign-on with OpenID Connect against a real provider started here (oidc-provider-mock,
in-process over HTTP): the Django test client follows the app's redirects, `requests` plays the
browser at the provider. A refused login lands on the login page with the reason, logged out."""

import html
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
import requests
from django.contrib.auth.models import User
from oidc_provider_mock import run_server_in_thread

from .conftest import PASSWORD, django_start, sso_configure


def _serve(**options):
    return run_server_in_thread(require_nonce=True, **options)


@pytest.fixture(scope="module")
def provider():
    with _serve() as server:
        yield f"http://localhost:{server.server_port}"


@pytest.fixture
def sso(settings, provider):
    return sso_configure(settings, provider)


def idp_user(provider: str, sub: str, **claims) -> None:
    requests.put(f"{provider}/users/{sub}", json=claims, timeout=10).raise_for_status()


def sso_login(client, sub: str, start: str = "/oidc/authenticate/"):
    """Log in as `sub` at the provider; the app's answer to the provider's callback."""
    to_provider = client.get(start)
    assert to_provider.status_code == 302, to_provider
    authorize = to_provider["Location"]
    assert requests.get(authorize, timeout=10).status_code == 200  # the provider's login form
    answer = requests.post(authorize, data={"sub": sub}, allow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text
    callback = urlsplit(answer.headers["Location"])
    assert callback.path == "/oidc/callback/"
    return client.get(f"{callback.path}?{callback.query}")


def assert_refused(client, response, reason: str) -> None:
    assert response.status_code == 302
    assert response["Location"] == "/login/"
    assert "_auth_user_id" not in client.session
    page = html.unescape(client.get("/login/").content.decode())
    assert f"Single sign-on failed: {reason}" in page
    assert client.get("/")["Location"].startswith("/login/")  # still logged out


def test_sso_login_creates_the_user_and_lands_on_my_access(client, sso, db):
    idp_user(sso, "ada-1", email="ada@example.com")
    response = sso_login(client, "ada-1")
    assert response.status_code == 302 and response["Location"] == "/"
    user = User.objects.get(email="ada@example.com")
    assert user.username == "ada@example.com"
    assert client.session["_auth_user_id"] == str(user.pk)
    start = client.get("/", follow=True)  # a plain user's start page is My Access
    assert start.redirect_chain == [("/my-access/", 302)]
    assert start.status_code == 200 and b"My access" in start.content


def test_sso_login_finds_the_existing_user_by_email_and_keeps_next(client, sso, user):
    idp_user(sso, "alice-1", email="ALICE@example.com")
    response = sso_login(client, "alice-1", start="/oidc/authenticate/?next=/jobs/history/")
    assert response["Location"] == "/jobs/history/"
    assert client.session["_auth_user_id"] == str(user.pk)
    assert User.objects.count() == 1


def test_the_email_claim_is_a_setting(client, sso, settings, db):
    settings.OIDC_EMAIL_CLAIM = "upn"
    idp_user(sso, "bo-1", upn="bo@example.com")
    assert sso_login(client, "bo-1")["Location"] == "/"
    assert User.objects.filter(email="bo@example.com").exists()


def test_groups_set_staff_and_job_permissions_at_every_login(client, sso, settings, db):
    settings.OIDC_GROUPS_CLAIM = "groups"
    settings.OIDC_STAFF_GROUPS = ["it-admins"]
    settings.OIDC_REVOKE_JOB_GROUPS = ["access-ops"]
    settings.OIDC_NOTIFICATION_JOB_GROUPS = ["access-ops", "mailers"]
    idp_user(sso, "cy-1", email="cy@example.com", groups=["access-ops"])
    sso_login(client, "cy-1")
    cy = User.objects.get(email="cy@example.com")
    assert not cy.is_staff
    assert cy.has_perm("jobs.run_revoke_job") and cy.has_perm("jobs.run_notification_job")
    assert cy.has_perm("requests_app.view_all_requests")  # the job pages list every request

    client.logout()
    idp_user(sso, "cy-1", email="cy@example.com", groups=["it-admins"])
    sso_login(client, "cy-1")
    cy = User.objects.get(pk=cy.pk)
    assert cy.is_staff
    assert not cy.user_permissions.exists()  # staff runs the jobs through StaffRunsJobsBackend


def test_a_token_from_another_issuer_is_refused(client, sso, settings, db):
    # The same provider under another name: its tokens say iss=http://127.0.0.1:<port>.
    settings.OIDC_OP_TOKEN_ENDPOINT = sso.replace("localhost", "127.0.0.1") + "/oauth2/token"
    idp_user(sso, "eve-1", email="eve@example.com")
    assert_refused(client, sso_login(client, "eve-1"), "the identity token comes from another issuer.")
    assert not User.objects.exists()


def test_a_token_with_a_bad_signature_is_refused(client, sso, settings, db):
    with _serve() as other:  # another provider's key checks the signature
        settings.OIDC_OP_JWKS_ENDPOINT = f"http://localhost:{other.server_port}/jwks"
        idp_user(sso, "eve-2", email="eve@example.com")
        response = sso_login(client, "eve-2")
    assert_refused(client, response, "the identity token's signature is not valid.")


def test_an_expired_token_is_refused(client, settings, db):
    with _serve(access_token_max_age=timedelta(minutes=-5)) as expired:
        provider = sso_configure(settings, f"http://localhost:{expired.server_port}")
        idp_user(provider, "old-1", email="old@example.com")
        response = sso_login(client, "old-1")
    assert_refused(client, response, "the identity token has expired. Log in again.")


def test_a_login_without_the_email_claim_is_refused(client, sso, db):
    idp_user(sso, "anon-1", name="No Mail")
    assert_refused(
        client, sso_login(client, "anon-1"), "the identity provider sent no email address (claim 'email')."
    )
    assert not User.objects.exists()


def test_a_callback_this_browser_did_not_start_is_refused(client, sso, db):
    idp_user(sso, "ada-2", email="ada@example.com")
    other_browser = type(client)()
    to_provider = other_browser.get("/oidc/authenticate/")["Location"]
    answer = requests.post(to_provider, data={"sub": "ada-2"}, allow_redirects=False, timeout=10)
    client.get("/oidc/authenticate/")  # this browser started a login of its own
    callback = urlsplit(answer.headers["Location"])
    response = client.get(f"{callback.path}?{callback.query}")
    assert_refused(client, response, "the answer does not belong to this browser's login. Start again.")


def test_an_unreachable_provider_is_a_message_not_an_error(client, settings, db):
    sso_configure(settings, "http://127.0.0.1:9")  # nothing listens there
    assert_refused(
        client, client.get("/oidc/authenticate/"), "the identity provider cannot be reached. Try again later."
    )


def test_without_sso_the_login_page_has_no_button_and_the_views_are_404(client, db):
    assert b"single sign-on" not in client.get("/login/").content
    assert client.get("/oidc/authenticate/").status_code == 404
    assert client.get("/oidc/callback/?code=x&state=y").status_code == 404


def test_with_password_login_off_only_sso_is_offered(client, sso, settings, user):
    settings.PASSWORD_LOGIN = False
    page = client.get("/login/").content.decode()
    assert "Log in with single sign-on" in page and 'name="password"' not in page
    for url in ("/login/", "/admin/login/"):
        refused = client.post(url, {"username": user.username, "password": PASSWORD})
        assert refused.status_code == 403
        assert "Password login is turned off here" in refused.content.decode()
        assert "_auth_user_id" not in client.session
    assert client.get("/admin/login/?next=/admin/")["Location"] == "/login/?next=/admin/"


def test_password_login_off_without_sso_stops_start_up_naming_it():
    result = django_start(None, "", PASSWORD_LOGIN="0", OIDC_ISSUER="")
    assert result.returncode != 0
    assert "PASSWORD_LOGIN=0 needs single sign-on: set OIDC_ISSUER" in result.stderr


def test_an_issuer_without_its_client_stops_start_up_naming_them():
    result = django_start(None, "", OIDC_ISSUER="https://login.example.com", OIDC_CLIENT_ID="")
    assert result.returncode != 0
    assert "OIDC_CLIENT_ID and OIDC_CLIENT_SECRET must be set" in result.stderr
