from django.urls import path

from notifications_app.api import NotificationListApi

urlpatterns = [
    path("notifications/", NotificationListApi.as_view(), name="notification-list"),
]
