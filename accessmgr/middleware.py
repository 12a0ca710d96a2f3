from django.contrib.auth.middleware import LoginRequiredMiddleware
from django.http import JsonResponse


class ApiLoginRequiredMiddleware(LoginRequiredMiddleware):
    """Django's LoginRequiredMiddleware: nothing is anonymous unless marked
    @login_not_required. API paths answer 401 JSON instead of a redirect to login."""

    def handle_no_permission(self, request, view_func):
        if request.path.startswith("/api/"):
            return JsonResponse({"message": "Authentication required."}, status=401)
        return super().handle_no_permission(request, view_func)
