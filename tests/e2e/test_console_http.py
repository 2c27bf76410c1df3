"""The web console's security rules, checked over plain HTTP as an attacker's script would
(the browser test in tests/e2e/irc/test_console_browser.py walks the pages themselves)."""

from __future__ import annotations

import asyncio

import pytest

from harness.web import Http

ADMIN, PASSWORD = "root", "correct horse battery staple"


def logged_in(pontoon) -> Http:
    web = Http(pontoon.admin_url)
    page = web.login(ADMIN, PASSWORD)
    assert page.status == 200 and "Overview" in page.body, page
    return web


async def test_fresh_install_has_no_account_and_says_how_to_make_one(pontoon):
    web = Http(pontoon.admin_url)
    r = web.get("/", follow=False)
    assert r.status in (302, 303) and r.header("location").endswith("/login"), r
    page = web.get("/login")
    assert page.status == 200 and "pontoon admin add" in page.body, page.body
    # No default account: the usual guesses fail.
    for user, pw in [("admin", "admin"), ("admin", ""), ("root", "root")]:
        assert web.login(user, pw).status == 401


async def test_login_logout_and_cookie_flags(pontoon):
    await pontoon.cli_async("admin", "add", ADMIN, "--password-stdin", input=PASSWORD + "\n")
    assert ADMIN in (await pontoon.cli_async("admin", "list")).stdout
    web = Http(pontoon.admin_url)
    page = web.get("/login")
    csrf = page.csrf()
    r = web.post("/login", form={"username": ADMIN, "password": PASSWORD, "csrf": csrf}, follow=False)
    assert r.status in (302, 303), r
    cookies = [v for k, v in r.raw_headers if k.lower() == "set-cookie"]
    assert cookies, r.headers
    assert all("httponly" in c.lower() and "samesite=strict" in c.lower() for c in cookies), cookies
    overview = web.get("/")
    assert overview.status == 200 and "Overview" in overview.body
    for header in ("x-content-type-options", "x-frame-options", "content-security-policy"):
        assert overview.header(header), f"{header} missing: {overview.headers}"
    r = web.post("/logout", form={"csrf": overview.csrf()}, follow=False)
    assert r.status in (302, 303), r
    r = web.get("/", follow=False)
    assert r.status in (302, 303) and r.header("location").endswith("/login"), r


async def test_wrong_password_is_refused_and_rate_limited(pontoon):
    await pontoon.cli_async("admin", "add", ADMIN, "--password-stdin", input=PASSWORD + "\n")
    web = Http(pontoon.admin_url)
    r = web.login(ADMIN, "wrong")
    assert r.status == 401 and "Wrong user name or password" in r.body, r
    assert web.login("nobody", "wrong").status == 401
    statuses = [web.login(ADMIN, f"wrong{i}").status for i in range(8)]
    assert 429 in statuses, statuses
    # Once limited, even the right password waits: guessing stays slow.
    assert web.login(ADMIN, PASSWORD).status == 429


async def test_forms_without_the_csrf_token_are_refused(pontoon):
    await pontoon.cli_async("admin", "add", ADMIN, "--password-stdin", input=PASSWORD + "\n")
    web = logged_in(pontoon)
    r = web.post("/transports/test/disable", form={}, follow=False)
    assert r.status == 403 and "form token" in r.body.lower(), r
    r = web.post("/transports/test/disable", form={"csrf": "forged"}, follow=False)
    assert r.status == 403, r
    api = Http(pontoon.admin_url, token=pontoon.create_token("check"))
    assert api.get("/api/v1/transports/test").json()["enabled"] is True
    # With the page's own token the same form works.
    page = web.get("/transports")
    r = web.post("/transports/test/disable", form={"csrf": page.csrf(), "confirm": "yes"}, follow=False)
    assert r.status in (302, 303), r
    assert api.get("/api/v1/transports/test").json()["enabled"] is False


@pytest.mark.pontoon_config(admin={"session_idle_timeout": 2})
async def test_an_expired_session_is_refused(pontoon):
    await pontoon.cli_async("admin", "add", ADMIN, "--password-stdin", input=PASSWORD + "\n")
    web = logged_in(pontoon)
    page = web.get("/transports")
    assert page.status == 200
    await asyncio.sleep(3.5)
    r = web.get("/transports", follow=False)
    assert r.status in (302, 303) and "/login" in r.header("location"), r
    login = web.get(r.header("location"))
    assert "expired" in login.body.lower(), login.body[:2000]
    r = web.post("/transports/test/disable", form={"csrf": page.csrf()}, follow=False)
    assert r.status in (302, 303, 401, 403), r
    api = Http(pontoon.admin_url, token=pontoon.create_token("check"))
    assert api.get("/api/v1/transports/test").json()["enabled"] is True


async def test_deleting_an_administrator_ends_their_console_session(pontoon):
    await pontoon.cli_async("admin", "add", ADMIN, "--password-stdin", input=PASSWORD + "\n")
    web = logged_in(pontoon)
    assert web.get("/registrations").status == 200
    await pontoon.cli_async("admin", "delete", ADMIN)
    r = web.get("/registrations", follow=False)
    assert r.status in (302, 303) and "/login" in r.header("location"), r
    assert web.login(ADMIN, PASSWORD).status == 401
