from django.apps import AppConfig
from django.contrib.admin.apps import AdminConfig as DjangoAdminConfig


class AccessmgrConfig(AppConfig):
    """The project package as an app: its deployment checks (accessmgr/checks.py)."""

    name = "accessmgr"
    verbose_name = "accessmgr"

    def ready(self):
        from accessmgr import checks  # noqa: F401 (registers the checks)


class AdminConfig(DjangoAdminConfig):
    default_site = "accessmgr.admin.AdminSite"
