"""The operator's REST API (/api/v1), metrics and health endpoints, against a running Pontoon
with Prosody and the test transport: what an operator's script or monitoring would check."""

from __future__ import annotations

import asyncio
import re
import time

import pytest

from harness.gateway import TRANSPORT, echo_roundtrip, register_and_login
from harness.web import Http


@pytest.fixture
def api(pontoon) -> Http:
    """An API client with a bearer token made by `pontoon admin token create`."""
    return Http(pontoon.admin_url, token=pontoon.create_token("e2e"))


async def poll(fn, predicate, timeout: float = 10.0, what: str = "condition"):
    """Calls fn() (in a thread) until predicate(result) holds; returns the result."""
    deadline = time.monotonic() + timeout
    while True:
        r = await asyncio.to_thread(fn)
        if predicate(r):
            return r
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; last: {getattr(r, 'body', r)!r}"[:3000])
        await asyncio.sleep(0.2)


def session_row(api: Http, user: str):
    rows = api.get(f"/api/v1/sessions?transport=test").json()["items"]
    return next((r for r in rows if r["user"] == user), None)


async def test_api_refuses_missing_and_wrong_tokens(pontoon):
    anon = Http(pontoon.admin_url)
    r = anon.get("/api/v1/status")
    assert r.status == 401, r
    assert (r.header("www-authenticate") or "").lower().startswith("bearer"), r.headers
    assert r.json()["error"]["code"] == "unauthorized"
    r = Http(pontoon.admin_url, token="pnt_not-a-token").get("/api/v1/transports")
    assert r.status == 401, r
    # A revoked token stops working at once.
    token = pontoon.create_token("short-lived")
    assert Http(pontoon.admin_url, token=token).get("/api/v1/status").status == 200
    await pontoon.cli_async("admin", "token", "revoke", "short-lived")
    assert Http(pontoon.admin_url, token=token).get("/api/v1/status").status == 401


async def test_openapi_document_describes_every_route(pontoon):
    r = Http(pontoon.admin_url).get("/api/v1/openapi.json")
    assert r.status == 200, r
    doc = r.json()
    assert doc["openapi"].startswith("3."), doc.get("openapi")
    paths = doc["paths"]
    for path, method in [
        ("/status", "get"), ("/transports", "get"), ("/transports/{name}", "patch"),
        ("/transports/{name}/announce", "post"), ("/registrations", "get"), ("/registrations", "post"),
        ("/registrations/{transport}/{jid}", "patch"), ("/registrations/{transport}/{jid}", "delete"),
        ("/sessions", "get"), ("/sessions/{transport}/{jid}", "delete"), ("/logs", "get"), ("/audit", "get"),
    ]:
        full = [p for p in paths if p.endswith(path)]
        assert full and any(method in paths[p] for p in full), f"{method.upper()} {path} missing from {sorted(paths)}"


async def test_status_and_transport_policy(pontoon, api):
    status = api.get("/api/v1/status").json()
    assert re.match(r"\d+\.\d+\.\d+", status["version"]), status
    assert status["mode"] == "component"
    t = next(t for t in status["transports"] if t["name"] == "test")
    assert t["enabled"] is True and t["link_up"] is True, t
    one = api.get("/api/v1/transports/test").json()
    assert one["domain"] == TRANSPORT and one["public_registration"] is True, one
    assert api.get("/api/v1/transports/nope").status == 404
    # Access rules: written, read back, and kept by the store.
    r = api.patch("/api/v1/transports/test", json={"allowed_servers": ["localhost"], "allow_list": ["user1@localhost"],
                                                    "manual_registration_only": True})
    assert r.status == 200, r
    one = api.get("/api/v1/transports/test").json()
    assert one["allowed_servers"] == ["localhost"] and one["allow_list"] == ["user1@localhost"], one
    assert one["manual_registration_only"] is True
    out = (await pontoon.cli_async("policy", "show", "test")).stdout
    assert "user1@localhost" in out, out
    # Options the transport does not accept are refused, and nothing is saved.
    r = api.patch("/api/v1/transports/test", json={"options": {"no_such_option": "1"}})
    assert r.status in (400, 422), r
    assert "error" in r.json()
    assert api.get("/api/v1/transports/test").json()["options"].get("no_such_option") is None
    # Bad JSON is a JSON error too.
    r = api.request("PATCH", "/api/v1/transports/test", body=b"{not json", headers={"Content-Type": "application/json"})
    assert 400 <= r.status < 500 and "error" in r.json(), r


