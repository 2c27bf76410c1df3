"""Server mode as the operator sees it: the API's (and the console's) session list names each
session's legacy login and the user's resources (both were blank in server mode)."""

from __future__ import annotations

import asyncio
import time

from harness.web import Http

ADMIN, PASSWORD = "operator", "s3cret-enough-for-a-test"

TEST = "test.localhost"


async def poll_sessions(api: Http, predicate, what: str, timeout: float = 10.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        page = (await asyncio.to_thread(api.get, "/api/v1/sessions")).json()
        if predicate(page):
            return page
        assert time.monotonic() < deadline, f"timed out waiting for {what}: {page}"
        await asyncio.sleep(0.1)


async def test_sessions_show_the_legacy_login_and_resources(make_server, sconnect):
    server = make_server()
    api = Http(server.admin_url, token=await asyncio.to_thread(server.create_token, "e2e"))
    await sconnect(server, f"alice@{TEST}", "secret", resource="phone")
    page = await poll_sessions(api, lambda p: p["total"] == 1 and p["items"][0]["resources"],
                               "alice's session with its resource")
    row = page["items"][0]
    assert (row["user"], row["transport"], row["legacy_id"], row["state"]) == \
        (f"alice@{TEST}", "test", "alice", "online"), row
    assert row["resources"] == [f"alice@{TEST}/phone"], row
    assert row["last_error"] is None, row
    # A second client of the same user shows up as a second resource of the one session.
    await sconnect(server, f"alice@{TEST}", "secret", resource="laptop")
    page = await poll_sessions(api, lambda p: len(p["items"][0]["resources"]) == 2, "the second resource")
    assert page["items"][0]["resources"] == [f"alice@{TEST}/laptop", f"alice@{TEST}/phone"], page
    # Server mode has no registrations: the online filter finds none, and says so plainly.
    regs = (await asyncio.to_thread(api.get, "/api/v1/registrations?online=true")).json()
    assert regs["total"] == 0 and regs["items"] == [], regs


async def test_the_console_shows_no_link_in_server_mode(make_server):
    server = make_server()
    await asyncio.to_thread(server.add_admin, ADMIN, PASSWORD)
    web = Http(server.admin_url)
    assert (await asyncio.to_thread(web.login, ADMIN, PASSWORD)).status in (200, 303)
    overview = await asyncio.to_thread(web.get, "/")
    assert overview.status == 200 and "<h1>Overview</h1>" in overview.body, overview
    assert "<th>Link</th>" not in overview.body and 'class="link"' not in overview.body
    transports = await asyncio.to_thread(web.get, "/transports")
    assert transports.status == 200 and "link <span" not in transports.body


async def test_the_overview_charts_the_day_and_refreshes_itself(make_server, sconnect):
    """The Overview draws each transport's sessions online and messages per minute (one point
    a minute, the newest live) and reloads itself, without a script."""
    server = make_server()
    await asyncio.to_thread(server.add_admin, ADMIN, PASSWORD)
    web = Http(server.admin_url)
    assert (await asyncio.to_thread(web.login, ADMIN, PASSWORD)).status in (200, 303)
    alice = await sconnect(server, f"alice@{TEST}", "secret")
    alice.send_message(f"echo@{TEST}", "one")
    await alice.expect_message(f"echo@{TEST}", "echo: one")
    deadline = time.monotonic() + 10
    while True:  # the session counts are sampled every second
        body = (await asyncio.to_thread(web.get, "/")).body
        row = body.split('<tr data-transport="test">', 1)[1].split("</tr>", 1)[0]
        if "Sessions online, last 24 h: now 1," in row or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    assert '<meta http-equiv="refresh" content="30">' in body
    assert "<title>Sessions online, last 24 h: now 1, highest 1</title>" in row, row
    # The first point (at the start, no session) and the live one: a line.
    assert '<div class="chart-online"><svg class="spark"' in row and "<polyline" in row, row
    assert "<title>Messages per minute, last 24 h: now 2," in row, row
    assert "<script" not in body
