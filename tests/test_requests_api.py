"""The request API: GET/POST /api/access-requests, GET /api/access-requests/pending-expiry."""

import json
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from requests_app.models import NEVER_EXPIRES, UserAccessRequest
from tests.factories import revocation_make

LIST = reverse("requests_app:api_access_requests")
PENDING = reverse("requests_app:api_pending_expiry")
FIELDS = {
    "id",
    "requestId",
    "requestorName",
    "requestorEmail",
    "resourceName",
    "justification",
    "status",
    "createdAt",
    "expiresOn",
    "revokedDt",
    "revokedBy",
}


def post_json(client, body, **extra):
    payload = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.post(LIST, payload, content_type="application/json", **extra)


def valid(**overrides):
    body = {
        "requestorName": "Carol Danvers",
        "requestorEmail": "carol@example.com",
        "resourceName": "AWS prod account",
        "justification": "Incident response",
        "duration": "29",
    }
    body.update(overrides)
    return body


# --- GET /api/access-requests --------------------------------------------------------


def test_list_has_the_seed_fields_newest_first_with_revocation(user_client, make_request):
    old = make_request(created_ago=timedelta(days=1))
    new = make_request(expires_on=NEVER_EXPIRES)
    rv = revocation_make(old)
    response = user_client.get(LIST)
    assert response.status_code == 200
    rows = response.json()
    assert [r["requestId"] for r in rows] == [new.request_id, old.request_id]
    assert set(rows[0]) == FIELDS
    assert rows[0]["revokedDt"] is None and rows[0]["revokedBy"] is None
    assert rows[0]["expiresOn"] == "9999-12-31T00:00:00Z"
    assert rows[1]["status"] == "Revoked"
    assert rows[1]["revokedBy"] == "System - Scheduled Expiry Job"
    assert rows[1]["revokedDt"].startswith(rv.revoked_dt.strftime("%Y-%m-%dT%H:%M"))
    assert response["X-Total-Count"] == "2"


def test_list_is_paginated_with_headers_and_bounded(user_client, make_request):
    for _ in range(7):
        make_request()
    response = user_client.get(LIST, {"pageSize": 3, "page": 2})
    assert len(response.json()) == 3
    assert response["X-Total-Count"] == "7"
    assert response["X-Page"] == "2"
    assert response["X-Total-Pages"] == "3"
    assert 'rel="next"' in response["Link"] and 'rel="prev"' in response["Link"]
    assert "page=3" in response["Link"]
    past_end = user_client.get(LIST, {"pageSize": 3, "page": 9})
    assert past_end.status_code == 200 and past_end.json() == []
    assert user_client.get(LIST)["X-Page-Size"] == "100"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"page": "x"}, "page"),
        ({"page": "0"}, "page"),
        ({"pageSize": "501"}, "pageSize"),
        ({"pageSize": "-1"}, "pageSize"),
        ({"status": "Pending"}, "status"),
    ],
)
def test_list_rejects_bad_query_parameters(user_client, params, field):
    response = user_client.get(LIST, params)
    assert response.status_code == 400
    body = response.json()
    assert body["message"] and field in body["errors"]


def test_list_filters_by_status_and_search(user_client, make_request):
    a = make_request(requestor_email="dora@corp.example")
    b = make_request()
    revocation_make(b)
    assert [r["requestId"] for r in user_client.get(LIST, {"status": "Revoked"}).json()] == [b.request_id]
    assert [r["requestId"] for r in user_client.get(LIST, {"search": "DORA"}).json()] == [a.request_id]


