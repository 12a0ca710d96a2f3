"""Deployment checks, shown by `manage.py check --deploy`."""

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register
from django.db import DatabaseError


@register(Tags.security, deploy=True)
def demo_user_check(app_configs=None, **kwargs):
    """With DEBUG off, the demo user (demo/demo, created by `make run`) must not exist."""
    if settings.DEBUG:
        return []
    from django.contrib.auth.models import User

    from requests_app.management.commands.seed_demo import DEMO_USERNAME

    try:
        exists = User.objects.filter(username=DEMO_USERNAME).exists()
    except DatabaseError:  # no database yet (a check before the first migrate): nothing to find
        return []
    if not exists:
        return []
    return [
        Error(
            f"The demo user {DEMO_USERNAME!r} exists and DEBUG is off: anyone can log in with its "
            "well-known password.",
            hint=f'Delete it in the admin or with `manage.py shell -c "from django.contrib.auth.models '
            f"import User; User.objects.filter(username='{DEMO_USERNAME}').delete()\"`.",
            id="accessmgr.E001",
        )
    ]


@register(Tags.security, deploy=True)
def test_mode_check(app_configs=None, **kwargs):
    if settings.TEST_MODE and not settings.DEBUG:
        return [
            Warning(
                "TEST_MODE is on with DEBUG off: anyone allowed to run the notification job can "
                "simulate email failures (simulateFailures, failEmail).",
                hint="Unset TEST_MODE (it defaults to off when DEBUG is off).",
                id="accessmgr.W001",
            )
        ]
    return []
