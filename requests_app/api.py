"""JSON API for access requests, with the seed's paths and camelCase field names.

GET/POST /api/access-requests (list with the README's filters and sort, ?format=csv / create
one), GET /api/access-requests/pending-expiry, POST /api/access-requests/<requestId>/extend and
/revoke. Lists are JSON arrays in pages (?page=, ?pageSize= up to 500) with X-Total-Count,
X-Page, X-Page-Size, X-Total-Pages and Link headers (accessmgr.http.paged_json). Without
requests_app.view_all_requests the lists hold the caller's own requests; without
create_for_others a create is for the caller's account (the body's name and email ignored).
"""

from __future__ import annotations

import dataclasses

from django.http import HttpRequest, JsonResponse
from django.views.csrf import csrf_failure as default_csrf_failure

from accessmgr.db import db_now
from accessmgr.http import api_permission, api_view, json_body, json_error, page_params, paged_json
from requests_app import exports, selectors, services, throttle
from requests_app.auth import CHANGE_PERMISSION, CREATE_FOR_OTHERS_PERMISSION, VIEW_ALL_PERMISSION
from requests_app.forms import (
    AccessRequestForm,
    ExtendForm,
    OwnAccessRequestForm,
    RequestListForm,
    RevokeForm,
)
from requests_app.models import UserAccessRequest

# camelCase (the seed's JSON) → the form's field names
CREATE_FIELDS = {
    "requestorName": "requestor_name",
    "requestorEmail": "requestor_email",
    "resourceName": "resource_name",
    "justification": "justification",
    "duration": "duration",
    "customDate": "custom_date",
}
# Without create_for_others: the request is for one's own account, the body's
# requestorName and requestorEmail are ignored.
OWN_CREATE_FIELDS = {
    camel: name for camel, name in CREATE_FIELDS.items() if not camel.startswith("requestor")
}


def _requester_id(request: HttpRequest) -> int | None:
    """The lists' scope: everyone's requests (None) with view_all_requests, else one's own."""
    return None if request.user.has_perm(VIEW_ALL_PERMISSION) else request.user.pk


def access_request_json(r: UserAccessRequest, *, revocation: bool = True) -> dict:
    """One request in the seed's shape. Expects `revocation` to be select_related, unless
    `revocation=False` says the request has none (Active)."""
    revocation = getattr(r, "revocation", None) if revocation else None
    return {
        "id": r.id,
        "requestId": r.request_id,
        "requestorName": r.requestor_name,
        "requestorEmail": r.requestor_email,
        "resourceName": r.resource_name,
        "justification": r.justification,
        "status": r.status,
        "createdAt": r.created_at,
        "expiresOn": r.expires_on,
        "revokedDt": revocation.revoked_dt if revocation else None,
        "revokedBy": revocation.revoked_by if revocation else None,
    }


@api_view("GET", "POST")
def access_requests(request: HttpRequest) -> JsonResponse:
    """GET lists, POST creates: the seed serves both on one path."""
    if request.method == "POST":
        return _access_request_create(request)
    return _access_request_list(request)


def _access_request_list(request: HttpRequest) -> JsonResponse:
    query = request.GET.copy()
    if "search" in query:
        query["q"] = query["search"]
    form = RequestListForm(query)
    errors = {} if form.is_valid() else {name: list(messages) for name, messages in form.errors.items()}
    page_no, page_size = page_params(request, errors)
    if errors:
        return json_error("Invalid query parameters.", status=400, errors=errors)
    filters = dataclasses.replace(form.filters(), requester_id=_requester_id(request))
    if request.GET.get("format") == "csv":  # every page, streamed
        queryset = selectors.access_request_filtered(filters=filters, now=db_now())
        return exports.access_requests_csv(queryset, filename="access-requests.csv")
    page = selectors.access_request_list(
        filters=filters, now=db_now(), page=page_no, per_page=page_size, clamp=False
    )
    return paged_json(request, page, access_request_json)


def _bound_form(form_class, data: dict, fields: dict[str, str]):
    """(the form bound to the camelCase `fields` of `data`, errors as camelCase field →
    messages). A duration may be a number; every other value must be a string."""
    form_data, errors = {}, {}
    for camel, name in fields.items():
        value = data.get(camel)
        if value is None:
            continue
        if camel == "duration" and isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            errors[camel] = ["Must be a string."]
            continue
        form_data[name] = value
    form = form_class(form_data)
    if not form.is_valid() or errors:
        names = {form_name: camel for camel, form_name in fields.items()}
        for name, messages in form.errors.items():
            errors.setdefault(names.get(name, name), list(messages))
    return form, errors


