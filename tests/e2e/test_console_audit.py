"""The audit log of operator actions: one action each through the REST API, the command line
and the console, all found in GET /api/v1/audit and on the console's /audit page with who
did what to whom, searchable, and never a password."""

from __future__ import annotations

import pytest

from harness.web import Http
from test_adhoc import ADMIN_CONFIG, run

ADMIN, PASSWORD = "root", "correct horse battery staple"
SECRET = "hunter2-audit-secret"


def audit(api: Http, query: str = "") -> dict:
    r = api.get(f"/api/v1/audit{query}")
    assert r.status == 200, r
    return r.json()


async def test_operator_actions_are_audited_from_every_interface(pontoon):
    api = Http(pontoon.admin_url, token=pontoon.create_token("auditor"))
    # 1. A policy change through the API.
    r = api.patch("/api/v1/transports/test", json={"public_registration": False})
    assert r.status == 200, r
    # 2. A registration through the command line, with a password.
    await pontoon.cli_async("register", "user1@localhost", "test", "--username", "alice", "--password", SECRET)
    # 3. Its deletion through the console (confirmed).
    await pontoon.cli_async("admin", "add", ADMIN, "--password-stdin", input=PASSWORD + "\n")
    web = Http(pontoon.admin_url)
    page = web.login(ADMIN, PASSWORD)
    assert page.status == 200 and 'href="/audit"' in page.body, page
    r = web.post("/registrations/test/user1@localhost/delete", form={"csrf": page.csrf(), "confirm": "yes"})
    assert r.status == 200 and "is deleted" in r.body, r.body[:2000]

    log = audit(api)
    assert log["total"] == 5 and log["offset"] == 0 and log["limit"] == 100 and log["next"] is None, log
    got = [(e["actor"], e["action"], e["transport"], e["subject"]) for e in log["items"]]
    # Newest first.
    assert got == [
        (f"console:{ADMIN}", "registration.delete", "test", "user1@localhost"),
        ("cli", "admin.add", "", ADMIN),
        ("cli", "registration.add", "test", "user1@localhost"),
        ("token:auditor", "policy.change", "test", None),
        ("cli", "token.create", "", "auditor"),
    ], got
    assert "public_registration" in log["items"][3]["detail"], log
    assert "alice" in log["items"][2]["detail"] and "password: set" in log["items"][2]["detail"], log
    assert all(e["time"] > 0 for e in log["items"]), log

    # The search narrows: by actor, by action, by user; case-insensitive.
    assert [e["actor"] for e in audit(api, "?q=TOKEN:AUDITOR")["items"]] == ["token:auditor"]
    only_regs = audit(api, "?q=registration.")
    assert only_regs["total"] == 2 and {e["action"] for e in only_regs["items"]} == {
        "registration.add", "registration.delete"}, only_regs
    assert audit(api, "?q=user1@localhost")["total"] == 2
    assert audit(api, "?q=nothing-like-this")["total"] == 0
    # Paging as the other lists.
    first = audit(api, "?limit=2")
    assert len(first["items"]) == 2 and first["next"] == 2 and first["total"] == 5, first
    assert audit(api, "?limit=2&offset=2")["items"][0]["action"] == "registration.add"
    for bad in ("?limit=0", "?limit=1001", "?offset=-1"):
        assert api.get(f"/api/v1/audit{bad}").status == 400, bad

    # The console's page shows the same, and its search narrows too.
    html = web.get("/audit").body
    assert "5 action(s)" in html and "registration.delete" in html and "token:auditor" in html, html[:3000]
    html = web.get("/audit?q=cli").body
    assert "3 action(s)" in html and "registration.add" in html and "policy.change" not in html, html[:3000]

    # No password anywhere: not in the API's answer (every stored entry) nor on the page.
    assert SECRET not in api.get("/api/v1/audit").body
    assert SECRET not in web.get("/audit").body
    # Unauthenticated readers get nothing.
    assert Http(pontoon.admin_url).get("/api/v1/audit").status == 401


@pytest.mark.pontoon_config(admin=ADMIN_CONFIG)
async def test_ad_hoc_commands_are_audited_with_the_admins_jid(pontoon, connect):
    admin = await connect("user1")
    await run(admin, "add-registration", {"jid": "user2@localhost", "username": "bob", "password": SECRET})
    await run(admin, "announce", {"body": "Maintenance at 22:00"})
    api = Http(pontoon.admin_url, token=pontoon.create_token("auditor"))
    r = api.get("/api/v1/audit")
    assert r.status == 200 and SECRET not in r.body, r
    got = [(e["actor"], e["action"], e["transport"], e["subject"], e["detail"]) for e in r.json()["items"]]
    assert got == [
        ("cli", "token.create", "", "auditor", ""),
        ("user1@localhost", "announcement", "test", None, "sent to 0 user(s): Maintenance at 22:00"),
        ("user1@localhost", "registration.add", "test", "user2@localhost", "legacy_id: bob, password: set"),
    ], got
