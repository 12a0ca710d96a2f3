"""CSV exports: All Requests with the page's filters, the audit trail by date range, and
GET /api/access-requests?format=csv. Streamed, read back with the csv module."""

import csv
import io
from datetime import date, timedelta

import pytest
from django.http import StreamingHttpResponse

from requests_app.exports import EVENT_COLUMNS, REQUEST_COLUMNS
from requests_app.models import AccessEvent
from requests_app.services import access_request_revoke


def rows(response) -> list[list[str]]:
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith("attachment; filename=")
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text)))


@pytest.mark.django_db
def test_all_requests_csv_has_the_columns_and_every_row_newest_first(user_client, make_request):
    made = [make_request(created_ago=timedelta(minutes=10 - i)) for i in range(3)]
    access_request_revoke(request_id=made[0].request_id, reason="x", revoked_by="alice")
    header, *data = rows(user_client.get("/requests/export.csv"))
    assert header == REQUEST_COLUMNS
    assert [row[0] for row in data] == [r.request_id for r in reversed(made)]
    revoked = data[-1]
    assert revoked[5] == "Revoked" and revoked[9] == "alice" and revoked[8]


@pytest.mark.django_db
def test_all_requests_csv_applies_the_pages_status_and_search(user_client, make_request):
    a = make_request(requestor_email="ada@example.com")
    make_request(requestor_email="bob@example.com")
    c = make_request(requestor_email="ada.l@example.com")
    access_request_revoke(request_id=c.request_id, reason="x", revoked_by="alice")
    assert [r[0] for r in rows(user_client.get("/requests/export.csv?q=ADA"))[1:]] == [
        c.request_id,
        a.request_id,
    ]
    assert [r[0] for r in rows(user_client.get("/requests/export.csv?q=ada&status=Active"))[1:]] == [
        a.request_id
    ]
    assert user_client.get("/requests/export.csv?status=Nope").status_code == 400


@pytest.mark.django_db
def test_api_format_csv_is_the_same_export(user_client, make_request):
    make_request(requestor_email="ada@example.com")
    make_request(requestor_email="bob@example.com")
    data = rows(user_client.get("/api/access-requests?format=csv&search=bob"))
    assert data[0] == REQUEST_COLUMNS and [r[2] for r in data[1:]] == ["bob@example.com"]


@pytest.mark.django_db
def test_cells_that_a_spreadsheet_would_run_as_formulas_are_quoted(user_client, make_request):
    make_request(resource_name='=HYPERLINK("http://evil")', justification='+1, "quoted"\nnext line')
    (row,) = rows(user_client.get("/requests/export.csv"))[1:]
    assert row[3] == '\'=HYPERLINK("http://evil")'
    assert row[4] == '\'+1, "quoted"\nnext line'


@pytest.mark.django_db
def test_audit_csv_by_date_range(user_client, make_request):
    r = make_request()
    access_request_revoke(request_id=r.request_id, reason="Offboarding", revoked_by="alice")
    old = AccessEvent.objects.create(
        request=r,
        event_type="Created",
        occurred_at=AccessEvent.objects.get().occurred_at - timedelta(days=10),
        actor="x",
    )
    header, *data = rows(user_client.get("/requests/audit.csv"))
    assert header == EVENT_COLUMNS
    assert [row[2] for row in data] == ["Created", "Revoked"]  # oldest first
    today = date.today()
    recent = rows(user_client.get(f"/requests/audit.csv?from={today - timedelta(days=1)}&to={today}"))[1:]
    assert [(row[1], row[2], row[3], row[5]) for row in recent] == [
        (r.request_id, "Revoked", "alice", "Offboarding")
    ]
    only_old = rows(user_client.get(f"/requests/audit.csv?to={old.occurred_at.date()}"))[1:]
    assert [row[2] for row in only_old] == ["Created"]


@pytest.mark.django_db
@pytest.mark.parametrize("query", ["from=yesterday", "from=2026-02-30", "from=2026-03-02&to=2026-03-01"])
def test_audit_csv_refuses_a_bad_range(user_client, query):
    response = user_client.get(f"/requests/audit.csv?{query}")
    assert response.status_code == 400 and b"YYYY-MM-DD" in response.content
