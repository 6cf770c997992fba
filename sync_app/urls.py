from django.urls import path

from sync_app.views import live_page

urlpatterns = [path("live/", live_page, name="sync-live")]
