from django.urls import path

from webhooks import views

app_name = "webhooks"

urlpatterns = [
    path("webhooks/deliveries/", views.deliveries, name="deliveries"),
    path("webhooks/deliveries/<int:delivery_id>/retry/", views.retry, name="retry"),
    path("webhooks/endpoints/<int:endpoint_id>/test/", views.send_test, name="send_test"),
]
