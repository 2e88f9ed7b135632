"""Browser fixtures: Debian's Chromium driven by Playwright (sync API) against pytest-django's live server, a staff
user who logs in through the admin's login form, and full-page screenshots of what each flow ends on.

The live server runs in this process (a thread), so it sees this test's database, settings and eager-task switch;
it serves static files through `django.contrib.staticfiles`, so the admin is styled as in production.
Without `/usr/bin/chromium` or the `playwright` package every `browser` test is skipped with the reason.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.hashers import make_password

from clearcue.models import User
from tests.databases import empty_sqlite_database
from tests.factories import UserFactory
from tests.generation.conftest import data_dir
from tests.licensing.conftest import ledger_key

__all__ = ["data_dir", "ledger_key"]

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
# Debian's Chromium as the issue prescribes it: no sandbox (containers run as root), no GPU, and nothing it would
# fetch or update on its own during a test.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
PASSWORD = "Browser-tests-only-2026"  # of a user that exists only in the test database
TIMEOUT_MS = 20_000
SCREENSHOTS: list[Path] = []


def unavailable() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    if not CHROMIUM.exists():
        return (f"needs Debian's Chromium at {CHROMIUM}: `make test` installs it as root "
                "(apt-get install chromium chromium-driver)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:
        return f"needs the playwright package ({exc}): pip install -e '.[dev]'"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip `browser` tests with a visible reason when Chromium or Playwright is missing (never a silent pass)."""
    reason = unavailable()
    if reason is None:
        return
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(pytest.mark.skip(reason=reason))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """List the screenshots this run took, so a person can look at them."""
    if SCREENSHOTS:
        terminalreporter.section("browser screenshots")
        for path in SCREENSHOTS:
            terminalreporter.write_line(str(path))


def screenshot_dir() -> Path:
    """`$CLEARCUE_SCREENSHOT_DIR`, else var/screenshots/browser/ in the repository (var/ is not committed)."""
    directory = Path(os.environ.get("CLEARCUE_SCREENSHOT_DIR") or ROOT / "var" / "screenshots" / "browser")
    directory.mkdir(parents=True, exist_ok=True)
    return directory


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium per test module (a fresh context per test keeps tests apart).

    While Playwright's sync API is started, its asyncio loop counts as running in this thread, so Django's
    async-safety check would refuse every ORM call the tests make. Nothing here runs concurrently with those
    calls (the live server answers from its own threads), so the check is lifted for as long as Playwright runs,
    and no longer: module scope, not session, so the tests collected after these see the check again.
    """
    from playwright.sync_api import sync_playwright

    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, live_server: Any) -> Iterator[Any]:
    """A page in a fresh browser context on the live server; JavaScript errors on any page fail the test."""
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1440, "height": 900},
                                  accept_downloads=True)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    empty_sqlite_database()
    assert not errors, f"JavaScript errors in the page: {errors}"


@pytest.fixture
def console_user(db: None) -> User:
    """A platform staff member with a password, to log in through the form (no forced session)."""
    return UserFactory(username="sam.staff", is_staff=True, is_superuser=True, password=make_password(PASSWORD))


def log_in(page: Any, user: User, password: str = PASSWORD) -> None:
    """Log into the admin through its login form."""
    page.goto("/admin/login/?next=/admin/")
    page.fill("#id_username", user.get_username())
    page.fill("#id_password", password)
    page.click("input[type=submit]")


@pytest.fixture
def admin_page(page: Any, console_user: User) -> Any:
    """The page, logged into the admin as the console user."""
    from playwright.sync_api import expect

    log_in(page, console_user)
    expect(page.locator("#user-tools")).to_contain_text(console_user.get_username())
    # The admin's navigation sidebar closed (as its « button does), so screenshots show whole changelist rows.
    page.evaluate("localStorage.setItem('django.admin.navSidebarIsOpen', 'false')")
    return page


@pytest.fixture
def shoot(request: pytest.FixtureRequest) -> Any:
    """`shoot(page, name)`: save a full-page PNG named after the test and print its path."""

    def _shoot(page: Any, name: str) -> Path:
        path = screenshot_dir() / f"{request.node.name.removeprefix('test_')[:80]}--{name}.png"
        if page.evaluate("document.documentElement.namespaceURI") == "http://www.w3.org/2000/svg":
            # A picture opened on its own: Playwright's full-page capture never finishes on an SVG document, and
            # its root element is the whole page anyway.
            page.locator(":root").screenshot(path=str(path))
        else:
            page.screenshot(path=str(path), full_page=True)
        SCREENSHOTS.append(path)
        print(f"screenshot: {path}")
        return path

    return _shoot
