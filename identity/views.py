"""Sign-in pages: password first, then (for staff) a TOTP code. No way around the second step."""

import base64
import io
from collections.abc import Callable
from typing import Any

import qrcode
import qrcode.image.svg
from django.contrib import auth
from django.contrib.auth.signals import user_login_failed
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from core import audit
from core.access import mark, public
from core.errors import NotFound, PermissionDenied
from identity import policy, selectors, services
from identity.choices import Role
from identity.forms import LoginForm, OtpForm
from identity.models import User

PENDING_KEY = "civic_mfa_pending"
PENDING_SECONDS = 300
MAX_OTP_FAILURES = 5


def forbidden(request: HttpRequest, reason: str) -> HttpResponse:
    return render(request, "identity/forbidden.html", {"reason": reason}, status=403)


def page(action: str) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """Guard a staff or citizen page: signed in, then the policy decides.

    The policy is asked whether the user may do `action` for some object; the services
    and selectors the view calls decide for the object at hand, and their NotFound and
    PermissionDenied become a 404 and a 403 page.
    """

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            decision = policy.decide(request.user, action, policy.ANY_OBJECT)
            if not decision.allowed:
                return forbidden(request, decision.reason)
            try:
                return view(request, *args, **kwargs)
            except NotFound as exc:
                raise Http404(exc.detail) from None
            except PermissionDenied as exc:
                return forbidden(request, exc.detail)

        wrapper.__wrapped__ = view  # type: ignore[attr-defined]
        wrapper.__name__ = view.__name__
        return mark(wrapper, "permission", action)

    return decorate


@page("profile.view_own")
def home(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    if user.is_citizen:
        # a citizen's front door is their dashboard: every case at every agency
        return redirect("portal:dashboard")
    roles = [(Role(role).label, agency) for role, agency in selectors.user_roles(user=user)]
    return render(request, "identity/home.html", {"roles": roles})


def _status(form: Any) -> int:
    """A form sent back with errors answers 400, so scripts and tests see the failure."""
    return 400 if form.errors else 200


def _pending_user(request: HttpRequest) -> User | None:
    pending = request.session.get(PENDING_KEY)
    if not pending or pending.get("expires", 0) < timezone.now().timestamp():
        return None
    return User.objects.filter(pk=pending["user_id"], is_active=True).first()


@public("the sign-in page must be reachable before signing in")
@require_http_methods(["GET", "POST"])
def login_view(request: HttpRequest) -> HttpResponse:
    form = LoginForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = auth.authenticate(
            request,
            username=form.cleaned_data["username"],
            password=form.cleaned_data["password"],
        )
        if getattr(request, "axes_locked_out", False):
            return render(request, "identity/locked_out.html", status=429)
        if user is None:
            form.add_error(None, _("The username or password is not right."))
        elif user.needs_mfa:
            # Password accepted; the session is not signed in until the second factor.
            request.session.cycle_key()
            request.session[PENDING_KEY] = {
                "user_id": user.pk,
                "expires": timezone.now().timestamp() + PENDING_SECONDS,
                "failures": 0,
                "next": request.GET.get("next", ""),
            }
            has_device = TOTPDevice.objects.filter(user=user, confirmed=True).exists()
            return redirect("identity:otp_verify" if has_device else "identity:mfa_setup")
        else:
            auth.login(request, user)
            audit.record(actor=user, action="auth.login", target=user)
            return redirect(_safe_next(request, request.GET.get("next", "")))
    return render(request, "identity/login.html", {"form": form}, status=_status(form))


def _safe_next(request: HttpRequest, target: str) -> str:
    from django.utils.http import url_has_allowed_host_and_scheme

    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return "/"


def _finish_staff_login(request: HttpRequest, user: User, device: TOTPDevice) -> HttpResponse:
    target = request.session.get(PENDING_KEY, {}).get("next", "")
    request.session.pop(PENDING_KEY, None)
    auth.login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    otp_login(request, device)
    audit.record(actor=user, action="auth.login", target=user, data={"mfa": "totp"})
    return redirect(_safe_next(request, target))


def _otp_failed(request: HttpRequest, user: User) -> bool:
    """Count a wrong code; after too many the half-finished sign-in is thrown away."""
    pending = request.session.get(PENDING_KEY, {})
    pending["failures"] = pending.get("failures", 0) + 1
    request.session[PENDING_KEY] = pending
    user_login_failed.send(
        sender=__name__, credentials={"username": user.username}, request=request
    )
    audit.record(actor=user, action="auth.mfa_failed", target=user)
    if pending["failures"] >= MAX_OTP_FAILURES:
        request.session.pop(PENDING_KEY, None)
        return True
    return False


@public("second step of sign-in; only a session that passed the password step gets further")
@require_http_methods(["GET", "POST"])
def otp_verify(request: HttpRequest) -> HttpResponse:
    user = _pending_user(request)
    if user is None:
        return redirect("identity:login")
    form = OtpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        code = form.cleaned_data["token"].strip()
        for device in TOTPDevice.objects.filter(user=user, confirmed=True):
            if device.verify_token(code):
                return _finish_staff_login(request, user, device)
        if _otp_failed(request, user):
            return redirect("identity:login")
        form.add_error("token", _("That code is not right, or it has expired. Try the new one."))
    return render(request, "identity/otp_verify.html", {"form": form}, status=_status(form))


def _qr_svg(uri: str) -> str:
    image = qrcode.make(uri, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    buffer = io.BytesIO()
    image.save(buffer)
    return buffer.getvalue().decode()


@public("first sign-in of staff: enrol an authenticator after the password step")
@require_http_methods(["GET", "POST"])
def mfa_setup(request: HttpRequest) -> HttpResponse:
    user = _pending_user(request)
    if user is None:
        return redirect("identity:login")
    if TOTPDevice.objects.filter(user=user, confirmed=True).exists():
        return redirect("identity:otp_verify")
    device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    if device is None:
        device = services.totp_device_create(actor=user, user=user)
    form = OtpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        code = form.cleaned_data["token"].strip()
        if services.totp_device_confirm(actor=user, device=device, token=code):
            return _finish_staff_login(request, user, device)
        if _otp_failed(request, user):
            return redirect("identity:login")
        form.add_error("token", _("That code is not right. Check your app and try again."))
    secret = base64.b32encode(device.bin_key).decode().rstrip("=")
    context = {"form": form, "secret": secret, "qr_svg": _qr_svg(device.config_url)}
    return render(request, "identity/mfa_setup.html", context, status=_status(form))


@public("signing out is always allowed")
@require_http_methods(["POST"])
def logout_view(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        audit.record(actor=request.user, action="auth.logout", target=request.user)
    auth.logout(request)
    return redirect("identity:login")