def test_list_sorts_and_filters_like_the_page(user_client, make_request):
    late = make_request(requestor_name="Zed", expires_in=timedelta(days=20))
    soon = make_request(requestor_name="Amy", expires_in=timedelta(days=2))
    overdue = make_request(resource_name="Old VPN", expires_in=-timedelta(hours=2))
    rows = user_client.get(LIST, {"sort": "-requestorName"}).json()
    assert [r["requestId"] for r in rows][:2] == [late.request_id, overdue.request_id]
    assert [r["requestId"] for r in user_client.get(LIST, {"sort": "expiresOn"}).json()] == [
        overdue.request_id,
        soon.request_id,
        late.request_id,
    ]
    response = user_client.get(LIST, {"overdue": "true"})
    assert [r["requestId"] for r in response.json()] == [overdue.request_id]
    assert response["X-Total-Count"] == "1"
    assert [r["requestId"] for r in user_client.get(LIST, {"expiringWithinDays": 7}).json()] == [
        soon.request_id
    ]
    assert [r["requestId"] for r in user_client.get(LIST, {"search": "old vpn"}).json()] == [
        overdue.request_id
    ]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"sort": "justification"}, "sort"),
        ({"sort": "--createdAt"}, "sort"),
        ({"overdue": "maybe"}, "overdue"),
        ({"expiringWithinDays": "0"}, "expiringWithinDays"),
        ({"expiringWithinDays": "3651"}, "expiringWithinDays"),
        ({"expiringWithinDays": "soon"}, "expiringWithinDays"),
    ],
)
def test_list_rejects_bad_filters_with_400(user_client, params, field):
    response = user_client.get(LIST, params)
    assert response.status_code == 400
    assert list(response.json()["errors"]) == [field]


@pytest.mark.parametrize(
    "sort", ["-createdAt", "createdAt", "requestorName", "-expiresOn", "revokedDt", "-revokedDt"]
)
def test_pages_read_from_either_end_add_up_to_the_whole_list(user_client, make_request, sort):
    for i in range(7):
        obj = make_request(requestor_name=f"N{i % 3}", expires_in=timedelta(days=1 + i % 2))
        if i % 3 == 0:
            revocation_make(obj)
    whole = [r["id"] for r in user_client.get(LIST, {"sort": sort}).json()]
    pages = [user_client.get(LIST, {"sort": sort, "pageSize": 3, "page": n}).json() for n in (1, 2, 3)]
    assert [r["id"] for page in pages for r in page] == whole
    assert len(whole) == 7


def test_list_runs_a_constant_number_of_queries_whatever_the_page_size(user_client, make_request):
    for i in range(40):
        obj = make_request()
        if i % 3 == 0:
            revocation_make(obj)
    counts = []
    for size in (1, 10, 500):
        with CaptureQueriesContext(connection) as ctx:
            assert len(user_client.get(LIST, {"pageSize": size}).json()) == min(size, 40)
        counts.append(len(ctx.captured_queries))
    assert len(set(counts)) == 1


# --- GET /api/access-requests/pending-expiry ------------------------------------------


def test_pending_expiry_lists_active_expired_most_overdue_first(user_client, make_request):
    recent = make_request(expires_in=-timedelta(hours=1))
    oldest = make_request(expires_in=-timedelta(days=9))
    make_request(expires_in=timedelta(days=1))
    make_request(expires_on=NEVER_EXPIRES)
    revocation_make(make_request(expires_in=-timedelta(days=2)))
    response = user_client.get(PENDING)
    assert response.status_code == 200
    rows = response.json()
    assert [r["requestId"] for r in rows] == [oldest.request_id, recent.request_id]
    assert set(rows[0]) == FIELDS
    assert response["X-Total-Count"] == "2"


def test_pending_expiry_is_get_only(user_client):
    response = user_client.post(PENDING)
    assert response.status_code == 405
    assert response.json()["message"]


# --- POST /api/access-requests --------------------------------------------------------


