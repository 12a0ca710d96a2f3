"""Single sign-on with OpenID Connect: mozilla-django-oidc's code flow (with PKCE and a
nonce), configured from OIDC_ISSUER's discovery document, with the identity token checked
for signature, issuer, audience and expiry. A refused login goes back to the login page
with the reason and no session.

The endpoints are read from `{OIDC_ISSUER}/.well-known/openid-configuration` on first use
(cached per process); a setting of mozilla-django-oidc's name (OIDC_OP_TOKEN_ENDPOINT, …)
overrides one. Users are matched by the email claim (OIDC_EMAIL_CLAIM) and created on first
login; with OIDC_GROUPS_CLAIM set, the groups decide staff status and the job permissions
at every login.
"""

import logging
from functools import cache

import jwt
import requests
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.models import Permission
from django.core.exceptions import SuspiciousOperation
from django.http import Http404
from django.shortcuts import redirect
from django.utils.decorators import method_decorator
from mozilla_django_oidc.auth import OIDCAuthenticationBackend, default_username_algo
from mozilla_django_oidc.utils import import_from_settings
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

logger = logging.getLogger("accessmgr.sso")

# mozilla-django-oidc's setting → the discovery document's key
DISCOVERED = {
    "OIDC_OP_AUTHORIZATION_ENDPOINT": "authorization_endpoint",
    "OIDC_OP_TOKEN_ENDPOINT": "token_endpoint",
    "OIDC_OP_USER_ENDPOINT": "userinfo_endpoint",
    "OIDC_OP_JWKS_ENDPOINT": "jwks_uri",
}
# jobs permission codename → the setting listing the groups that grant it
JOB_PERMISSION_GROUPS = {
    "run_revoke_job": "OIDC_REVOKE_JOB_GROUPS",
    "run_notification_job": "OIDC_NOTIFICATION_JOB_GROUPS",
}


class SsoRefused(Exception):
    """A login the app refuses; the message is for the person logging in."""


@cache
def discovery(issuer: str) -> dict:
    """The provider's discovery document. Raises SsoRefused when it cannot be read or names
    another issuer (failures are not cached: the next login tries again)."""
    url = f"{issuer}/.well-known/openid-configuration"
    try:
        response = requests.get(url, timeout=settings.OIDC_TIMEOUT)
        response.raise_for_status()
        document = response.json()
    except (requests.RequestException, ValueError) as exc:
        logger.warning("OIDC discovery failed", extra={"url": url, "error": str(exc)})
        raise SsoRefused("the identity provider cannot be reached. Try again later.") from None
    if str(document.get("issuer", "")).rstrip("/") != issuer:
        logger.warning("OIDC discovery names another issuer", extra={"issuer": document.get("issuer")})
        raise SsoRefused("the identity provider is misconfigured (its issuer does not match).")
    return document


def oidc_setting(name: str, *default):
    """mozilla-django-oidc's get_settings: an explicit setting, else the discovery document."""
    explicit = getattr(settings, name, None)
    if explicit is None and name in DISCOVERED:
        return discovery(settings.OIDC_ISSUER)[DISCOVERED[name]]
    return import_from_settings(name, *default)


def sso_failed(request, reason: str):
    messages.error(request, f"Single sign-on failed: {reason}")
    return redirect(settings.LOGIN_URL)


@method_decorator(login_not_required, name="dispatch")
class AuthenticateView(OIDCAuthenticationRequestView):
    """GET /oidc/authenticate/: to the provider's login, with state, nonce and PKCE in the session."""

    get_settings = staticmethod(oidc_setting)

    def __init__(self, **kwargs):  # the provider is asked on GET, not when the view is built
        super(OIDCAuthenticationRequestView, self).__init__(**kwargs)
        self.OIDC_RP_CLIENT_ID = settings.OIDC_RP_CLIENT_ID

    def get(self, request):
        if not settings.SSO_ENABLED:
            raise Http404("Single sign-on is not configured.")
        try:
            self.OIDC_OP_AUTH_ENDPOINT = oidc_setting("OIDC_OP_AUTHORIZATION_ENDPOINT")
        except SsoRefused as refused:
            return sso_failed(request, str(refused))
        return super().get(request)


@method_decorator(login_not_required, name="dispatch")
class CallbackView(OIDCAuthenticationCallbackView):
    """GET /oidc/callback/: the provider's answer; logs in, or back to the login page with why."""

    get_settings = staticmethod(oidc_setting)

    def get(self, request):
        if not settings.SSO_ENABLED:
            raise Http404("Single sign-on is not configured.")
        try:
            return super().get(request)
        except SuspiciousOperation:  # a state this session never sent: a replayed or forged answer
            request.sso_refused = "the answer does not belong to this browser's login. Start again."
            return self.login_failure()

    def login_failure(self):
        reason = getattr(self.request, "sso_refused", None)
        if reason is None and self.request.GET.get("error"):
            reason = f"the identity provider answered {self.request.GET['error'][:100]!r}."
        return sso_failed(self.request, reason or "the login could not be completed.")


