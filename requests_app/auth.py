"""Who may extend and revoke requests by hand: users given requests_app.change_useraccessrequest
(in the admin, directly or through a group), and every active staff user."""

from django.contrib.auth.backends import BaseBackend

CHANGE_PERMISSION = "requests_app.change_useraccessrequest"


class StaffChangesRequestsBackend(BaseBackend):
    """Grants the change permission on requests to active staff users; authenticates nobody."""

    def has_perm(self, user_obj, perm, obj=None) -> bool:
        return perm == CHANGE_PERMISSION and user_obj.is_active and user_obj.is_staff