async def test_registration_on_a_users_behalf_and_their_session(pontoon, api, connect):
    r = api.post("/api/v1/registrations", json={"jid": "user1@localhost", "transport": "test",
                                                "legacy_id": "alice", "password": "secret"})
    assert r.status == 201, r
    body = r.json()
    assert body["has_password"] is True and "secret" not in r.body, r.body
    assert api.post("/api/v1/registrations", json={"jid": "user1@localhost", "transport": "test",
                                                   "legacy_id": "alice"}).status == 409
    assert api.post("/api/v1/registrations", json={"jid": "not a jid", "transport": "test",
                                                   "legacy_id": "x"}).status in (400, 422)
    assert api.post("/api/v1/registrations", json={"jid": "user2@localhost", "transport": "nope",
                                                   "legacy_id": "x"}).status == 404
    listed = api.get("/api/v1/registrations?search=user1").json()
    assert listed["total"] == 1 and listed["items"][0]["legacy_id"] == "alice", listed
    # The user goes online towards the transport: the registration made for them logs them in.
    user = await connect("user1")
    user.send_presence(to=TRANSPORT)
    await user.expect_presence(TRANSPORT, "available", timeout=15)
    await echo_roundtrip(user, "hello from an operator-made registration")
    row = await poll(lambda: session_row(api, "user1@localhost"), lambda r: r and r["state"] == "online",
                     what="user1's session to be online")
    assert row["legacy_id"] == "alice" and row["since"] > 0, row
    assert any(res.startswith("user1@localhost/") for res in row["resources"]), row
    # The operator disconnects the session: the user sees the transport go offline.
    user.clear_inbox()
    assert api.delete("/api/v1/sessions/test/user1@localhost").status == 204
    await user.expect_presence(TRANSPORT, "unavailable", timeout=10)
    await poll(lambda: session_row(api, "user1@localhost"), lambda r: r is None, what="the session to be gone")
    assert api.delete("/api/v1/sessions/test/user1@localhost").status == 404
    # Editing: the password is write-only, the legacy id changes.
    r = api.patch("/api/v1/registrations/test/user1@localhost", json={"legacy_id": "alice2"})
    assert r.status == 200 and r.json()["legacy_id"] == "alice2" and r.json()["has_password"] is True, r
    r = api.patch("/api/v1/registrations/test/user1@localhost", json={"password": None})
    assert r.status == 200 and r.json()["has_password"] is False, r
    assert api.delete("/api/v1/registrations/test/user1@localhost").status == 204
    assert api.get("/api/v1/registrations/test/user1@localhost").status == 404
    assert api.delete("/api/v1/registrations/test/user1@localhost").status == 404


async def test_disabling_the_transport_ends_sessions_at_once(pontoon, api, connect):
    user = await connect("user1")
    await register_and_login(user, "alice", "secret")
    user.clear_inbox()
    r = api.patch("/api/v1/transports/test", json={"enabled": False})
    assert r.status == 200 and r.json()["enabled"] is False, r
    await user.expect_presence(TRANSPORT, "unavailable", timeout=10)
    r = api.patch("/api/v1/transports/test", json={"enabled": True})
    assert r.status == 200, r
    user.send_presence(to=TRANSPORT)
    await user.expect_presence(TRANSPORT, "available", timeout=15)


