"""JSON answers shared by the two apps' APIs: every error is {"message": ..., "errors"?: ...}."""

from django.http import JsonResponse


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
