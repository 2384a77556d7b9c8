"""Fixtures shared by every app's tests. Keep this small: app fixtures live in the app."""

from collections.abc import Callable, Iterator
from typing import Any

import pytest


@pytest.fixture
def database_tasks(settings: Any) -> None:
    """Queue tasks in the database, as in production, instead of running them at once."""
    settings.TASKS = {
        "default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}
    }


@pytest.fixture
def run_worker(
    database_tasks: None, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[], None]]:
    """Run the real database worker in-process until no task is ready, then return.

    The worker closes stale connections between tasks; inside a test's transaction that
    would roll the test back, so it is switched off here.
    """
    from django_tasks_db.management.commands import db_worker

    monkeypatch.setattr(db_worker, "close_old_connections", lambda: None)

    def run() -> None:
        db_worker.Worker(
            queue_names=["default"],
            interval=0,
            batch=True,
            backend_name="default",
            startup_delay=False,
            max_tasks=None,
            worker_id="test-worker",
            excluded_queue_names=[],
        ).run()

    yield run


# --- browser tests (marker "browser"): see core/testing/browser.py --------------------------


@pytest.fixture(scope="session")
def _chromium() -> Iterator[Any]:
    import os

    from core.testing.browser import CHROMIUM_ARGS, axe_script, chromium_path

    executable = chromium_path()
    problems = []
    if executable is None:
        problems.append("no Chromium (install Debian's chromium, or set CHROMIUM)")
    if not axe_script().exists():
        problems.append("no axe-core (run `make install`, which runs npm ci)")
    if problems:
        message = "browser tests need " + " and ".join(problems)
        if os.environ.get("CIVICSTACK_REQUIRE_BROWSER"):
            pytest.fail(message)
        pytest.skip(message)
    # Playwright's synchronous API keeps an event loop in this thread; Django refuses
    # database calls from such a thread unless told the test knows what it is doing.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def browser_page(_chromium: Any, live_server: Any) -> Iterator[Any]:
    """A fresh browser page (own cookies) whose relative URLs go to the live server."""
    context = _chromium.new_context(
        base_url=live_server.url, viewport={"width": 1280, "height": 900}, bypass_csp=True
    )
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def axe_check() -> Callable[[Any], None]:
    """axe_check(page): fail, listing every violation, if axe-core finds any (WCAG 2.2 AA)."""
    from core.testing.browser import axe_violations, describe_violations

    def check(page: Any) -> None:
        violations = axe_violations(page)
        assert not violations, f"axe-core on {page.url}:\n{describe_violations(violations)}"

    return check


@pytest.fixture
def sign_in() -> Callable[..., None]:
    """sign_in(page, user, password): through the real sign-in pages by keyboard, TOTP step
    included."""

    def do(page: Any, user: Any, password: str) -> None:
        from django_otp.oath import totp
        from django_otp.plugins.otp_totp.models import TOTPDevice

        device = None
        if user.needs_mfa:
            device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
            if device is None:
                device = TOTPDevice.objects.create(user=user, name="app", confirmed=True)
        # by keyboard alone, as the journey tests require: type, then Enter submits
        page.goto("/accounts/login/")
        page.get_by_label("Username").focus()
        page.keyboard.type(user.username)
        page.get_by_label("Password").focus()
        page.keyboard.type(password)
        page.keyboard.press("Enter")
        if device is not None:
            page.wait_for_url("**/accounts/login/verify/**")
            code = f"{totp(device.bin_key, step=device.step, t0=device.t0):06d}"
            page.get_by_label("Security code").focus()
            page.keyboard.type(code)
            page.keyboard.press("Enter")
        page.wait_for_url(lambda url: "/accounts/login" not in url)

    return do
