from django.urls import path

from audit_app.api import AuditLogExportApi, AuditLogListApi

urlpatterns = [
    path("audit/", AuditLogListApi.as_view(), name="audit-log-list"),
    path("audit/export/", AuditLogExportApi.as_view(), name="audit-log-export"),
]