class OidcBackend(OIDCAuthenticationBackend):
    """Authenticates the SSO callback only (request, nonce, code_verifier); None otherwise."""

    get_settings = staticmethod(oidc_setting)

    def __init__(self):  # built for every authenticate() and session lookup: ask no provider here
        self.OIDC_RP_CLIENT_ID = settings.OIDC_RP_CLIENT_ID
        self.OIDC_RP_CLIENT_SECRET = settings.OIDC_RP_CLIENT_SECRET
        self.OIDC_RP_SIGN_ALGO = settings.OIDC_RP_SIGN_ALGO
        self.OIDC_RP_IDP_SIGN_KEY = None
        from django.contrib.auth import get_user_model

        self.UserModel = get_user_model()

    def authenticate(self, request, **kwargs):
        if request is None or "nonce" not in kwargs or not settings.SSO_ENABLED:
            return None
        try:
            self.OIDC_OP_TOKEN_ENDPOINT = oidc_setting("OIDC_OP_TOKEN_ENDPOINT")
            self.OIDC_OP_USER_ENDPOINT = oidc_setting("OIDC_OP_USER_ENDPOINT")
            self.OIDC_OP_JWKS_ENDPOINT = oidc_setting("OIDC_OP_JWKS_ENDPOINT")
            return super().authenticate(request, **kwargs)
        except SsoRefused as refused:
            logger.warning("SSO login refused", extra={"reason": str(refused)})
            request.sso_refused = str(refused)
        except (SuspiciousOperation, requests.RequestException, jwt.InvalidTokenError, ValueError) as exc:
            logger.warning("SSO login failed", extra={"error": str(exc)})
            request.sso_refused = "the identity provider's answer could not be used."
        return None

    def _verify_jws(self, payload, key):
        try:
            return jwt.decode(
                payload,
                key,
                algorithms=[self.OIDC_RP_SIGN_ALGO],
                audience=self.OIDC_RP_CLIENT_ID,
                issuer=settings.OIDC_ISSUER,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise SsoRefused("the identity token has expired. Log in again.") from None
        except jwt.InvalidIssuerError:
            raise SsoRefused("the identity token comes from another issuer.") from None
        except jwt.InvalidSignatureError:
            raise SsoRefused("the identity token's signature is not valid.") from None
        except jwt.InvalidTokenError as exc:
            raise SsoRefused(f"the identity token is not valid ({exc}).") from None

    def retrieve_matching_jwk(self, token):
        """The provider's signing key for `token`: the one with its key id, or with none given
        (some providers send none), the only key for its algorithm."""
        response = requests.get(self.OIDC_OP_JWKS_ENDPOINT, timeout=settings.OIDC_TIMEOUT)
        response.raise_for_status()
        header = jwt.get_unverified_header(token)
        keys = [
            key
            for key in response.json().get("keys", [])
            if key.get("alg", header.get("alg")) == header.get("alg") and key.get("use", "sig") == "sig"
        ]
        if "kid" in header:
            keys = [key for key in keys if key.get("kid") == header["kid"]]
        if len(keys) != 1:
            raise SsoRefused("the identity token's signature is not valid (unknown signing key).")
        return jwt.PyJWK(keys[0])

    def _email(self, claims: dict) -> str:
        email = claims.get(settings.OIDC_EMAIL_CLAIM)
        return email.strip() if isinstance(email, str) else ""

    def verify_claims(self, claims):
        email = self._email(claims)
        if "@" not in email:
            raise SsoRefused(
                f"the identity provider sent no email address (claim {settings.OIDC_EMAIL_CLAIM!r})."
            )
        if claims.get("email_verified") is False:
            raise SsoRefused("the identity provider has not verified this email address.")
        return True

    def filter_users_by_claims(self, claims):
        return self.UserModel.objects.filter(email__iexact=self._email(claims))

    def create_user(self, claims):
        email = self._email(claims)
        username = email if len(email) <= 150 else default_username_algo(email)
        if self.UserModel.objects.filter(username=username).exists():
            username = default_username_algo(email)
        user = self.UserModel.objects.create_user(username, email=email)
        return self.update_user(user, claims)

    def update_user(self, user, claims):
        """With OIDC_GROUPS_CLAIM, the groups set staff status and the two job permissions; a
        user in a job group may also view all requests (the job pages list everyone's)."""
        if not settings.OIDC_GROUPS_CLAIM:
            return user
        groups = claims.get(settings.OIDC_GROUPS_CLAIM) or []
        groups = {groups} if isinstance(groups, str) else {str(g) for g in groups}
        is_staff = user.is_superuser or bool(groups & set(settings.OIDC_STAFF_GROUPS))
        if user.is_staff != is_staff:
            user.is_staff = is_staff
            user.save(update_fields=["is_staff"])
        in_job_group = False
        for codename, setting in JOB_PERMISSION_GROUPS.items():
            permission = Permission.objects.get(content_type__app_label="jobs", codename=codename)
            if groups & set(getattr(settings, setting)):
                user.user_permissions.add(permission)
                in_job_group = True
            else:
                user.user_permissions.remove(permission)
        view_all = Permission.objects.get(
            content_type__app_label="requests_app", codename="view_all_requests"
        )
        if in_job_group:
            user.user_permissions.add(view_all)
        else:
            user.user_permissions.remove(view_all)
        return user