def _access_request_create(request: HttpRequest) -> JsonResponse:
    """429 past CREATE_REQUEST_RATE (every attempt counts), before the body is read."""
    if exceeded := throttle.create_rate_check(request):
        return json_error(exceeded.message, status=429, Retry_After=str(exceeded.retry_after))
    return _access_request_create_json(request)


@json_body
def _access_request_create_json(request: HttpRequest) -> JsonResponse:
    if request.user.has_perm(CREATE_FOR_OTHERS_PERMISSION):
        form, errors = _bound_form(AccessRequestForm, request.json, CREATE_FIELDS)
    else:
        form, errors = _bound_form(OwnAccessRequestForm, request.json, OWN_CREATE_FIELDS)
    if errors:
        return json_error("The request has invalid fields.", status=400, errors=errors)
    try:
        obj = services.access_request_create_by(user=request.user, **form.cleaned_data)
    except services.AccountHasNoEmail as exc:
        return json_error(str(exc), status=403)
    except ValueError as exc:
        return json_error("The request has invalid fields.", status=400, errors={"customDate": [str(exc)]})
    return JsonResponse(access_request_json(obj), status=201)


EXTEND_FIELDS = {"duration": "duration", "customDate": "custom_date", "reason": "reason"}
REVOKE_FIELDS = {"reason": "reason"}
CHANGE_DENIED = "You do not have permission to change access requests."


def _change(
    request: HttpRequest, request_id: str, *, form_class, fields: dict, change, actor: str
) -> JsonResponse:
    """A JSON change to one request: 200 with the request; 400 field errors, 404 unknown id,
    409 not Active. Nothing changes on an error."""
    if not UserAccessRequest.objects.filter(request_id=request_id).exists():
        return json_error(f"No access request {request_id}.", status=404)
    form, errors = _bound_form(form_class, request.json, fields)
    if errors:
        return json_error("The request has invalid fields.", status=400, errors=errors)
    try:
        obj = change(request_id=request_id, **{actor: request.user.get_username()}, **form.cleaned_data)
    except services.AccessRequestNotActive as exc:
        return json_error(str(exc), status=409)
    except UserAccessRequest.DoesNotExist:
        return json_error(f"No access request {request_id}.", status=404)
    except ValueError as exc:  # the database clock passed a custom date the form accepted
        return json_error("The request has invalid fields.", status=400, errors={"customDate": [str(exc)]})
    obj = UserAccessRequest.objects.select_related("revocation").get(pk=obj.pk)
    return JsonResponse(access_request_json(obj))


@api_view("POST")
@api_permission(CHANGE_PERMISSION, CHANGE_DENIED)
@json_body
def access_request_extend(request: HttpRequest, request_id: str) -> JsonResponse:
    """POST {"duration", "customDate", "reason"} → 200 with the extended request."""
    return _change(
        request,
        request_id,
        form_class=ExtendForm,
        fields=EXTEND_FIELDS,
        change=services.access_request_extend,
        actor="extended_by",
    )


@api_view("POST")
@api_permission(CHANGE_PERMISSION, CHANGE_DENIED)
@json_body
def access_request_revoke(request: HttpRequest, request_id: str) -> JsonResponse:
    """POST {"reason"} → 200 with the revoked request; 409 when it is already Revoked."""
    return _change(
        request,
        request_id,
        form_class=RevokeForm,
        fields=REVOKE_FIELDS,
        change=services.access_request_revoke,
        actor="revoked_by",
    )


@api_view("GET")
def pending_expiry(request: HttpRequest) -> JsonResponse:
    """Active requests whose Expires_On has passed at the database's now, most overdue first."""
    errors = {}
    page_no, page_size = page_params(request, errors)
    if errors:
        return json_error("Invalid query parameters.", status=400, errors=errors)
    page = selectors.access_request_pending_expiry_list(
        now=db_now(), page=page_no, per_page=page_size, clamp=False, requester_id=_requester_id(request)
    )
    return paged_json(request, page, lambda r: access_request_json(r, revocation=False))


def csrf_failure(request: HttpRequest, reason: str = ""):
    """CSRF_FAILURE_VIEW: JSON for the API (401 when there is no session at all: logging in
    comes first; 403 otherwise), Django's page elsewhere."""
    if request.path.startswith("/api/"):
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return json_error("Authentication required.", status=401)
        return json_error(
            f"CSRF verification failed: {reason} Send the csrftoken cookie's value in the X-CSRFToken header.",
            status=403,
        )
    return default_csrf_failure(request, reason=reason)
