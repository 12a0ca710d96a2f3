"""axe-core (tests/browser/conftest.py: axe_script) over every page and state: no violation of
impact serious or critical. States: empty, with rows, a run holding the lock (the banner), a
run's result, errors (form errors, the 409 card, a refused run, a login error), a user without
the job permissions, the run pages (in progress, every outcome, with their tables), a request's
page (with its actions, reminders and history; revoked), the admin; the pages with rows, locked,
results and errors at 390 px too."""

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect

from accessmgr.db import db_now
from jobs.models import NotificationJobRun, RevokeExpiredJobRun
from jobs.notifications import notifications_send
from jobs.revoke import revoke_expired_run
from requests_app.models import RevokedAccess
from tests.browser.conftest import DESKTOP, PASSWORD, PHONE, axe_violations, log_in
from tests.factories import lock_held, run_make, user_make

pytestmark = pytest.mark.browser

PAGES = [
    "/",
    "/my-access/",
    "/requests/new/",
    "/requests/pending-expiry/",
    "/jobs/revoke-expired/",
    "/jobs/expiry-notifications/",
    "/jobs/history/",
]
VIEWPORTS = pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280px", "390px"])


def assert_accessible(page, axe_script, state: str) -> None:
    page.wait_for_load_state("load")
    found = axe_violations(page, axe_script)
    assert not found, f"{state} at {page.viewport_size['width']}px ({page.url}):\n" + "\n".join(found)


@pytest.fixture
def rows(make_request):
    """Requests in every state and runs of every status, so each badge and table shows."""
    make_request(
        expires_in=-timedelta(days=2), resource_name="A rather long resource name for the narrow screen"
    )
    for days in (1, 5, 29):
        make_request(expires_in=timedelta(days=days))
    make_request(expires_in=timedelta(days=90), justification="Quarterly review " * 8)
    revoked = make_request(expires_in=-timedelta(days=9), status="Revoked")
    RevokedAccess.objects.create(request=revoked, revoked_dt=revoked.expires_on, revoked_by="System")
    now = db_now()
    for minutes, (model, status, fields) in enumerate(
        (
            (RevokeExpiredJobRun, "Completed", {"revoked_count": 3}),
            (RevokeExpiredJobRun, "Failed", {"error_message": "database went away"}),
            (RevokeExpiredJobRun, "Refused", {"error_message": "Refused: run x held the lock."}),
            (NotificationJobRun, "Completed", {"success_count": 2, "failed_count": 1}),
            (NotificationJobRun, "Abandoned", {"error_message": "Abandoned: no heartbeat"}),
        )
    ):
        run_make(model, status=status, started_at=now - timedelta(minutes=minutes + 1), **fields)


def test_every_page_empty(operator_page, axe_script):
    page, _ = operator_page("/", bypass_csp=True)
    for path in PAGES:
        page.goto(path)
        assert_accessible(page, axe_script, f"{path} empty")


@VIEWPORTS
def test_every_page_with_rows(operator_page, axe_script, rows, viewport):
    page, _ = operator_page("/", viewport=viewport, bypass_csp=True)
    for path in [*PAGES, "/?status=Active", "/jobs/history/?job=revoke"]:
        page.goto(path)
        assert_accessible(page, axe_script, f"{path} with rows")
    page.goto("/jobs/expiry-notifications/")
    page.get_by_label("Pick emails to fail").check()
    assert_accessible(page, axe_script, "Expiry Notifications, pick mode")


@VIEWPORTS
def test_job_pages_while_a_run_holds_the_lock(operator_page, axe_script, rows, viewport):
    with (
        lock_held(RevokeExpiredJobRun, triggered_by="run_revoke", started_by="other-server:1"),
        lock_held(NotificationJobRun, triggered_by="olivia", started_by="other-server:2") as notify,
    ):
        notify.progress(processed=1, total=3)
        page, _ = operator_page("/jobs/revoke-expired/", viewport=viewport, bypass_csp=True)
        expect(page.locator("#job-banner-revoke .job-banner")).to_be_visible()
        assert_accessible(page, axe_script, "Revoke Expired, locked")
        page.goto("/jobs/expiry-notifications/")
        expect(page.locator("#job-banner-notifications progress")).to_be_visible()
        assert_accessible(page, axe_script, "Expiry Notifications, locked")
        page.goto("/jobs/history/")
        assert_accessible(page, axe_script, "Job History with runs in progress")


