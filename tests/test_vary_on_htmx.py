"""accessmgr.middleware.vary_on_htmx_middleware: a URL that answers HTMX with a fragment and a
browser with the page says so in `Vary`, so the browser's cache never serves one for the other
(the Back button after a panel refresh showed the bare fragment)."""

import pytest
from django.urls import reverse
from django.utils.cache import cc_delim_re

HTMX = {"HTTP_HX_REQUEST": "true"}
PAGES = [
    "requests_app:all_requests",
    "requests_app:create_request",
    "requests_app:pending_expiry",
    "jobs:revoke_expired",
    "jobs:expiry_notifications",
    "jobs:job_history",
]


def _vary(response) -> set[str]:
    return {v.strip().lower() for v in cc_delim_re.split(response.get("Vary", "")) if v.strip()}


@pytest.mark.parametrize("name", PAGES)
@pytest.mark.parametrize("headers", [{}, HTMX], ids=["page", "htmx"])
def test_every_page_varies_on_hx_request(operator_client, name, headers):
    response = operator_client.get(reverse(name), **headers)
    assert response.status_code == 200
    assert "hx-request" in _vary(response)


def test_a_job_page_answers_htmx_with_its_panel_and_says_so(operator_client):
    page = operator_client.get(reverse("jobs:revoke_expired"))
    panel = operator_client.get(reverse("jobs:revoke_expired"), **HTMX)
    assert b"<html" in page.content and b"<html" not in panel.content
    assert _vary(page) >= {"hx-request", "cookie"} and _vary(panel) >= {"hx-request", "cookie"}


@pytest.mark.django_db(transaction=True)
def test_a_run_varies_on_hx_request(operator_client):
    response = operator_client.post(reverse("jobs:revoke_run"), **HTMX)
    assert response.status_code == 200 and "hx-request" in _vary(response)


def test_the_login_redirect_of_an_htmx_poll_varies_on_hx_request(client, db):
    poll = client.get(reverse("jobs:banner", args=["revoke"]), **HTMX)
    page = client.get(reverse("jobs:revoke_expired"))
    assert (poll.status_code, page.status_code) == (401, 302)
    assert "hx-request" in _vary(poll) and "hx-request" in _vary(page)
