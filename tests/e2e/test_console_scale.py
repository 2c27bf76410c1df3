"""The operator's lists at scale, through the REST API: 250 registrations made through the API
paged, searched and sorted (page boundaries, totals, `next`), the exact refusals of a bad page
size, sort or state, and the online filter and last login once a user's session is up."""

from __future__ import annotations

import asyncio
import time

import pytest

from harness.gateway import TRANSPORT
from harness.web import Http

N = 250


@pytest.fixture
def api(pontoon) -> Http:
    return Http(pontoon.admin_url, token=pontoon.create_token("e2e"))


def get(api: Http, path: str) -> dict:
    r = api.get(path)
    assert r.status == 200, (path, r)
    return r.json()


def refused(api: Http, path: str, message: str) -> None:
    r = api.get(path)
    assert r.status == 400, (path, r)
    assert r.json() == {"error": {"code": "bad_request", "message": message}}, (path, r.body)


async def test_250_registrations_page_search_and_sort(pontoon, api, connect):
    def make_all() -> None:
        for i in range(N):
            r = api.post("/api/v1/registrations",
                         json={"jid": f"reg{i:03}@localhost", "transport": "test", "legacy_id": f"nick{i:03}"})
            assert r.status == 201, (i, r)

    await asyncio.to_thread(make_all)
    # Page boundaries and totals (by JID, the default order).
    first = get(api, "/api/v1/registrations")
    assert (first["total"], first["offset"], first["limit"], first["next"]) == (N, 0, 100, 100), \
        {k: first[k] for k in ("total", "offset", "limit", "next")}
    assert [r["jid"] for r in first["items"]] == [f"reg{i:03}@localhost" for i in range(100)]
    last = get(api, "/api/v1/registrations?offset=200")
    assert last["next"] is None and [r["jid"] for r in last["items"]] == [f"reg{i:03}@localhost" for i in range(200, N)]
    past = get(api, "/api/v1/registrations?offset=1000")
    assert (past["total"], past["items"], past["next"]) == (N, [], None)
    assert get(api, "/api/v1/registrations?limit=1000")["next"] is None
    # Walking `next` visits every registration once.
    seen, offset = [], 0
    for _ in range(10):
        page = get(api, f"/api/v1/registrations?limit=70&offset={offset}&sort=created")
        seen += page["items"]
        if page["next"] is None:
            break
        offset = page["next"]
    assert len(seen) == N and len({r["jid"] for r in seen}) == N
    # Newest first by default for `created`; never out of order across pages.
    created = [r["created_at"] for r in seen]
    assert created == sorted(created, reverse=True)
    # Search: the JID or the legacy id, any case.
    hits = get(api, "/api/v1/registrations?q=NICK12")
    assert hits["total"] == 10 and {r["legacy_id"] for r in hits["items"]} == {f"nick12{d}" for d in range(10)}, hits
    assert get(api, "/api/v1/registrations?q=REG24&search=ignored")["total"] == 10
    assert get(api, "/api/v1/registrations?search=reg24")["total"] == 10
    assert get(api, "/api/v1/registrations?q=g00")["total"] == 10
    assert get(api, "/api/v1/registrations?q=nobody")["total"] == 0
    # Sorting.
    desc = get(api, "/api/v1/registrations?sort=jid&order=desc&limit=3")
    assert [r["jid"] for r in desc["items"]] == ["reg249@localhost", "reg248@localhost", "reg247@localhost"]
    by_transport = get(api, "/api/v1/registrations?sort=transport&limit=2")
    assert [r["jid"] for r in by_transport["items"]] == ["reg000@localhost", "reg001@localhost"]
    never = get(api, "/api/v1/registrations?sort=last_login&limit=1")
    assert never["items"][0]["last_login_at"] is None and never["items"][0]["session"] is None
    # Refusals, exactly.
    refused(api, "/api/v1/registrations?limit=0", "limit must be between 1 and 1000 (got 0)")
    refused(api, "/api/v1/registrations?limit=1001", "limit must be between 1 and 1000 (got 1001)")
    refused(api, "/api/v1/registrations?sort=age", 'unknown sort "age" (jid, transport, last_login, created)')
    refused(api, "/api/v1/registrations?order=up", 'unknown order "up" (asc, desc)')
    r = api.get("/api/v1/registrations?limit=lots")
    assert r.status == 400 and r.json()["error"]["code"] == "bad_request", r
    refused(api, "/api/v1/sessions?limit=0", "limit must be between 1 and 1000 (got 0)")
    refused(api, "/api/v1/sessions?limit=1001", "limit must be between 1 and 1000 (got 1001)")
    refused(api, "/api/v1/sessions?state=up", 'unknown state "up" (connecting, online, reconnecting, ending)')

    # One user goes online: the session list and the registrations' online filter follow.
    assert api.post("/api/v1/registrations", json={"jid": "user1@localhost", "transport": "test",
                                                   "legacy_id": "alice"}).status == 201
    assert get(api, "/api/v1/registrations?online=true")["total"] == 0
    user = await connect("user1")
    user.send_presence(to=TRANSPORT)
    await user.expect_presence(TRANSPORT, "available", timeout=15)
    deadline = time.monotonic() + 10
    while True:
        online = await asyncio.to_thread(get, api, "/api/v1/registrations?online=true")
        if online["total"] == 1 and online["items"][0]["last_login_at"] is not None:
            break
        assert time.monotonic() < deadline, online
        await asyncio.sleep(0.1)
    row = online["items"][0]
    assert (row["jid"], row["session"]) == ("user1@localhost", "online"), row
    assert get(api, "/api/v1/registrations?online=false")["total"] == N
    assert get(api, "/api/v1/registrations?sort=last_login&limit=1")["items"][0]["jid"] == "user1@localhost"
    sessions = get(api, "/api/v1/sessions?q=ALICE&state=online")
    assert (sessions["total"], sessions["next"]) == (1, None), sessions
    assert sessions["items"][0]["legacy_id"] == "alice" and sessions["items"][0]["last_error"] is None
    assert get(api, "/api/v1/sessions?q=nobody")["total"] == 0
    assert get(api, "/api/v1/sessions?limit=1&offset=1") == {"total": 1, "offset": 1, "limit": 1, "next": None,
                                                             "items": []}
