"""Nothing is anonymous: pages redirect to login, the API answers 401 JSON."""

import pytest
from django.contrib.staticfiles import finders
from django.templatetags.static import static
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from accessmgr import urls as root_urls

SAMPLE_KWARGS = {
    "job": "revoke",
    "job_id": "00000000-0000-0000-0000-000000000000",
    "request_id": "REQ-2026-000001",
    "delivery_id": 1,
    "endpoint_id": 1,
}


def app_urls() -> list[str]:
    """Every route of the app (requests_app and jobs), reversed with sample arguments."""
    found = []

    def walk(patterns, namespace=None):
        for p in patterns:
            if isinstance(p, URLResolver):
                if p.namespace in ("admin",):
                    continue
                walk(p.url_patterns, p.namespace or namespace)
            elif isinstance(p, URLPattern) and p.name and namespace:
                kwargs = {k: SAMPLE_KWARGS[k] for k in p.pattern.converters}
                found.append(reverse(f"{namespace}:{p.name}", kwargs=kwargs))

    walk(get_resolver(root_urls).url_patterns)
    return sorted(set(found))


URLS = app_urls()
PAGES = [u for u in URLS if not u.startswith("/api/")]
API = [u for u in URLS if u.startswith("/api/")]


def test_the_app_has_pages_and_api_routes():
    assert "/" in PAGES and "/api/access-requests" in API
    assert len(PAGES) >= 3 and len(API) >= 2


@pytest.mark.django_db
@pytest.mark.parametrize("url", PAGES)
@pytest.mark.parametrize("method", ["get", "post"])
def test_anonymous_page_request_redirects_to_login(client, url, method):
    response = getattr(client, method)(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login") + "?next=")


@pytest.mark.django_db
@pytest.mark.parametrize("url", API)
@pytest.mark.parametrize("method", ["get", "post"])
def test_anonymous_api_request_gets_401_json(client, url, method):
    if method == "post":
        response = client.post(url, data="{}", content_type="application/json")
    else:
        response = client.get(url)
    assert response.status_code == 401
    assert response.json() == {"message": "Authentication required."}


@pytest.mark.django_db
@pytest.mark.parametrize("url", API)
def test_anonymous_api_post_without_csrf_token_gets_401_json(url):
    response = Client(enforce_csrf_checks=True).post(url, data="{}", content_type="application/json")
    assert response.status_code == 401
    assert response.json() == {"message": "Authentication required."}


@pytest.mark.django_db
def test_login_page_is_public_and_styled(client):
    response = client.get(reverse("login"))
    assert response.status_code == 200
    assert b"css/app.css" in response.content
    assert b"csrfmiddlewaretoken" in response.content


@pytest.mark.django_db
def test_login_with_password_then_logout(user):
    client = Client(enforce_csrf_checks=True)
    page = client.get(reverse("login"))
    token = page.cookies["csrftoken"].value
    response = client.post(
        reverse("login"),
        {"username": "alice", "password": "correct horse battery", "csrfmiddlewaretoken": token},
    )
    assert response.status_code == 302 and response["Location"] == reverse("requests_app:all_requests")
    assert client.get(reverse("requests_app:all_requests")).status_code == 200
    token = client.cookies["csrftoken"].value
    response = client.post(reverse("logout"), {"csrfmiddlewaretoken": token})
    assert response.status_code == 302
    assert client.get(reverse("requests_app:all_requests")).status_code == 302


@pytest.mark.django_db
def test_wrong_password_shows_an_error(client, user):
    response = client.post(reverse("login"), {"username": "alice", "password": "nope"})
    assert response.status_code == 200
    assert b'role="alert"' in response.content


@pytest.mark.django_db
def test_login_redirects_back_to_next(client, user):
    response = client.post(
        reverse("login") + "?next=/requests/pending-expiry/",
        {"username": "alice", "password": "correct horse battery", "next": "/requests/pending-expiry/"},
    )
    assert response["Location"] == "/requests/pending-expiry/"


@pytest.mark.django_db
def test_admin_is_not_open_to_anonymous_users(client):
    response = client.get("/admin/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_htmx_request_with_an_expired_session_sends_the_page_to_login(client, db):
    """The banner polls every 3 s: after the session expires it must not swap the login
    form into the banner, but send the whole page to the login page and back."""
    response = client.get(
        "/jobs/revoke/banner/?locked=0",
        headers={"HX-Request": "true", "HX-Current-URL": "http://testserver/jobs/revoke-expired/"},
    )
    assert response.status_code == 401
    assert response["HX-Redirect"] == "/login/?next=/jobs/revoke-expired/"
    assert response.content == b""


def test_htmx_login_redirect_ignores_a_foreign_current_url(client, db):
    response = client.get(
        "/jobs/revoke/banner/",
        headers={"HX-Request": "true", "HX-Current-URL": "https://evil.example/phish"},
    )
    assert response["HX-Redirect"] == "/login/?next=/"


def test_favicon_ico_answers_without_login_with_the_svg_icon(client, db):
    response = client.get("/favicon.ico")
    assert response.status_code == 302
    assert response["Location"] == static("favicon.svg")
    assert "max-age=86400" in response["Cache-Control"]
    assert finders.find("favicon.svg")
    assert client.post("/favicon.ico").status_code == 405


def test_staff_see_an_admin_link_in_the_nav_and_others_do_not(client, user):
    admin_link = f'<a href="{reverse("admin:index")}">Admin</a>'
    client.force_login(user)
    assert admin_link not in client.get(reverse("requests_app:all_requests")).content.decode()
    user.is_staff = True
    user.save()
    assert admin_link in client.get(reverse("requests_app:all_requests")).content.decode()


def test_every_page_starts_with_a_skip_link_to_its_content(user_client):
    html = user_client.get(reverse("requests_app:all_requests")).content.decode()
    body = html[html.index("<body") :]
    assert body.index('<a class="skip-link" href="#main">Skip to content</a>') < body.index("<header")
    assert '<main class="container" id="main" tabindex="-1">' in html
