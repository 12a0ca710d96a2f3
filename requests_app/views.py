"""The three request pages. Each parses its input, calls one selector or service, renders."""

from django.conf import settings
from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from accessmgr.db import db_now
from accessmgr.http import page_number_or_first
from requests_app import selectors, services
from requests_app.forms import AccessRequestForm, RequestListForm


@require_http_methods(["GET", "HEAD"])
def all_requests(request):
    """Invalid filters are ignored, each with a message; the others still apply."""
    form = RequestListForm(request.GET)
    form.is_valid()
    filters = form.filters()
    now = db_now()
    page = selectors.access_request_list(
        filters=filters,
        now=now,
        page=page_number_or_first(request.GET.get("page")),
        counts_max_age=settings.REQUESTS_COUNTS_CACHE_SECONDS,
    )
    query = request.GET.copy()
    query.pop("page", None)
    for name in form.errors:
        query.pop(name, None)
    sorting = query.copy()
    sorting.pop("sort", None)
    return render(
        request,
        "requests_app/all_requests.html",
        {
            "page": page,
            "now": now,
            "filters": filters,
            "form": form,
            "statuses": selectors.STATUSES,
            "filtered": filters != selectors.RequestFilters(sort=filters.sort),
            "query": query.urlencode(),
            "sort_query": sorting.urlencode(),
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
    page = selectors.access_request_pending_expiry_list(
        now=now, page=page_number_or_first(request.GET.get("page"))
    )
    return render(request, "requests_app/pending_expiry.html", {"page": page, "now": now})