@VIEWPORTS
def test_job_results_and_errors(operator_page, axe_script, rows, make_request, viewport, settings):
    settings.JOB_POLL_SECONDS = 60  # the page must not see the lock before the click
    page, watch = operator_page("/jobs/revoke-expired/", viewport=viewport, bypass_csp=True)
    watch.allowed.update({400, 409})
    page.locator("#revoke-run-button").click()
    expect(page.locator("#revoke-result .result")).to_contain_text("Revoked: 1")
    assert_accessible(page, axe_script, "Revoke Expired, result")

    page.goto("/jobs/expiry-notifications/")
    page.get_by_label("Pick emails to fail").check()
    page.locator("#notify-run-button").click()
    expect(page.locator("#notifications-result .result")).to_contain_text("Not run.")  # nothing ticked
    assert_accessible(page, axe_script, "Expiry Notifications, refused")
    page.locator("#notifications-panel tbody input[type=checkbox]").first.check()
    page.locator("#notify-run-button").click()
    expect(page.locator("#notifications-result .result")).to_contain_text("failed 1")
    assert_accessible(page, axe_script, "Expiry Notifications, result with a failed send")

    make_request(expires_in=-timedelta(days=1))  # something to revoke again
    page.goto("/jobs/revoke-expired/")
    with lock_held(RevokeExpiredJobRun, triggered_by="run_revoke", started_by="other-server:1"):
        page.locator("#revoke-run-button").click()
        expect(page.locator("#revoke-result .result.conflict")).to_be_visible()
        assert_accessible(page, axe_script, "Revoke Expired, already running (409)")

    page.goto("/requests/new/")
    page.locator("form.request-form button.primary").click()
    expect(page.locator(".field-invalid").first).to_be_visible()
    assert_accessible(page, axe_script, "Create Request with errors")
    page.goto("/?status=Bogus")
    assert_accessible(page, axe_script, "All Requests, unknown filter")


@VIEWPORTS
def test_run_pages(operator_page, axe_script, rows, make_request, viewport):
    """A run in progress (its panel polls), then every run in the history: real runs with
    their tables (revoked requests; reminders and a failed send) and the rows fixture's
    Failed, Refused and Abandoned ones."""
    make_request(expires_in=timedelta(days=3), requestor_email="fails@example.com")
    revoke_expired_run(triggered_by="olivia")
    notifications_send(triggered_by="olivia", fail_emails=["fails@example.com"])
    with lock_held(NotificationJobRun, triggered_by="olivia", started_by="other-server:2") as held:
        held.progress(processed=1, total=3)
        page, _ = operator_page(f"/jobs/runs/{held.job_id}/", viewport=viewport, bypass_csp=True)
        expect(page.locator("#run-detail progress")).to_be_visible()
        assert_accessible(page, axe_script, "a run page, in progress")
    for model in (RevokeExpiredJobRun, NotificationJobRun):
        for run in model.objects.exclude(job_id=held.job_id):
            page.goto(f"/jobs/runs/{run.job_id}/")
            assert_accessible(page, axe_script, f"a {run.job_name} run page, {run.outcome}")


