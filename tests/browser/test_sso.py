"""Single sign-on in Chromium: the login page's button, the provider's own login form
(oidc-provider-mock, started here), and back to the app, logged in, on My Access (a new SSO
user may see only their own requests)."""

import re

import pytest
import requests
from oidc_provider_mock import run_server_in_thread
from playwright.sync_api import expect

from tests.conftest import sso_configure

pytestmark = pytest.mark.browser


@pytest.fixture
def provider(settings):
    with run_server_in_thread(require_nonce=True) as server:
        yield sso_configure(settings, f"http://localhost:{server.server_port}")


def test_log_in_through_the_provider_and_land_on_my_access(open_page, provider, live_server, db):
    requests.put(
        f"{provider}/users/grace", json={"email": "grace@example.com"}, timeout=10
    ).raise_for_status()
    page, _ = open_page("/")
    # The provider's page styles itself from a CDN this machine cannot reach: answer for it.
    page.context.route(
        "https://cdn.jsdelivr.net/**", lambda route: route.fulfill(body="", content_type="text/css")
    )
    expect(page).to_have_url(re.compile(r"/login/\?next="))
    page.get_by_role("link", name="Log in with single sign-on").click()
    page.wait_for_url(f"{provider}/oauth2/authorize**")
    page.get_by_placeholder("sub").fill("grace")
    page.get_by_role("button", name="Authorize").click()
    page.wait_for_url(f"{live_server.url}/my-access/")  # the start page sends a plain user here
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile("My access", re.I))
    expect(
        page.get_by_role("navigation", name="Main").get_by_role("link", name="All Requests")
    ).to_have_count(0)
    expect(page.locator(".who")).to_have_text("grace@example.com")
