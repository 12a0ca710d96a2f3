"""docs/openapi.yaml describes the JSON API: it is served at /api/openapi.json to logged-in
users, and schemathesis sends each of its operations a bounded number of generated requests
over HTTP, logged in as an operator (the job permissions, seeing and creating for all): no server error, and every
answer's status, content type, headers and body as described."""

from datetime import timedelta

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from django.test import Client
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from accessmgr.openapi import openapi_document

EXAMPLES_PER_OPERATION = 20
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
SEED_PATHS = {
    "/api/access-requests",
    "/api/access-requests/pending-expiry",
    "/api/access-requests/revoke-expired",
    "/api/access-requests/revoke-job-status",
    "/api/access-requests/send-expiry-notifications",
    "/api/access-requests/notification-job-status",
    "/api/access-requests/pending-notifications",
}


def test_the_description_covers_the_eight_seed_endpoints():
    operations = {(path, method) for path, item in openapi_document()["paths"].items() for method in item}
    assert {path for path, _ in operations} == SEED_PATHS
    assert len(operations) == 8


def test_it_is_served_to_logged_in_users_only(client, user):
    assert client.get("/api/openapi.json").status_code == 401
    client.force_login(user)
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    assert response.json() == openapi_document()


@pytest.fixture
def operator_session(transactional_db, operator, make_request) -> dict:
    """The cookies and CSRF header of a session logged in as the operator, with a request due a
    reminder and one expired (committed: the jobs' worker threads read them)."""
    make_request(expires_in=timedelta(days=5))
    make_request(expires_in=-timedelta(days=1))
    client = Client()
    client.force_login(operator)
    client.get("/login/")  # sets the CSRF cookie
    session, token = client.cookies["sessionid"].value, client.cookies["csrftoken"].value
    return {"cookies": {"sessionid": session, "csrftoken": token}, "headers": {"X-CSRFToken": token}}


def test_schemathesis_finds_no_server_error_and_no_schema_mismatch(operator_session):
    schema = schemathesis.openapi.from_dict(openapi_document())  # the document /api/openapi.json serves
    schema.app = get_wsgi_application()  # called in-process
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 8

    for operation in operations:

        @given(case=operation.as_strategy())
        @hypothesis_settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        def call(case):
            case.call_and_validate(checks=CHECKS, **operator_session)

        call()
