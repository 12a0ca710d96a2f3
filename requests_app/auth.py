"""What staff may do with requests beyond their own: every active staff user has the three
permissions below; anyone else only when given them in the admin (directly or through a group).
Without them a user creates requests for themself and sees only their own (My Access)."""

from django.contrib.auth.backends import BaseBackend
from django.contrib.auth.decorators import permission_required

CHANGE_PERMISSION = "requests_app.change_useraccessrequest"  # extend and revoke by hand
CREATE_FOR_OTHERS_PERMISSION = "requests_app.create_for_others"  # any requestor name and email
VIEW_ALL_PERMISSION = "requests_app.view_all_requests"  # every request, the lists and the job pages
STAFF_PERMISSIONS = frozenset({CHANGE_PERMISSION, CREATE_FOR_OTHERS_PERMISSION, VIEW_ALL_PERMISSION})


class StaffRequestsBackend(BaseBackend):
    """Grants STAFF_PERMISSIONS to active staff users; authenticates nobody."""

    def has_perm(self, user_obj, perm, obj=None) -> bool:
        return perm in STAFF_PERMISSIONS and user_obj.is_active and user_obj.is_staff


# Pages other than My Access, Create Request and one's own request page (every list, the
# exports, the job pages, Deliveries): 403 (templates/403.html) without VIEW_ALL_PERMISSION.
view_all_required = permission_required(VIEW_ALL_PERMISSION, raise_exception=True)


def request_page_scope(user) -> int | None:
    """Whose request pages `user` may see: every one (None) with VIEW_ALL_PERMISSION or
    CHANGE_PERMISSION (who may change a request sees it), else only their own (their id)."""
    if user.has_perm(VIEW_ALL_PERMISSION) or user.has_perm(CHANGE_PERMISSION):
        return None
    return user.pk
