"""The answer to an error no view handled (urls.handler500). A database that cannot be
reached (connection refused, reset or lost, no pooled connection in time) is 503: JSON
{"message"} on /api/, a styled page elsewhere. Any other error stays a 500, JSON on /api/."""

import sys

from django.db import InterfaceError, OperationalError
from django.http import HttpResponse
from django.template import loader
from django.views import defaults

from accessmgr.http import json_error

DATABASE_UNAVAILABLE = "The database is unavailable. Try again in a moment."


def database_unavailable(exc: BaseException | None) -> bool:
    return isinstance(exc, OperationalError | InterfaceError)


def server_error(request):
    """handler500: Django calls it inside its `except`, so sys.exc_info() is the error."""
    api = request.path.startswith("/api/")
    if database_unavailable(sys.exc_info()[1]):
        if api:
            return json_error(DATABASE_UNAVAILABLE, status=503)
        # Without the request: its context would read the session, the user and the
        # messages, all from the database that is away.
        return HttpResponse(loader.render_to_string("503.html"), status=503)
    if api:
        return json_error("Internal server error.", status=500)
    return defaults.server_error(request)
