"""The operator's web console in a real headless Chromium (Debian's, driven by Playwright):
log in, enable the IRC transport, register a user on their behalf, watch their session
appear on the Sessions page when they go online, disable the transport and watch it end.
Screenshots of every page are kept in tmp/artifacts/console/ for a human to look at."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from harness.util import REPO_ROOT
from ircxmpp import IRC, wait_on_irc

playwright = pytest.importorskip("playwright.async_api", reason="playwright is installed by scripts/test")

ADMIN, PASSWORD = "operator", "s3cret-enough-for-a-test"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# Flags of a closed-network sandbox: no background traffic, no sandbox as root.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]
ARTIFACTS = REPO_ROOT / "tmp" / "artifacts" / "console"


@pytest.fixture
async def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: scripts/test installs Debian's chromium")
    async with playwright.async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=30_000)
        yield b
        await b.close()


@pytest.fixture
async def page(browser):
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    pg = await context.new_page()
    yield pg
    await context.close()


async def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


async def login(page, base: str, password: str = PASSWORD) -> None:
    await page.goto(base + "/login")
    await page.fill("input[name=username]", ADMIN)
    await page.fill("input[name=password]", password)
    await page.click("#login")


@pytest.fixture
def console_pontoon(make_irc_pontoon, irc_options):
    """Pontoon with the IRC transport configured but disabled (the fresh-install state)."""
    p = make_irc_pontoon(irc_options, irc={"enabled": False})
    p.add_admin(ADMIN, PASSWORD)
    return p


async def test_operator_walks_through_the_console(console_pontoon, page, connect, raw_irc):
    base = console_pontoon.admin_url
    # A wrong password is refused with a readable message.
    await login(page, base, password="not it")
    await page.wait_for_selector("text=Wrong user name or password")
    await shot(page, "00-login-refused")
    await login(page, base)
    await page.wait_for_selector("h1:has-text('Overview')")
    await shot(page, "01-overview")

    # Enable IRC (disabled on a fresh install).
    await page.goto(base + "/transports")
    await shot(page, "02-transports-disabled")
    await page.click("#enable-irc")
    await page.wait_for_selector("#disable-irc")
    await shot(page, "03-transports-enabled")

    await page.goto(base + "/access")
    await page.wait_for_selector("h1:has-text('Access')")
    await shot(page, "04-access")

    # Register user1 on IRC as "webnick", on their behalf.
    await page.goto(base + "/registrations")
    await page.fill("input[name=jid]", "user1@localhost")
    await page.select_option("select[name=transport]", "irc")
    await page.fill("input[name=legacy_id]", "webnick")
    await page.click("#add-registration")
    await page.wait_for_selector("text=user1@localhost")
    await page.wait_for_selector("text=webnick")
    await shot(page, "05-registrations")
    assert "s3cret" not in await page.content()

    # The user goes online towards the transport: the gateway logs them in to IRC.
    watcher = await raw_irc("watcher")
    user = await connect("user1")
    user.send_presence(to=IRC)
    await user.expect_presence(IRC, "available", timeout=20)
    await wait_on_irc(watcher, "webnick")
    row = "tr[data-transport=irc][data-user='user1@localhost']"
    for _ in range(40):
        await page.goto(base + "/sessions")
        if await page.locator(row).count() and (await page.locator(f"{row} .state").inner_text()).strip() == "online":
            break
        await page.wait_for_timeout(250)
    assert (await page.locator(f"{row} .state").inner_text()).strip() == "online"
    assert "webnick" in await page.locator(f"{row} .legacy-id").inner_text()
    await shot(page, "06-sessions")

    await page.goto(base + "/logs")
    await page.wait_for_selector("h1:has-text('Logs')")
    await shot(page, "07-logs")

    # Disable IRC: the session ends, the user sees the transport go offline.
    user.clear_inbox()
    await page.goto(base + "/transports")
    await page.click("#disable-irc")
    await page.wait_for_selector("#enable-irc")
    await user.expect_presence(IRC, "unavailable", timeout=15)
    for _ in range(40):
        await page.goto(base + "/sessions")
        if await page.locator(row).count() == 0:
            break
        await page.wait_for_timeout(250)
    assert await page.locator(row).count() == 0
    await shot(page, "08-sessions-after-disable")

    # Logging out ends the console session.
    await page.goto(base + "/")
    await page.click("button:has-text('Log out')")
    await page.wait_for_url(re.compile(r".*/login.*"))
    await page.goto(base + "/sessions")
    assert "/login" in page.url
