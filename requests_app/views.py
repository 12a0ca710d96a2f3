"""The request pages. Each parses its input, calls one selector or service, renders."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import Http404, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from accessmgr.db import db_now
from accessmgr.http import page_number_or_first
from requests_app import exports, selectors, services, throttle
from requests_app.auth import (
    CHANGE_PERMISSION,
    CREATE_FOR_OTHERS_PERMISSION,
    VIEW_ALL_PERMISSION,
    request_page_scope,
    view_all_required,
)
from requests_app.forms import (
    AccessRequestForm,
    AuditExportForm,
    ExtendForm,
    OwnAccessRequestForm,
    RequestListForm,
    RevokeForm,
)
from requests_app.models import UserAccessRequest


@require_http_methods(["GET", "HEAD"])
def all_requests(request):
    """Invalid filters are ignored, each with a message; the others still apply. A user who
    may not view all requests is sent to My Access (this is the start page)."""
    if not request.user.has_perm(VIEW_ALL_PERMISSION):
        return redirect("requests_app:my_access")
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


@require_http_methods(["GET", "HEAD"])
def my_access(request):
    """The logged-in user's own requests, newest first, with their expiry and reminders."""
    now = db_now()
    page = selectors.access_request_mine(
        requester_id=request.user.pk, now=now, page=page_number_or_first(request.GET.get("page"))
    )
    return render(request, "requests_app/my_access.html", {"page": page, "now": now})


@require_http_methods(["GET", "HEAD", "POST"])
def create_request(request):
    """For anyone with requests_app.create_for_others; otherwise for oneself (no name or
    email fields). 429 past CREATE_REQUEST_RATE, 403 for an account without an email."""
    for_others = request.user.has_perm(CREATE_FOR_OTHERS_PERMISSION)
    form_class = AccessRequestForm if for_others else OwnAccessRequestForm
    form = form_class(request.POST if request.method == "POST" else None)
    context = {"form": form, "for_others": for_others}
    if not for_others and not request.user.email:
        context["no_email"] = str(services.AccountHasNoEmail())
        return render(
            request, "requests_app/create_request.html", context, status=403 if form.is_bound else 200
        )
    if form.is_bound and (exceeded := throttle.create_rate_check(request)):
        context["refused"] = exceeded.message
        response = render(request, "requests_app/create_request.html", context, status=429)
        response["Retry-After"] = str(exceeded.retry_after)
        return response
    if form.is_bound and form.is_valid():
        try:
            obj = services.access_request_create_by(user=request.user, **form.cleaned_data)
        except ValueError as exc:  # the database clock passed a custom date the form accepted
            form.add_error("custom_date", str(exc))
        else:
            messages.success(
                request, f"Request {obj.request_id} created for {obj.requestor_email} ({obj.resource_name})."
            )
            return redirect("requests_app:all_requests" if for_others else "requests_app:my_access")
    return render(request, "requests_app/create_request.html", context)


@require_http_methods(["GET", "HEAD"])
@view_all_required
def pending_expiry(request):
    now = db_now()
    page = selectors.access_request_pending_expiry_list(
        now=now, page=page_number_or_first(request.GET.get("page"))
    )
    return render(request, "requests_app/pending_expiry.html", {"page": page, "now": now})


# The page has both forms, each with a "reason": the revoke form's ids get their own prefix.
REVOKE_AUTO_ID = "revoke_%s"


def _detail_render(request, request_id: str, *, extend_form=None, revoke_form=None, status: int = 200):
    try:
        detail = selectors.access_request_detail(
            request_id=request_id, requester_id=request_page_scope(request.user)
        )
    except UserAccessRequest.DoesNotExist:  # unknown, or another's: the same answer
        raise Http404(f"No access request {request_id}.") from None
    return render(
        request,
        "requests_app/request_detail.html",
        {
            "detail": detail,
            "r": detail.request,
            "now": db_now(),
            "can_change": request.user.has_perm(CHANGE_PERMISSION),
            "extend_form": extend_form or ExtendForm(initial={"duration": "90"}),
            "revoke_form": revoke_form or RevokeForm(auto_id=REVOKE_AUTO_ID),
        },
        status=status,
    )


@require_http_methods(["GET", "HEAD"])
def request_detail(request, request_id: str):
    return _detail_render(request, request_id)


def _change_post(request, request_id: str, *, form, change, actor: str, done: str, form_name: str):
    """A page POST of Extend or Revoke: redirect to the page with a message, or render it
    again with the form's errors (400) or the refusal (409)."""
    if form.is_valid():
        try:
            change(request_id=request_id, **{actor: request.user.get_username()}, **form.cleaned_data)
        except UserAccessRequest.DoesNotExist:
            raise Http404(f"No access request {request_id}.") from None
        except services.AccessRequestNotActive as exc:
            messages.error(request, str(exc))
            return redirect("requests_app:request_detail", request_id=request_id)
        except ValueError as exc:  # the database clock passed a custom date the form accepted
            form.add_error("custom_date" if "custom_date" in form.fields else None, str(exc))
        else:
            messages.success(request, done)
            return redirect("requests_app:request_detail", request_id=request_id)
    return _detail_render(request, request_id, status=400, **{form_name: form})


@require_POST
@permission_required(CHANGE_PERMISSION, raise_exception=True)
def request_extend(request, request_id: str):
    return _change_post(
        request,
        request_id,
        form=ExtendForm(request.POST),
        change=services.access_request_extend,
        actor="extended_by",
        done=f"Request {request_id} extended.",
        form_name="extend_form",
    )


@require_POST
@permission_required(CHANGE_PERMISSION, raise_exception=True)
def request_revoke(request, request_id: str):
    return _change_post(
        request,
        request_id,
        form=RevokeForm(request.POST, auto_id=REVOKE_AUTO_ID),
        change=services.access_request_revoke,
        actor="revoked_by",
        done=f"Request {request_id} revoked.",
        form_name="revoke_form",
    )


@require_http_methods(["GET", "HEAD"])
@view_all_required
def all_requests_csv(request):
    """All Requests as CSV with the page's filters, search and sort, every page."""
    form = RequestListForm(request.GET)
    if not form.is_valid():
        errors = "; ".join(f"{name}: {' '.join(messages)}" for name, messages in form.errors.items())
        return HttpResponseBadRequest(f"Bad filters ({errors}).", content_type="text/plain")
    queryset = selectors.access_request_filtered(filters=form.filters(), now=db_now())
    return exports.access_requests_csv(queryset, filename="access-requests.csv")


@require_http_methods(["GET", "HEAD"])
@view_all_required
def audit_csv(request):
    """The audit trail as CSV, oldest first: ?from=YYYY-MM-DD&to=YYYY-MM-DD (both optional, inclusive)."""
    form = AuditExportForm({"date_from": request.GET.get("from"), "date_to": request.GET.get("to")})
    if not form.is_valid():
        errors = "; ".join(
            f"{'from' if k == 'date_from' else 'to'}: {' '.join(v)}" for k, v in form.errors.items()
        )
        return HttpResponseBadRequest(
            f"Bad date range ({errors}). Use YYYY-MM-DD.", content_type="text/plain"
        )
    since, until = form.bounds()
    return exports.access_events_csv(
        selectors.access_event_list(since=since, until=until), filename="audit.csv"
    )