async def test_announce_reaches_every_user_of_the_transport(pontoon, api, connect):
    u1 = await connect("user1")
    u2 = await connect("user2")
    await register_and_login(u1, "alice", "secret")
    await register_and_login(u2, "bob", "secret")
    r = api.post("/api/v1/transports/test/announce", json={"text": "Maintenance at 22:00 UTC"})
    assert r.status == 200 and r.json()["sent"] == 2, r
    for u in (u1, u2):
        await u.expect_message(TRANSPORT, body="Maintenance at 22:00 UTC", timeout=10)


async def test_metrics_and_health(pontoon, api, connect):
    anon = Http(pontoon.admin_url)
    assert anon.get("/healthz").status == 200
    assert anon.get("/readyz").status == 200
    user = await connect("user1")
    await register_and_login(user, "alice", "secret")
    await echo_roundtrip(user, "counted")

    def metric(text: str, name: str, **labels) -> float | None:
        for line in text.splitlines():
            if line.startswith(name + "{") or line.startswith(name + " "):
                if all(f'{k}="{v}"' in line for k, v in labels.items()):
                    return float(line.rsplit(" ", 1)[1])
        return None

    m = await poll(lambda: anon.get("/metrics"),
                   lambda r: metric(r.body, "pontoon_sessions", transport="test", state="online") == 1.0,
                   what="pontoon_sessions{state=online} to be 1")
    assert m.header("content-type").startswith("text/plain"), m.headers
    assert metric(m.body, "pontoon_messages_total", transport="test", direction="to_legacy") >= 1
    assert metric(m.body, "pontoon_messages_total", transport="test", direction="to_xmpp") >= 1
    assert metric(m.body, "pontoon_link_up", transport="test") == 1.0
    for name in ("pontoon_errors_total", "pontoon_reconnects_total", "pontoon_queue_depth", "pontoon_uptime_seconds",
                 "pontoon_build_info", "pontoon_transport_enabled"):
        assert name in m.body, f"{name} missing from /metrics:\n{m.body}"
    # An error stanza to the user is counted.
    before = metric(m.body, "pontoon_errors_total", transport="test") or 0
    user.send_raw(f"<iq type='get' to='{TRANSPORT}' id='bad1'><nonsense xmlns='urn:x'/></iq>")
    await poll(lambda: anon.get("/metrics"),
               lambda r: (metric(r.body, "pontoon_errors_total", transport="test") or 0) > before,
               what="pontoon_errors_total to grow")


@pytest.mark.pontoon_config(start=False)
async def test_debug_logging_switched_at_run_time(pontoon, connect):
    """With the log level at info, switching debug on for the transport makes its debug
    events appear in the log (and the console's log view) without a restart."""
    pontoon.general["log_level"] = "info"
    pontoon.write_config()
    await asyncio.to_thread(pontoon.start)
    api = Http(pontoon.admin_url, token=pontoon.create_token("e2e"))
    user = await connect("user1")
    await register_and_login(user, "alice", "secret")
    offset = pontoon.log_offset()
    await echo_roundtrip(user, "quiet")
    assert pontoon.count_log(r"\bDEBUG\b", since=offset) == 0, pontoon.log_text(offset)[-3000:]
    r = api.patch("/api/v1/transports/test", json={"debug_logging": True})
    assert r.status == 200 and r.json()["debug_logging"] is True, r
    offset = pontoon.log_offset()
    await echo_roundtrip(user, "loud")
    await pontoon.wait_log_async(r"\bDEBUG\b", 10, since=offset, what="a debug line once debug is on")
    logs = api.get("/api/v1/logs?transport=test&limit=200").json()
    assert any(e["level"].upper() == "DEBUG" for e in logs), logs[:5]
    r = api.patch("/api/v1/transports/test", json={"debug_logging": False})
    assert r.status == 200, r
    await asyncio.sleep(0.5)
    offset = pontoon.log_offset()
    await echo_roundtrip(user, "quiet again")
    await asyncio.sleep(0.5)
    assert pontoon.count_log(r"\bDEBUG\b", since=offset) == 0, pontoon.log_text(offset)[-3000:]
