"""accessmgr/http.py: the JSON API decorators and the page-number parser."""

import json

import pytest
from django.contrib.auth.models import AnonymousUser
from django.http import JsonResponse
from django.test import RequestFactory, override_settings

from accessmgr.http import api_permission, api_view, json_body, page_number, page_number_or_first

rf = RequestFactory()


@api_view("GET", "POST")
@api_permission("jobs.run_revoke_job", "You may not.")
@json_body
def echo(request):
    return JsonResponse({"got": request.json})


def post(body, content_type="application/json"):
    request = rf.post("/api/x", body, content_type=content_type)
    request.user = AnonymousUser()
    return request


@pytest.fixture
def allowed(monkeypatch):
    monkeypatch.setattr(AnonymousUser, "has_perm", lambda self, perm, obj=None: perm == "jobs.run_revoke_job")


def test_another_method_gets_405_with_allow():
    request = rf.delete("/api/x")
    response = echo(request)
    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD, POST"
    assert json.loads(response.content)["message"]


def test_without_the_permission_403_json():
    response = echo(post("{}"))
    assert response.status_code == 403
    assert json.loads(response.content) == {"message": "You may not."}


def test_a_json_object_reaches_the_view(allowed):
    response = echo(post(json.dumps({"a": [1, {"b": 2}]})))
    assert response.status_code == 200
    assert json.loads(response.content) == {"got": {"a": [1, {"b": 2}]}}


@pytest.mark.parametrize(
    "body", ["[" * 100_000 + "]" * 100_000, '{"a":' * 100_000 + "1" + "}" * 100_000], ids=["list", "object"]
)
def test_a_deeply_nested_body_is_400_not_a_server_error(allowed, body):
    with override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=None):
        response = echo(post(body))
    assert response.status_code == 400
    assert "nested too deeply" in json.loads(response.content)["message"]


@pytest.mark.parametrize("body", ["{oops", "[1, 2]", "null", b"\xff"])
def test_malformed_or_not_an_object_is_400(allowed, body):
    response = echo(post(body))
    assert response.status_code == 400
    assert json.loads(response.content)["message"]


def test_not_json_is_415(allowed):
    response = echo(post("a=1", content_type="application/x-www-form-urlencoded"))
    assert response.status_code == 415
    assert response["Accept-Post"] == "application/json"


def test_too_big_is_413(allowed):
    with override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=10):
        response = echo(post(json.dumps({"text": "x" * 100})))
    assert response.status_code == 413


@pytest.mark.parametrize(("raw", "number"), [(None, 1), ("", 1), ("1", 1), ("42", 42), ("500", 500)])
def test_page_number_reads_whole_numbers(raw, number):
    assert page_number(raw, maximum=500) == number


@pytest.mark.parametrize("raw", ["0", "-3", "1.5", "x", "%00", "501", " "])
def test_page_number_rejects_anything_else_with_a_message(raw):
    with pytest.raises(ValueError, match="Must be a whole number from 1 to 500"):
        page_number(raw, maximum=500)


@pytest.mark.parametrize(
    ("raw", "number"), [("0", 1), ("-3", 1), ("x", 1), ("7", 7), ("99999999999999999999999", 10**23 - 1)]
)
def test_pages_take_a_rejected_number_as_the_first_page(raw, number):
    assert page_number_or_first(raw) == number
