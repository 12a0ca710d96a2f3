from django.apps import AppConfig
from django.db.backends.signals import connection_created


class JobsConfig(AppConfig):
    name = "jobs"
    verbose_name = "Jobs"

    def ready(self):
        from accessmgr.db import connection_session_setup

        # SQL Server's lock timeout on every connection (jobs.dialects.Dialect.session_setup_sql).
        connection_created.connect(connection_session_setup, dispatch_uid="accessmgr.session_setup")
