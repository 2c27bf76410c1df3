"""The operator's web console in a real headless Chromium (Debian's, driven by Playwright):
log in, enable the IRC transport, register a user on their behalf, watch their session
appear on the Sessions page when they go online (searched, filtered, fitting 1,280 px), page
and sort 100 more registrations, delete one (asked again first), page the log, follow the
Overview's error count, disable the transport (asked again first) and watch the session end.
Screenshots of every page are kept in tmp/artifacts/console/ for a human to look at."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from harness.util import REPO_ROOT
from harness.web import Http
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


async def fits_the_window(page) -> None:
    """Nothing wider than the 1,280 px viewport (no horizontal scrolling)."""
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 1280, f"{page.url} is {width} px wide"


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
    # The overview's error count opens the transport's log (each error sent to a user is a
    # line there), and component mode shows the link.
    await page.goto(base + "/")
    assert await page.locator("th:has-text('Link')").count() == 1
    await page.click("tr[data-transport=irc] td.errors a")
    await page.wait_for_selector("h1:has-text('Logs')")
    assert "transport=irc" in page.url and "level=INFO" in page.url, page.url
    assert await page.locator("select[name=level]").input_value() == "INFO"

    await page.goto(base + "/access")
    await page.wait_for_selector("h1:has-text('Policy')")
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
    assert (await page.locator(f"{row} .resources").inner_text()).strip() == "e2e"
    await fits_the_window(page)
    await shot(page, "06-sessions")
    # Search and filter: by the legacy id, any case; by state.
    await page.fill("input[name=q]", "WEBNI")
    await page.click("#filter")
    await page.wait_for_selector(row)
    assert (await page.locator("#count").inner_text()).startswith("1 session")
    await page.fill("input[name=q]", "nobody")
    await page.click("#filter")
    await page.wait_for_selector("#count:has-text('0 session')")
    await page.fill("input[name=q]", "")
    await page.select_option("select[name=state]", "connecting")
    await page.click("#filter")
    await page.wait_for_selector("#count:has-text('0 session')")
    await page.select_option("select[name=state]", "online")
    await page.click("#filter")
    await page.wait_for_selector(row)
    assert "page 1 of 1" in await page.locator(".pager").inner_text()

    # 100 more registrations (through the API): paged, sorted, searched, one deleted.
    api = Http(base, token=console_pontoon.create_token("browser"))
    for i in range(100):
        r = api.post("/api/v1/registrations", json={"jid": f"reg{i:02}@localhost", "transport": "irc",
                                                    "legacy_id": f"nick{i:02}"})
        assert r.status == 201, r
    await page.goto(base + "/registrations")
    assert (await page.locator("#total").inner_text()).startswith("101 registration")
    assert "page 1 of 3" in await page.locator(".pager").inner_text()
    assert await page.locator("td.session", has_text="offline").count() == 50
    await page.select_option("select[name=per_page]", "25")
    await page.select_option("select[name=sort]", "jid")
    await page.select_option("select[name=order]", "desc")
    await page.click("#search")
    await page.wait_for_selector(".pager:has-text('page 1 of 5')")
    assert (await page.locator("tbody tr").first.get_attribute("data-user")) == "user1@localhost"
    await page.click("#next-page")
    await page.wait_for_selector(".pager:has-text('page 2 of 5')")
    assert (await page.locator("tbody tr").first.get_attribute("data-user")) == "reg75@localhost"
    assert await page.locator("select[name=order]").input_value() == "desc", "the next page keeps the order"
    await fits_the_window(page)
    await shot(page, "05b-registrations-page-2")
    await page.click("#prev-page")
    await page.wait_for_selector(".pager:has-text('page 1 of 5')")
    await page.select_option("select[name=online]", "yes")
    await page.click("#search")
    await page.wait_for_selector("#total:has-text('1 registration')")
    assert (await page.locator("tbody tr td.session").inner_text()).strip() == "online"
    assert (await page.locator("tbody tr .last-login").inner_text()).endswith("UTC")
    # Deleting asks again; Cancel keeps the registration, confirming deletes it.
    await page.goto(base + "/registrations/irc/reg07@localhost")
    await page.click("#delete-registration")
    await page.wait_for_selector("text=Delete the registration of reg07@localhost with irc?")
    await shot(page, "05c-confirm-delete")
    await page.click("#cancel")
    await page.wait_for_selector("#delete-registration")
    assert api.get("/api/v1/registrations/irc/reg07@localhost").status == 200
    await page.click("#delete-registration")
    await page.click("#confirm")
    await page.wait_for_selector("text=The registration of reg07@localhost with irc is deleted.")
    assert api.get("/api/v1/registrations/irc/reg07@localhost").status == 404
    # The audit log, from the navigation: the deletion, by whom, found by the search box.
    await page.click("nav a:has-text('Audit')")
    await page.fill("input[name=q]", "reg07@localhost")
    await page.click("#filter")
    audit_row = page.locator("table.audit tbody tr", has_text="registration.delete")
    await audit_row.wait_for()
    assert await audit_row.locator("td.actor").inner_text() == f"console:{ADMIN}"
    await fits_the_window(page)
    await shot(page, "06b-audit")
    # Administrators and tokens, from the navigation: this operator, marked as such.
    await page.click("nav a:has-text('Administrators')")
    me = page.locator(f"table.admins tr[data-admin='{ADMIN}'] td.name")
    await me.wait_for()
    assert "(you)" in await me.inner_text()
    await fits_the_window(page)
    await shot(page, "06c-admins")

    # The log pages: older and back to newer; each row names its user where there is one.
    await page.goto(base + "/logs?level=INFO")
    await page.wait_for_selector("h1:has-text('Logs')")
    await shot(page, "07-logs")
    first_page = await page.locator("table.log tbody tr").count()
    assert first_page == 100, first_page
    newest = await page.locator("table.log td.message").first.inner_text()
    # The operator's additions name the user they were for.
    assert await page.locator("table.log td.user", has_text="reg99@localhost").count() == 1
    await page.locator(".older-page").first.click()
    await page.wait_for_selector(".newer-page")
    # Older: the user's session's own lines (their login) name them.
    assert await page.locator("table.log td.user", has_text="user1@localhost").count() > 0
    assert await page.locator("table.log td.message").first.inner_text() != newest
    await page.locator(".newer-page").first.click()
    await page.wait_for_selector("table.log td.message")
    assert await page.locator("table.log td.message").first.inner_text() == newest

    # Disable IRC (asked again first): the session ends, the user sees the transport go offline.
    user.clear_inbox()
    await page.goto(base + "/transports")
    # The typed options form: each IRC option with its default and help.
    port = page.locator("input[name='opt.connect_port']")
    assert await port.get_attribute("placeholder") == "6667 (6697 with TLS)"
    await page.click("#disable-irc")
    await page.wait_for_selector("text=Disable irc?")
    await page.click("#confirm")
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
