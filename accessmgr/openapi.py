"""GET /api/openapi.json: docs/openapi.yaml (the JSON API's OpenAPI 3 description) as JSON."""

from functools import cache

import yaml
from django.conf import settings
from django.http import JsonResponse

from accessmgr.http import method_not_allowed

OPENAPI_YAML = settings.BASE_DIR / "docs" / "openapi.yaml"


@cache
def openapi_document() -> dict:
    return yaml.safe_load(OPENAPI_YAML.read_text(encoding="utf-8"))


def openapi_json(request):
    if request.method not in ("GET", "HEAD"):
        return method_not_allowed("GET", "HEAD")
    return JsonResponse(openapi_document())
