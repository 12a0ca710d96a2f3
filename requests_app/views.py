"""The three request pages. Each parses its input, calls one selector or service, renders."""

from urllib.parse import quote

from django.conf import settings
from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from accessmgr.db import db_now
from requests_app import selectors, services
from requests_app.forms import AccessRequestForm


def page_number(raw: str | None) -> int:
    """A page number from the query string; anything that is not a positive whole number is 1."""
    try:
        return max(1, int(raw or 1))
    except (TypeError, ValueError):
        return 1


@require_http_methods(["GET", "HEAD"])
def all_requests(request):
    status = request.GET.get("status", "")
    bad_status = status not in ("", *selectors.STATUSES)
    if bad_status:
        status = ""
    search = selectors.search_clean(request.GET.get("q"))
    page = selectors.access_request_list(
        status=status or None,
        search=search,
        page=page_number(request.GET.get("page")),
        counts_max_age=settings.REQUESTS_COUNTS_CACHE_SECONDS,
    )
    return render(
        request,
        "requests_app/all_requests.html",
        {
            "page": page,
            "status": status,
            "statuses": selectors.STATUSES,
            "bad_status": bad_status,
            "q": search,
            "filter_query": "".join(f"{k}={quote(v)}&" for k, v in (("q", search), ("status", status)) if v),
        },
    )


@require_http_methods(["GET", "HEAD", "POST"])
def create_request(request):
    form = AccessRequestForm(request.POST if request.method == "POST" else None)
    if form.is_bound and form.is_valid():
        try:
            obj = services.access_request_create(**form.cleaned_data)
        except ValueError as exc:  # the database clock passed a custom date the form accepted
            form.add_error("custom_date", str(exc))
        else:
            messages.success(
                request, f"Request {obj.request_id} created for {obj.requestor_email} ({obj.resource_name})."
            )
            return redirect("requests_app:all_requests")
    return render(request, "requests_app/create_request.html", {"form": form})


@require_http_methods(["GET", "HEAD"])
def pending_expiry(request):
    now = db_now()
    page = selectors.access_request_pending_expiry_list(now=now, page=page_number(request.GET.get("page")))
    return render(request, "requests_app/pending_expiry.html", {"page": page, "now": now})
