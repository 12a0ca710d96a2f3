"""`make screenshots`: the README's screenshots (docs/screenshots/*.png), taken in Chromium.

Starts the app on a free port with its own SQLite database (var/screenshots.sqlite3, made
afresh: migrate + seed_demo), logs in as the demo user and saves each page at 1280 px
(and a few at 390 px), including a job page's banner while another tab's run holds the
lock and the result panels after a run. Needs Debian's Chromium (/usr/bin/chromium).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "screenshots"
DB = ROOT / "var" / "screenshots.sqlite3"
PYTHON = sys.executable
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
REVOKE_DELAY = 12  # long enough for three screenshots and a second start on a busy machine
NOTIFY_DELAY = 8  # long enough to follow the banner to the run page while it sends


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env() -> dict:
    env = dict(os.environ)
    for name in ("DATABASE_TEST_NAME", "ROOT_URLCONF"):
        env.pop(name, None)
    env.update(
        DATABASE_URL=f"sqlite:///{DB}",
        DEBUG="1",  # the demo user, static files from runserver
        SECRET_KEY="screenshots-only-not-a-secret",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        TEST_MODE="1",
        SERVER_NAME="app-server-1",
        REVOKE_DELAY_SECONDS=str(REVOKE_DELAY),
        NOTIFY_SEND_DELAY_SECONDS=str(NOTIFY_DELAY),
        JOB_POLL_SECONDS="1",
        EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
        LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
    )
    return env


def manage(*args: str, env: dict) -> None:
    subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)


def wait_until_up(url: str, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.2)


def shoot(page, name: str, *, full_page: bool = True) -> None:
    page.wait_for_load_state("networkidle")
    path = OUT / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page, animations="disabled")
    print(f"  {path.relative_to(ROOT)}")


def take_all(base_url: str) -> None:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport=DESKTOP, base_url=base_url)
        page = context.new_page()

        page.goto("/login/")
        page.get_by_label("Username").fill("demo")
        shoot(page, "login")
        page.get_by_label("Password").fill("demo")
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(f"{base_url}/")

        shoot(page, "all-requests")
        # A phone's width, logged in as the same user (the top of the page only).
        phone = browser.new_context(viewport=PHONE, base_url=base_url, storage_state=context.storage_state())
        small = phone.new_page()
        small.goto("/")
        shoot(small, "all-requests-390px", full_page=False)
        page.goto("/requests/new/")
        shoot(page, "create-request")
        page.get_by_label("Requestor name").fill("Bea Quinn")
        page.get_by_label("Requestor email").fill("bea.quinn@")
        page.get_by_label("Resource").fill("Payroll export")
        page.get_by_label("Duration").select_option(label="Custom date")
        page.locator("#id_custom_date").fill("2020-01-31")
        page.get_by_role("button", name="Create request").click()
        expect(page.locator("#id_requestor_email_error")).to_be_visible()
        shoot(page, "create-request-errors")
        page.goto("/requests/pending-expiry/")
        shoot(page, "pending-expiry")
        page.goto("/my-access/")  # the demo user's own requests (seed_demo gives it three)
        shoot(page, "my-access")

        # A request's page (Kenji Tanaka's: 5 days left, its 30-Day Reminder sent), then
        # extended and revoked by hand, with both in its history.
        page.goto("/requests/REQ-DEMO-0008/")
        shoot(page, "request-detail")
        page.get_by_label("Duration").select_option(label="90 days")
        page.locator("#extend-h + form").get_by_label("Reason").fill(
            "The workflow migration runs another quarter."
        )
        page.get_by_role("button", name="Extend").click()
        page.get_by_text("Revoke now…").click()
        page.locator("details form").get_by_label("Reason").fill("Moved to the platform team.")
        page.get_by_role("button", name="Confirm: revoke REQ-DEMO-0008").click()
        expect(page.locator("h1 .badge")).to_have_text("Revoked")
        shoot(page, "request-detail-history")

        # Revoke Expired: the page, the banner a second tab shows while a run holds the lock, the result.
        page.goto("/jobs/revoke-expired/")
        shoot(page, "revoke-expired")
        other = context.new_page()
        other.goto("/jobs/revoke-expired/")
        page.locator("#revoke-run-button").click()
        expect(other.locator("#job-banner-revoke .job-banner")).to_be_visible(timeout=5000)
        shoot(other, "revoke-expired-locked")
        small.goto("/jobs/revoke-expired/")
        expect(small.locator("#job-banner-revoke .job-banner")).to_be_visible()
        shoot(small, "revoke-expired-locked-390px", full_page=False)
        # A second start while the run holds the lock: 409, recorded as Refused in Job History.
        token = next(c["value"] for c in context.cookies() if c["name"] == "csrftoken")
        refused = other.request.post(
            "/api/access-requests/revoke-expired", headers={"X-CSRFToken": token, "Referer": base_url + "/"}
        )
        assert refused.status == 409, f"expected 409 while the run holds the lock, got {refused.status}"
        result = page.locator("#revoke-result .result")
        expect(result).to_be_visible(timeout=(REVOKE_DELAY + 10) * 1000)
        expect(page.locator("#job-banner-revoke .job-banner")).to_be_hidden(timeout=5000)
        shoot(page, "revoke-expired-result")
        result.locator('a[href^="/jobs/runs/"]').first.click()  # the run's page: what it revoked
        expect(page.locator("#run-detail .badge").first).to_have_text("Completed")
        shoot(page, "run-revoke")

        # Expiry Notifications: pick one email to fail, the banner with progress, the result.
        page.goto("/jobs/expiry-notifications/")
        page.get_by_label("Pick emails to fail").check()
        page.locator("#notifications-panel tbody tr").nth(1).get_by_role("checkbox").check()
        shoot(page, "expiry-notifications")
        other.goto("/jobs/expiry-notifications/")
        page.locator("#notify-run-button").click()
        expect(other.locator("#job-banner-notifications .job-progress")).to_be_visible(timeout=5000)
        shoot(other, "expiry-notifications-locked")
        other.get_by_role("link", name="Follow the run →").click()  # the run's page, live
        expect(other.locator("#run-detail .badge").first).to_have_text("In progress")
        expect(other.locator("#run-detail progress")).to_be_visible()
        shoot(other, "run-in-progress")
        result = page.locator("#notifications-result .result")
        expect(result).to_be_visible(timeout=(NOTIFY_DELAY + 10) * 1000)
        expect(page.locator("#job-banner-notifications .job-banner")).to_be_hidden(timeout=5000)
        shoot(page, "expiry-notifications-result")
        # The same run's page, ended: its reminders and the failed send, with the error.
        expect(other.locator("#run-detail .badge").first).to_have_text("Completed with failures")
        shoot(other, "run-notifications")

        page.goto("/jobs/history/")
        shoot(page, "job-history")
        browser.close()


def main() -> int:
    if not Path(CHROMIUM).exists():
        print(f"Chromium not found at {CHROMIUM}: apt-get install -y chromium", file=sys.stderr)
        return 1
    OUT.mkdir(parents=True, exist_ok=True)
    DB.parent.mkdir(exist_ok=True)
    for leftover in DB.parent.glob(DB.name + "*"):  # the database and its -wal / -journal
        leftover.unlink()
    env = server_env()
    manage("migrate", "--no-input", env=env)
    manage("seed_demo", env=env)
    port = free_port()
    server = subprocess.Popen(
        [PYTHON, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base_url)
        print(f"Screenshots from {base_url} into {OUT.relative_to(ROOT)}/")
        take_all(base_url)
    finally:
        server.terminate()
        server.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
