from django.http import JsonResponse


def access_requests(request):
    return JsonResponse({"todo": True})


def pending_expiry(request):
    return JsonResponse({"todo": True})
