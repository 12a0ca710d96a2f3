"""An error no view handled (accessmgr.errors): a database that cannot be reached answers
503, JSON {"message"} on /api/ and a styled page elsewhere; anything else is a 500, JSON on
/api/. The database-away cases run in a fresh process whose database cannot be opened."""

import json

from django.db import OperationalError
from django.test import RequestFactory

from accessmgr.errors import DATABASE_UNAVAILABLE, server_error
from tests.conftest import django_start

GET_WITH_A_SESSION = """
from django.test import Client
import json
client = Client(raise_request_exception=False)
client.cookies["sessionid"] = "a-session-the-database-would-have"
answers = {}
for path in ("/api/access-requests", "/jobs/history/", "/healthz"):
    r = client.get(path)
    answers[path] = {"status": r.status_code, "type": r["Content-Type"], "body": r.content.decode()}
print(json.dumps(answers))
"""


def test_a_database_that_cannot_be_reached_answers_503_json_on_the_api_and_a_styled_page(tmp_path):
    unreachable = tmp_path / "no-such-directory" / "db.sqlite3"
    result = django_start(code=GET_WITH_A_SESSION, DATABASE_URL=f"sqlite:///{unreachable}")
    assert result.returncode == 0, result.stderr
    answers = json.loads(result.stdout.strip().splitlines()[-1])

    api = answers["/api/access-requests"]
    assert (api["status"], api["type"]) == (503, "application/json")
    assert json.loads(api["body"]) == {"message": DATABASE_UNAVAILABLE}

    page = answers["/jobs/history/"]
    assert page["status"] == 503 and page["type"].startswith("text/html")
    assert "<h1>Database unavailable</h1>" in page["body"]
    assert "/static/css/app.css" in page["body"]  # the site's own page, styled
    assert "Log out" not in page["body"]  # rendered without the user: nothing read from the database
    assert "unable to open database file" not in page["body"]  # the reason is logged, not shown

    # /healthz is open to everyone: it is decided without reading the session.
    health = answers["/healthz"]
    assert (health["status"], json.loads(health["body"])) == (503, {"status": "unavailable"})


def raised(exc: Exception, path: str):
    request = RequestFactory().get(path)
    try:
        raise exc
    except Exception:  # Django calls handler500 inside its own except, like this
        return server_error(request)


def test_other_errors_stay_500_and_are_json_on_the_api():
    api = raised(ValueError("a bug"), "/api/access-requests")
    assert api.status_code == 500 and json.loads(api.content) == {"message": "Internal server error."}
    page = raised(ValueError("a bug"), "/jobs/history/")
    assert page.status_code == 500 and "a bug" not in page.content.decode()


def test_a_lost_connection_is_503_on_the_api():
    api = raised(OperationalError("server closed the connection unexpectedly"), "/api/access-requests")
    assert api.status_code == 503 and json.loads(api.content) == {"message": DATABASE_UNAVAILABLE}