def test_create_returns_201_with_the_created_request(user_client):
    response = post_json(user_client, valid())
    assert response.status_code == 201
    body = response.json()
    obj = UserAccessRequest.objects.get()
    assert body["requestId"] == obj.request_id and body["id"] == obj.id
    assert body["status"] == "Active" and body["revokedDt"] is None and body["revokedBy"] is None
    assert set(body) == FIELDS
    assert obj.expires_on - obj.created_at == timedelta(days=29)
    assert user_client.get(LIST).json()[0]["requestId"] == obj.request_id


def test_create_accepts_numeric_duration_never_and_custom_date(user_client):
    assert post_json(user_client, valid(duration=90)).status_code == 201
    assert post_json(user_client, valid(duration="never")).json()["expiresOn"] == "9999-12-31T00:00:00Z"
    day = (timezone.localdate() + timedelta(days=3)).isoformat()
    assert post_json(user_client, valid(duration="custom", customDate=day)).status_code == 201
    assert UserAccessRequest.objects.count() == 3


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"requestorName": None}, "requestorName"),
        ({"requestorEmail": "nope"}, "requestorEmail"),
        ({"resourceName": "r" * 201}, "resourceName"),
        ({"requestorName": "n" * 201}, "requestorName"),
        ({"justification": "j" * 1001}, "justification"),
        ({"duration": "2"}, "duration"),
        ({"duration": True}, "duration"),
        ({"duration": "custom", "customDate": "2001-01-01"}, "customDate"),
        ({"duration": "custom"}, "customDate"),
        ({"duration": "custom", "customDate": "tomorrow"}, "customDate"),
        ({"requestorName": ["a", "list"]}, "requestorName"),
        ({"resourceName": 42}, "resourceName"),
        ({"requestorEmail": "a\x00b@example.com"}, "requestorEmail"),
    ],
)
def test_create_rejects_invalid_fields_with_400_and_saves_nothing(user_client, overrides, field):
    response = post_json(user_client, valid(**overrides))
    assert response.status_code == 400
    body = response.json()
    assert body["message"]
    assert field in body["errors"] and all(isinstance(m, str) for m in body["errors"][field])
    assert UserAccessRequest.objects.count() == 0


def test_create_with_an_empty_object_names_every_required_field(user_client):
    response = post_json(user_client, {})
    assert response.status_code == 400
    assert {"requestorName", "requestorEmail", "resourceName", "duration"} <= set(response.json()["errors"])


@pytest.mark.parametrize("body", ["{not json", "  ", '["a", "list"]', "null", "42", b"\xff\xfe"])
def test_create_rejects_malformed_or_non_object_json(user_client, body):
    response = post_json(user_client, body)
    assert response.status_code == 400
    assert response.json()["message"]
    assert UserAccessRequest.objects.count() == 0


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]
)
def test_create_rejects_a_wrong_content_type_with_415(user_client, content_type):
    if content_type == "multipart/form-data":
        response = user_client.post(LIST, valid())
    else:
        response = user_client.post(LIST, json.dumps(valid()), content_type=content_type)
    assert response.status_code == 415
    assert "application/json" in response.json()["message"]
    assert UserAccessRequest.objects.count() == 0


def test_unsupported_method_gets_json_405(user_client):
    response = user_client.delete(LIST)
    assert response.status_code == 405
    assert "POST" in response["Allow"]
    assert response.json()["message"]


def test_post_without_csrf_token_gets_json_403(user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    response = post_json(client, valid())
    assert response.status_code == 403
    assert response["Content-Type"] == "application/json"
    assert "CSRF" in response.json()["message"]
    assert UserAccessRequest.objects.count() == 0


def test_post_with_csrf_header_is_accepted(user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    client.get(reverse("requests_app:create_request"))  # sets the csrftoken cookie
    token = client.cookies["csrftoken"].value
    assert post_json(client, valid(), HTTP_X_CSRFTOKEN=token).status_code == 201


def test_page_post_without_csrf_token_gets_the_html_403(user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    response = client.post(reverse("requests_app:create_request"), {})
    assert response.status_code == 403
    assert response["Content-Type"].startswith("text/html")
