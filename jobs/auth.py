"""Who may run the jobs: users given a job's run permission (in the admin, directly or
through a group), and every active staff user."""

from django.contrib.auth.backends import BaseBackend

from jobs.models import JOB_MODELS

JOB_PERMISSIONS = frozenset(model.run_permission for model in JOB_MODELS.values())


class StaffRunsJobsBackend(BaseBackend):
    """Grants the two job permissions to active staff users; authenticates nobody."""

    def has_perm(self, user_obj, perm, obj=None) -> bool:
        return perm in JOB_PERMISSIONS and user_obj.is_active and user_obj.is_staff
