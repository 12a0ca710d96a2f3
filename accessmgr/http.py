"""What the JSON APIs of both apps share: the error body {"message", "errors"?}, the
decorators that check a call's method, permission and JSON body before the view runs
(stack them: @api_view("POST") @api_permission(...) @json_body), the one parser of
page numbers and sizes in query strings, the one way to take a page of a Paginator
(page_get: the pages clamp, the APIs answer an empty page past the end), and the one paged JSON list (a JSON array of one
page, ?page= and ?pageSize=, with X-Total-Count, X-Page, X-Page-Size, X-Total-Pages and Link).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import wraps
from urllib.parse import urlencode

from django.core.exceptions import RequestDataTooBig
from django.core.paginator import EmptyPage, Page, Paginator
from django.http import HttpRequest, JsonResponse

API_PAGE_SIZE = 100
API_MAX_PAGE_SIZE = 500


def json_error(message: str, *, status: int, errors: dict | None = None, **headers) -> JsonResponse:
    body = {"message": message}
    if errors is not None:
        body["errors"] = errors
    response = JsonResponse(body, status=status)
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


def method_not_allowed(*allowed: str) -> JsonResponse:
    """405 with the Allow header, for a JSON endpoint called with another method."""
    return json_error(f"Method not allowed. Use {', '.join(allowed)}.", status=405, Allow=", ".join(allowed))


def api_view(*methods: str):
    """Only `methods` reach the view; any other gets a JSON 405 with Allow. GET allows HEAD."""
    allowed = tuple(m for method in methods for m in ((method, "HEAD") if method == "GET" else (method,)))

    def decorator(view):
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs):
            if request.method not in allowed:
                return method_not_allowed(*allowed)
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def api_permission(perm: str, message: str):
    """A JSON 403 {message} unless the user has `perm` ("app_label.codename")."""

    def decorator(view):
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs):
            if not request.user.has_perm(perm):
                return json_error(message, status=403)
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def json_body(view):
    """Parses the body into `request.json` (a dict) before the view runs. Otherwise a JSON
    415 (not application/json), 413 (over DATA_UPLOAD_MAX_MEMORY_SIZE) or 400 (malformed,
    nested too deeply, or not an object)."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs):
        if request.content_type != "application/json":
            return json_error(
                "Send the request as JSON with Content-Type: application/json.",
                status=415,
                Accept_Post="application/json",
            )
        try:
            body = request.body
        except RequestDataTooBig:
            return json_error("The request body is too large.", status=413)
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            return json_error(f"Malformed JSON: {exc}", status=400)
        except RecursionError:
            return json_error("Malformed JSON: nested too deeply.", status=400)
        if not isinstance(data, dict):
            return json_error("The JSON body must be an object.", status=400)
        request.json = data
        return view(request, *args, **kwargs)

    return wrapper


def page_number(raw: str | None, *, default: int = 1, maximum: int | None = None) -> int:
    """The whole number from 1 (to `maximum`) in a query-string value; `default` when it is
    absent or empty. Raises ValueError, its message fit for an API's `errors`."""
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1 or (maximum is not None and value > maximum):
        limit = f"1 to {maximum}" if maximum else "1 or more"
        raise ValueError(f"Must be a whole number from {limit}.")
    return value


def page_number_or_first(raw: str | None) -> int:
    """For pages (not APIs): a number page_number rejects is the first page."""
    try:
        return page_number(raw)
    except ValueError:
        return 1


def page_params(request: HttpRequest, errors: dict) -> tuple[int, int]:
    """An API list's ?page= and ?pageSize= (default API_PAGE_SIZE, at most API_MAX_PAGE_SIZE);
    a bad one is added to `errors` (parameter → messages) and its default returned."""
    values = []
    for name, default, maximum in (("page", 1, None), ("pageSize", API_PAGE_SIZE, API_MAX_PAGE_SIZE)):
        try:
            values.append(page_number(request.GET.get(name), default=default, maximum=maximum))
        except ValueError as exc:
            errors[name] = [str(exc)]
            values.append(default)
    return values[0], values[1]


def page_get(paginator: Paginator, number: int, *, clamp: bool) -> Page:
    """Page `number` of any Paginator (a list too); past the end the last page (clamp) or an
    empty one numbered `number` (the APIs)."""
    if clamp:
        return paginator.get_page(number)
    try:
        return paginator.page(number)
    except EmptyPage:
        return Page([], number, paginator)


def paged_json(request: HttpRequest, page: Page, row_json: Callable) -> JsonResponse:
    """The page's rows (each through `row_json`) as a JSON array; the totals and the Link
    header (the request's query string with the next and previous page) as headers."""
    response = JsonResponse([row_json(row) for row in page.object_list], safe=False)
    num_pages = page.paginator.num_pages
    response["X-Total-Count"] = str(page.paginator.count)
    response["X-Page"] = str(page.number)
    response["X-Page-Size"] = str(page.paginator.per_page)
    response["X-Total-Pages"] = str(num_pages)
    links = []
    params = request.GET.copy()
    if page.number < num_pages:
        params["page"] = str(page.number + 1)
        links.append(f'<{request.path}?{urlencode(params, doseq=True)}>; rel="next"')
    if 1 < page.number <= num_pages:
        params["page"] = str(page.number - 1)
        links.append(f'<{request.path}?{urlencode(params, doseq=True)}>; rel="prev"')
    if links:
        response["Link"] = ", ".join(links)
    return response
