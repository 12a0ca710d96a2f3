"""Who may run the jobs: users given jobs.run_revoke_job / jobs.run_notification_job (in
the admin, directly or through a group), and every active staff user."""

from django.contrib.auth.backends import BaseBackend

JOB_PERMISSIONS = frozenset({"jobs.run_revoke_job", "jobs.run_notification_job"})


class StaffRunsJobsBackend(BaseBackend):
    """Grants the two job permissions to active staff users; authenticates nobody."""

    def has_perm(self, user_obj, perm, obj=None) -> bool:
        return perm in JOB_PERMISSIONS and user_obj.is_active and user_obj.is_staff
