from django.shortcuts import render


def all_requests(request):
    return render(request, "requests_app/all_requests.html", {})


def create_request(request):
    return render(request, "requests_app/create_request.html", {})


def pending_expiry(request):
    return render(request, "requests_app/pending_expiry.html", {})