@VIEWPORTS
def test_a_request_page(open_page, axe_script, make_request, viewport):
    """With its actions (a user who may change it), its reminders, a failed send and its
    history; then revoked."""
    user_make("sam", is_staff=True)
    r = make_request(expires_in=timedelta(days=5, hours=1), requestor_email="fails@example.com", reminders=1)
    notifications_send(triggered_by="olivia", fail_emails=["fails@example.com"])
    page, watch = open_page("/login/", viewport=viewport, bypass_csp=True)
    watch.allowed.add(400)  # the extend form's errors
    log_in(page, "sam")
    page.goto(f"/requests/{r.request_id}/")
    assert_accessible(page, axe_script, "a request page")
    page.get_by_label("Duration").select_option(label="Custom date")
    page.locator("#extend-h + form").get_by_role("button", name="Extend").click()
    expect(page.locator(".errorlist, .error").first).to_be_visible()
    assert_accessible(page, axe_script, "a request page, extend errors")
    page.get_by_text("Revoke now…").click()
    page.locator("details form").get_by_label("Reason").fill("Left the team")
    page.get_by_role("button", name=f"Confirm: revoke {r.request_id}").click()
    expect(page.locator("h1 .badge")).to_have_text("Revoked")
    assert_accessible(page, axe_script, "a request page, revoked, with its history")


def test_a_user_without_job_permissions(open_page, axe_script, user, rows):
    page, _ = open_page("/login/", bypass_csp=True)
    log_in(page, user.username)
    for path in ("/jobs/revoke-expired/", "/jobs/expiry-notifications/"):
        page.goto(path)
        assert_accessible(page, axe_script, f"{path} without the permission")


def test_login_logout_and_login_error(open_page, axe_script, user):
    page, watch = open_page("/login/?next=/jobs/history/", bypass_csp=True)
    assert_accessible(page, axe_script, "Log in")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill("wrong")
    page.get_by_role("button", name=re.compile("log in", re.I)).click()
    expect(page.locator(".error")).to_be_visible()
    assert_accessible(page, axe_script, "Log in, wrong password")
    log_in(page, user.username)
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    assert_accessible(page, axe_script, "Logged out")


def test_the_admin(open_page, axe_script, rows):
    User.objects.create_superuser("root", "root@example.com", PASSWORD)
    page, _ = open_page("/admin/login/", bypass_csp=True)
    assert_accessible(page, axe_script, "Admin log in")
    page.get_by_label("Username").fill("root")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/admin/$"))
    for path in ("/admin/", "/admin/requests_app/useraccessrequest/", "/admin/jobs/revokeexpiredjobrun/"):
        page.goto(path)
        assert_accessible(page, axe_script, f"admin {path}")
    page.locator("#result_list tbody a").first.click()
    assert_accessible(page, axe_script, "admin change form")


FOCUSED = """() => {
  const e = document.activeElement, s = getComputedStyle(e);
  let p = e.parentElement, behind = "rgba(0, 0, 0, 0)";
  while (p && (behind = getComputedStyle(p).backgroundColor) === "rgba(0, 0, 0, 0)") p = p.parentElement;
  return {what: e.tagName + (e.id ? "#" + e.id : "") + " " + (e.name || "") + " " + (e.value || "") + " "
                + (e.textContent || "").trim().slice(0, 30),
          style: s.outlineStyle, width: parseFloat(s.outlineWidth), color: s.outlineColor,
          behind: p ? behind : "rgb(255, 255, 255)"};
}"""


def contrast(a: str, b: str) -> float:
    """WCAG contrast ratio of two computed colours ("rgb(r, g, b)")."""

    def luminance(rgb: str) -> float:
        channels = [int(c) / 255 for c in re.findall(r"\d+", rgb)[:3]]
        r, g, b = (c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    light, dark = sorted((luminance(a), luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


@pytest.mark.parametrize("path", ["/", "/jobs/expiry-notifications/"])
def test_every_focus_stop_shows_a_ring_of_at_least_3_to_1(operator_page, rows, path):
    page, _ = operator_page(path)
    if path == "/jobs/expiry-notifications/":
        page.get_by_label("Pick emails to fail").check()  # from there: the checkboxes in the table too
    stops = []
    for _ in range(80):
        page.keyboard.press("Tab")
        stop = page.evaluate(FOCUSED)
        if stop["what"].startswith("BODY"):
            break  # past the last stop
        stops.append(stop)
    assert len(stops) >= 5
    weak = [
        s
        for s in stops
        if s["style"] in ("none", "hidden") or s["width"] < 2 or contrast(s["color"], s["behind"]) < 3
    ]
    assert not weak, weak
