"""A real server (gunicorn) whose database connections go through a FaultProxy: after a
connection reset no request fails, and while the database is away the API answers JSON
503, the pages a styled 503 and /healthz 503, in bounded time."""

import json
import threading

import pytest

from tests.servers import Server

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

PATHS = ["/api/access-requests", "/", "/jobs/history/", "/healthz"]
HEALTHZ_TIMEOUT_SECONDS = 1  # the child's; docs/deploy.md gives the production figure
POOL_TIMEOUT_SECONDS = 2


@pytest.fixture
def server(proxied_env, user, tmp_path):
    env = {
        **proxied_env,
        "GUNICORN_THREADS": "8",
        "DB_POOL_TIMEOUT": str(POOL_TIMEOUT_SECONDS),
        "HEALTHZ_TIMEOUT_SECONDS": str(HEALTHZ_TIMEOUT_SECONDS),
    }
    server = Server("proxied", env, tmp_path)
    try:
        server.wait_ready()
        server.log_in(user.username)
        yield server
    finally:
        server.stop()


def warm_the_pool(server, proxy, *, connections: int) -> None:
    """Requests at once, each slowed by the proxy, until the pool holds several connections."""
    proxy.delay(0.02)
    for _ in range(5):
        threads = [threading.Thread(target=server.get, args=("/api/access-requests",)) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        if proxy.open_connections >= connections:
            break
    proxy.restore()
    assert proxy.open_connections >= connections, "the pool did not open several connections"


def test_after_a_connection_reset_the_next_100_requests_all_succeed(server, db_proxy):
    warm_the_pool(server, db_proxy, connections=4)
    idle = db_proxy.open_connections
    db_proxy.cut()  # every pooled connection is now dead, and the pool does not know yet
    answers = [(path, server.get(path)[0]) for path in PATHS * 25]
    failed = [answer for answer in answers if answer[1] >= 500]
    assert failed == [], f"{len(failed)} of 100 failed after a reset of {idle} pooled connections: {failed}"
    assert {code for _, code in answers} == {200}


def test_database_outage_gives_json_503_on_the_api_a_styled_503_page_and_healthz_503(server, db_proxy):
    warm_the_pool(server, db_proxy, connections=2)
    db_proxy.cut(refuse=True)

    status, content_type, body = server.get("/api/access-requests", timeout=POOL_TIMEOUT_SECONDS + 30)
    assert status == 503 and content_type == "application/json"
    assert json.loads(body) == {"message": "The database is unavailable. Try again in a moment."}

    status, content_type, body = server.get("/jobs/history/", timeout=POOL_TIMEOUT_SECONDS + 30)
    assert status == 503 and content_type.startswith("text/html")
    assert "Database unavailable" in body and "try again" in body
    assert 'href="/static/css/app.css"' in body  # styled: the site's own page, not Django's bare one

    # /healthz answers within its limit whatever the database does: the client gives up
    # well after it, so a hang fails the test instead of passing late.
    status, _, body = server.get("/healthz", timeout=HEALTHZ_TIMEOUT_SECONDS + 10)
    assert (status, json.loads(body)) == (503, {"status": "unavailable"})

    db_proxy.restore()
    assert server.get("/api/access-requests")[0] == 200  # and back as soon as the database is


def test_healthz_answers_503_while_the_database_stalls(server, db_proxy):
    db_proxy.pause()  # connections stay open, nothing comes back: a query would hang
    try:
        for _ in range(3):  # the stuck check does not pile up: each answers in time
            status, _, body = server.get("/healthz", timeout=HEALTHZ_TIMEOUT_SECONDS + 10)
            assert (status, json.loads(body)) == (503, {"status": "unavailable"})
    finally:
        db_proxy.resume()
    assert server.get("/healthz")[0] == 200
