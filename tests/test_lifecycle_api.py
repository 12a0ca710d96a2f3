"""POST /api/access-requests/<requestId>/extend and /revoke: the seed's request shape back,
field errors as the Create endpoint gives them, and nothing changed on any error."""

import json
from datetime import date, timedelta

import pytest
from django.contrib.auth.models import Permission, User

from accessmgr.db import db_now
from requests_app.models import AccessEvent, RevokedAccess, UserAccessRequest
from requests_app.services import REASON_MAX_LENGTH


@pytest.fixture
def api(client, db):
    u = User.objects.create_user("carol", "carol@example.com", "pw")
    u.user_permissions.add(Permission.objects.get(codename="change_useraccessrequest"))
    client.force_login(u)
    return client


def post(client, request_id: str, action: str, body):
    data = body if isinstance(body, str) else json.dumps(body)
    return client.post(
        f"/api/access-requests/{request_id}/{action}", data=data, content_type="application/json"
    )


def state():
    return (
        list(UserAccessRequest.objects.order_by("id").values_list("status", "expires_on")),
        RevokedAccess.objects.count(),
        AccessEvent.objects.count(),
    )


@pytest.mark.django_db
def test_extend_answers_200_with_the_updated_request_in_the_seeds_shape(api, make_request):
    r = make_request(expires_in=timedelta(days=2))
    response = post(api, r.request_id, "extend", {"duration": "90", "reason": "Project extended"})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {
        "id", "requestId", "requestorName", "requestorEmail", "resourceName", "justification",
        "status", "createdAt", "expiresOn", "revokedDt", "revokedBy",
    }  # fmt: skip
    r.refresh_from_db()
    assert body["requestId"] == r.request_id and body["status"] == "Active"
    assert body["expiresOn"].startswith(r.expires_on.strftime("%Y-%m-%dT%H:%M"))
    assert r.expires_on > db_now() + timedelta(days=89)


@pytest.mark.django_db
def test_extend_takes_a_number_never_and_a_custom_date(api, make_request):
    r = make_request()
    assert post(api, r.request_id, "extend", {"duration": 30, "reason": "x"}).status_code == 200
    assert (
        post(api, r.request_id, "extend", {"duration": "never", "reason": "x"})
        .json()["expiresOn"]
        .startswith("9999-12-31")
    )
    day = (date.today() + timedelta(days=50)).isoformat()
    body = post(api, r.request_id, "extend", {"duration": "custom", "customDate": day, "reason": "x"}).json()
    assert body["expiresOn"].startswith(day)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body,field",
    [
        ({"duration": "custom", "customDate": "2020-01-01", "reason": "x"}, "customDate"),
        ({"duration": "custom", "reason": "x"}, "customDate"),
        ({"duration": "14", "reason": "x"}, "duration"),
        ({"duration": "90"}, "reason"),
        ({"duration": "90", "reason": ""}, "reason"),
        ({"duration": "90", "reason": "x" * (REASON_MAX_LENGTH + 1)}, "reason"),
        ({"duration": "90", "reason": 5}, "reason"),
    ],
)
def test_extend_bad_input_is_400_with_field_errors_and_changes_nothing(api, make_request, body, field):
    r = make_request()
    before = state()
    response = post(api, r.request_id, "extend", body)
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert state() == before


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body", [{}, {"reason": ""}, {"reason": "x" * (REASON_MAX_LENGTH + 1)}, {"reason": ["x"]}]
)
def test_revoke_bad_input_is_400_and_changes_nothing(api, make_request, body):
    r = make_request()
    before = state()
    response = post(api, r.request_id, "revoke", body)
    assert response.status_code == 400 and "reason" in response.json()["errors"]
    assert state() == before


@pytest.mark.django_db
@pytest.mark.parametrize("body", ["not json", "[1]"])
def test_malformed_json_is_400(api, make_request, body):
    r = make_request()
    assert post(api, r.request_id, "revoke", body).status_code == 400


@pytest.mark.django_db
def test_revoke_answers_200_then_409_when_already_revoked(api, make_request):
    r = make_request()
    response = post(api, r.request_id, "revoke", {"reason": "Offboarding"})
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["revokedBy"]) == ("Revoked", "carol")
    assert body["revokedDt"] is not None
    before = state()
    again = post(api, r.request_id, "revoke", {"reason": "again"})
    assert again.status_code == 409
    assert "is Revoked" in again.json()["message"]
    extend = post(api, r.request_id, "extend", {"duration": "90", "reason": "x"})
    assert extend.status_code == 409
    assert state() == before


@pytest.mark.django_db
@pytest.mark.parametrize("action", ["extend", "revoke"])
def test_unknown_request_id_is_404(api, action):
    response = post(api, "REQ-NOPE", action, {"duration": "90", "reason": "x"})
    assert response.status_code == 404 and "REQ-NOPE" in response.json()["message"]


@pytest.mark.django_db
@pytest.mark.parametrize("action", ["extend", "revoke"])
def test_without_the_permission_403_and_nothing_changes(user_client, make_request, action):
    r = make_request()
    before = state()
    response = post(user_client, r.request_id, action, {"duration": "90", "reason": "x"})
    assert response.status_code == 403
    assert state() == before


@pytest.mark.django_db
def test_get_is_405(api, make_request):
    r = make_request()
    response = api.get(f"/api/access-requests/{r.request_id}/revoke")
    assert response.status_code == 405 and response["Allow"] == "POST"
