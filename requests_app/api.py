"""JSON API for access requests, with the seed's paths and camelCase field names.

GET  /api/access-requests                 all requests with their revocation, newest first
POST /api/access-requests                 create one (JSON body) → 201 with the created request
GET  /api/access-requests/pending-expiry  Active requests whose Expires_On has passed
POST /api/access-requests/<requestId>/extend  {"duration", "customDate", "reason"} → 200 with the request
POST /api/access-requests/<requestId>/revoke  {"reason"} → 200 with the request; 409 when not Active

Lists are JSON arrays, as in the seed, bounded by pages: ?page=1&pageSize=100 (at most
500 a page). The totals travel in headers: X-Total-Count, X-Page, X-Page-Size,
X-Total-Pages, and a Link header with rel="next" / rel="prev".
Errors are {"message": ..., "errors": {field: [messages]}} with 400, 403, 405, 413 or 415.
"""

from __future__ import annotations

import json
from urllib.parse import urlencode

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, JsonResponse
from django.views.csrf import csrf_failure as default_csrf_failure

from accessmgr.db import db_now
from accessmgr.http import json_error, method_not_allowed
from requests_app import exports, selectors, services
from requests_app.auth import CHANGE_PERMISSION
from requests_app.forms import AccessRequestForm, ExtendForm, RevokeForm
from requests_app.models import UserAccessRequest

API_PAGE_SIZE = 100
API_MAX_PAGE_SIZE = 500

# camelCase (the seed's JSON) → the form's field names
CREATE_FIELDS = {
    "requestorName": "requestor_name",
    "requestorEmail": "requestor_email",
    "resourceName": "resource_name",
    "justification": "justification",
    "duration": "duration",
    "customDate": "custom_date",
}


def access_request_json(r: UserAccessRequest) -> dict:
    """One request in the seed's shape. Expects `revocation` to be select_related."""
    revocation = getattr(r, "revocation", None)
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


def _page_params(request: HttpRequest) -> tuple[int, int, dict]:
    errors: dict[str, list[str]] = {}
    values = {}
    for name, default, maximum in (("page", 1, None), ("pageSize", API_PAGE_SIZE, API_MAX_PAGE_SIZE)):
        raw = request.GET.get(name, "")
        try:
            value = int(raw) if raw != "" else default
        except ValueError:
            value = None
        if value is None or value < 1 or (maximum and value > maximum):
            limit = f"1 to {maximum}" if maximum else "1 or more"
            errors[name] = [f"Must be a whole number from {limit}."]
        values[name] = value
    return values["page"], values["pageSize"], errors


def _paged_response(request: HttpRequest, page: selectors.RequestPage) -> JsonResponse:
    response = JsonResponse([access_request_json(r) for r in page.rows], safe=False)
    response["X-Total-Count"] = str(page.total)
    response["X-Page"] = str(page.number)
    response["X-Page-Size"] = str(page.per_page)
    response["X-Total-Pages"] = str(page.num_pages)
    links = []
    params = request.GET.copy()
    if page.number < page.num_pages:
        params["page"] = str(page.number + 1)
        links.append(f'<{request.path}?{urlencode(params, doseq=True)}>; rel="next"')
    if 1 < page.number <= page.num_pages:
        params["page"] = str(page.number - 1)
        links.append(f'<{request.path}?{urlencode(params, doseq=True)}>; rel="prev"')
    if links:
        response["Link"] = ", ".join(links)
    return response


def access_requests(request: HttpRequest) -> JsonResponse:
    """GET lists, POST creates: the seed serves both on one path."""
    if request.method in ("GET", "HEAD"):
        return _access_request_list(request)
    if request.method == "POST":
        return _access_request_create(request)
    return method_not_allowed("GET", "HEAD", "POST")


def _access_request_list(request: HttpRequest) -> JsonResponse:
    page_no, page_size, errors = _page_params(request)
    status = request.GET.get("status", "")
    if status not in ("", *selectors.STATUSES):
        errors["status"] = [f"Must be one of: {', '.join(selectors.STATUSES)}."]
    if errors:
        return json_error("Invalid query parameters.", status=400, errors=errors)
    search = request.GET.get("search", request.GET.get("q", ""))
    if request.GET.get("format") == "csv":  # every page, streamed
        queryset = selectors.access_request_filtered(search=search, status=status or None)
        return exports.access_requests_csv(queryset, filename="access-requests.csv")
    page = selectors.access_request_list(
        status=status or None, search=search, page=page_no, per_page=page_size, clamp=False
    )
    return _paged_response(request, page)


def _json_object(request: HttpRequest) -> tuple[dict | None, JsonResponse | None]:
    """(the JSON object of the body, None) or (None, the 415 / 413 / 400 answer)."""
    if request.content_type != "application/json":
        return None, json_error(
            "Send the request as JSON with Content-Type: application/json.",
            status=415,
            Accept_Post="application/json",
        )
    try:
        body = request.body
    except RequestDataTooBig:
        return None, json_error("The request body is too large.", status=413)
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        return None, json_error(f"Malformed JSON: {exc}", status=400)
    if not isinstance(data, dict):
        return None, json_error("The JSON body must be an object with the request's fields.", status=400)
    return data, None


def _bound_form(form_class, data: dict, fields: dict[str, str]):
    """(the form bound to the camelCase `fields` of `data`, errors as camelCase field → messages).
    A duration may be a number; every other value must be a string."""
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
    data, refused = _json_object(request)
    if refused:
        return refused
    form, errors = _bound_form(AccessRequestForm, data, CREATE_FIELDS)
    if errors:
        return json_error("The request has invalid fields.", status=400, errors=errors)
    try:
        obj = services.access_request_create(**form.cleaned_data, created_by=request.user.get_username())
    except ValueError as exc:
        return json_error("The request has invalid fields.", status=400, errors={"customDate": [str(exc)]})
    return JsonResponse(access_request_json(obj), status=201)


EXTEND_FIELDS = {"duration": "duration", "customDate": "custom_date", "reason": "reason"}
REVOKE_FIELDS = {"reason": "reason"}


def _change(
    request: HttpRequest, request_id: str, *, form_class, fields: dict, change, actor: str
) -> JsonResponse:
    """POST a JSON change to one request: 200 with the request; 400 field errors, 403
    without the change permission, 404 unknown id, 409 not Active. Nothing changes on an error."""
    if request.method != "POST":
        return method_not_allowed("POST")
    if not request.user.has_perm(CHANGE_PERMISSION):
        return json_error("You do not have permission to change access requests.", status=403)
    if not UserAccessRequest.objects.filter(request_id=request_id).exists():
        return json_error(f"No access request {request_id}.", status=404)
    data, refused = _json_object(request)
    if refused:
        return refused
    form, errors = _bound_form(form_class, data, fields)
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


def pending_expiry(request: HttpRequest) -> JsonResponse:
    """Active requests whose Expires_On has passed at the database's now, most overdue first."""
    if request.method not in ("GET", "HEAD"):
        return method_not_allowed("GET", "HEAD")
    page_no, page_size, errors = _page_params(request)
    if errors:
        return json_error("Invalid query parameters.", status=400, errors=errors)
    page = selectors.access_request_pending_expiry_list(
        now=db_now(), page=page_no, per_page=page_size, clamp=False
    )
    return _paged_response(request, page)


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
