"""Presence badges on the file listener, in server mode: off until the user sends `badge on`
to the transport; an opted-out user and an unknown one get the very same answer; the badge
follows the user's presence as their client changes it; the transport's status counts the
users online; past the rate, a client gets 429."""

from __future__ import annotations

import asyncio
import json

import aiohttp

from harness.util import free_port

DOMAIN = "test.localhost"


def listener() -> dict:
    port = free_port()
    return {"enabled": True, "listen": f"127.0.0.1:{port}", "public_url": f"http://127.0.0.1:{port}"}


async def fetch(http: aiohttp.ClientSession, url: str) -> tuple[int, dict, bytes]:
    async with http.get(url) as r:
        # Date is the only header that may differ from one second to the next.
        headers = {k.lower(): v for k, v in r.headers.items() if k.lower() != "date"}
        return r.status, headers, await r.read()


async def until(http: aiohttp.ClientSession, url: str, wanted, what: str) -> dict:
    """Polls the JSON at `url` (twice a second, within the rate) until `wanted(doc)`."""
    doc = None
    for _ in range(40):
        status, _, body = await fetch(http, url)
        assert status == 200, (status, body)
        doc = json.loads(body)
        if wanted(doc):
            return doc
        await asyncio.sleep(0.5)
    raise AssertionError(f"{what}: never happened; last answer {doc}")


async def test_presence_badges(make_server, sconnect):
    http_cfg = listener()
    base = http_cfg["public_url"]
    server = make_server(http=http_cfg)
    alice = await sconnect(server, f"alice@{DOMAIN}", "pw")
    await sconnect(server, f"bob@{DOMAIN}", "pw")
    async with aiohttp.ClientSession() as http:
        # Nobody opted in: bob (online) and an unknown user are indistinguishable, and so
        # is alice until she turns her badge on.
        answers = [await fetch(http, f"{base}/presence/test/{who}@{DOMAIN}.{ext}")
                   for ext in ("svg", "json") for who in ("bob", "nobody", "alice")]
        assert all(a == answers[0] for a in answers), answers
        status, headers, body = answers[0]
        assert (status, body) == (404, b"no such badge\n")
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["cache-control"] == "public, max-age=60"

        alice.send_message(DOMAIN, "badge on")
        reply = await alice.expect_message(DOMAIN)
        assert f"{base}/presence/test/alice@{DOMAIN}.svg" in reply.body, reply.body
        status, headers, svg = await fetch(http, f"{base}/presence/test/alice@{DOMAIN}.svg")
        assert status == 200, svg
        assert headers["content-type"] == "image/svg+xml"
        assert headers["x-content-type-options"] == "nosniff"
        assert "sandbox" in headers["content-security-policy"]
        assert headers["cache-control"] == "public, max-age=60"
        assert b">online<" in svg, svg
        doc_url = f"{base}/presence/test/alice@{DOMAIN}.json"
        assert json.loads((await fetch(http, doc_url))[2]) == {
            "transport": "test", "user": f"alice@{DOMAIN}", "presence": "online", "status": None}

        # Away, with a status, as a client sends it.
        alice.send_raw("<presence><show>away</show><status>lunch</status></presence>")
        doc = await until(http, doc_url, lambda d: d["presence"] == "away", "badge shows away")
        assert doc["status"] == "lunch"
        assert b">away<" in (await fetch(http, f"{base}/presence/test/alice@{DOMAIN}.svg"))[2]

        # Bob did not opt in: still the unknown user's answer.
        assert await fetch(http, f"{base}/presence/test/bob@{DOMAIN}.svg") == answers[0]

        # The transport's status: up, both users online; then alice goes offline.
        status_url = f"{base}/status/test.json"
        doc = await until(http, status_url, lambda d: d["users_online"] == 2, "two users online")
        assert doc == {"transport": "test", "name": doc["name"], "status": "up", "users_online": 2}
        status, headers, svg = await fetch(http, f"{base}/status/test.svg")
        assert status == 200 and headers["content-type"] == "image/svg+xml"
        assert b"up, 2 online" in svg, svg
        # Unavailable while still connected: offline to the badge (her login goes on).
        alice.send_raw("<presence type='unavailable'/>")
        doc = await until(http, doc_url, lambda d: d["presence"] == "offline", "badge shows offline")
        assert doc["status"] is None
        alice.send_raw("<presence><show>dnd</show></presence>")
        await until(http, doc_url, lambda d: d["presence"] == "busy", "badge shows busy")
        # Gone: her session ends, one user is left online.
        await alice.disconnect()
        await until(http, doc_url, lambda d: d["presence"] == "offline", "badge shows offline again")
        await until(http, status_url, lambda d: d["users_online"] == 1, "one user online")

        # Past the rate (a burst of 60, then one a second), 429 with Retry-After.
        codes = []
        for _ in range(80):
            async with http.get(f"{base}/status/test.json") as r:
                codes.append(r.status)
                if r.status == 429:
                    assert r.headers["Retry-After"] == "60"
                    assert r.headers["Cache-Control"] == "no-store"
        assert codes[0] == 200 and codes[-1] == 429, codes
        assert set(codes) == {200, 429}, codes
