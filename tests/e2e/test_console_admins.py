"""The console's Administrators page over real HTTP, as an operator's browser posts its forms
(with the page's CSRF token): administrators added, given a new password and removed (after
the confirmation step; never yourself), API tokens created (shown once, working on the REST
API) and revoked. Each change is in the log with the console user as the actor."""

from __future__ import annotations

import re

from harness.web import Http

ADMIN, PASSWORD = "root", "correct horse battery staple"


async def logged_in(pontoon) -> Http:
    await pontoon.cli_async("admin", "add", ADMIN, "--password-stdin", input=PASSWORD + "\n")
    web = Http(pontoon.admin_url)
    page = web.login(ADMIN, PASSWORD)
    assert page.status == 200 and "Overview" in page.body, page
    assert 'href="/admins"' in page.body, "the navigation links the Administrators page"
    return web


def flash(page) -> str:
    m = re.search(r'<p class="flash [a-z]+" role="status">([^<]*)</p>', page.body)
    assert m, f"no message on {page.url}:\n{page.body[:3000]}"
    return m.group(1)


def post_form(web: Http, action: str, **fields):
    """Posts a form of the Administrators page with the page's CSRF token."""
    page = web.get("/admins")
    assert page.status == 200, page
    return web.post(action, form={"csrf": page.csrf(), **fields})


async def test_administrators_are_added_changed_and_removed_from_the_console(pontoon):
    web = await logged_in(pontoon)
    page = web.get("/admins")
    assert page.status == 200 and "<h1>Administrators</h1>" in page.body, page
    assert re.search(r'data-admin="root">\s*<td class="name">root <small>\(you\)</small>', page.body), page.body

    # Add: the new administrator is listed and can log in.
    done = post_form(web, "/admins", name="alice", password="first password", repeat="first password")
    assert done.status == 200 and done.url.endswith("/admins"), done
    assert flash(done) == "Administrator alice is added; they can log in now."
    assert 'data-admin="alice"' in done.body
    await pontoon.wait_log_async(r"operator added an administrator.*actor=\W?console:root.*admin=\W?alice", 10,
                                 what="the audit line of the addition")
    alice = Http(pontoon.admin_url)
    assert alice.login("alice", "first password").status == 200

    # The shared password rule, and a mistyped repeat: refused, nothing changes.
    done = post_form(web, "/admins", name="alice", password="short", repeat="short")
    assert flash(done) == "the password must be at least 8 characters long", done.body[:2000]
    done = post_form(web, "/admins", name="alice", password="second password", repeat="second passwort")
    assert flash(done) == "the two passwords differ; nothing changed"
    assert alice.get("/admins", follow=False).status == 200, "alice's session survives refused changes"

    # A new password: alice's session ends, the old password no longer logs in, the new one does.
    done = post_form(web, "/admins", name="alice", password="second password", repeat="second password")
    assert flash(done) == "The password of alice is changed; their console sessions end."
    r = alice.get("/admins", follow=False)
    assert r.status == 303 and r.header("location") == "/login?revoked=1", r
    assert Http(pontoon.admin_url).login("alice", "first password").status == 401
    assert alice.login("alice", "second password").status == 200
    await pontoon.wait_log_async(r"operator changed an administrator's password.*actor=\W?console:root.*admin=\W?alice",
                                 10, what="the audit line of the password change")

    # Changing your own password keeps your session.
    done = post_form(web, "/admins", name=ADMIN, password="a new root password", repeat="a new root password")
    assert flash(done) == "Your password is changed; your other console sessions end."
    assert web.get("/admins", follow=False).status == 200
    assert Http(pontoon.admin_url).login(ADMIN, "a new root password").status == 200

    # Removing yourself is refused, with a reason, without a confirmation step.
    done = post_form(web, f"/admins/{ADMIN}/delete")
    assert done.url.endswith("/admins"), done
    assert "you cannot remove yourself" in flash(done), done.body[:2000]
    assert 'data-admin="root"' in done.body

    # Removing alice asks first; the confirmation page's own form removes her.
    ask = post_form(web, "/admins/alice/delete")
    assert ask.status == 200 and "Remove administrator alice?" in ask.body, ask.body[:2000]
    assert 'name="confirm" value="yes"' in ask.body
    assert 'data-admin="alice"' in web.get("/admins").body, "nothing is removed before the confirmation"
    done = web.post("/admins/alice/delete", form={"csrf": ask.csrf(), "confirm": "yes"})
    assert flash(done) == "Administrator alice is removed.", done.body[:2000]
    assert 'data-admin="alice"' not in done.body
    r = alice.get("/admins", follow=False)
    assert r.status == 303 and r.header("location") == "/login?revoked=1", r
    assert alice.login("alice", "second password").status == 401
    await pontoon.wait_log_async(r"operator removed an administrator.*actor=\W?console:root.*admin=\W?alice", 10,
                                 what="the audit line of the removal")
    assert "alice" not in (await pontoon.cli_async("admin", "list")).stdout
    api = Http(pontoon.admin_url, token=pontoon.create_token("auditor"))
    got = [(e["actor"], e["action"], e["subject"]) for e in api.get("/api/v1/audit?q=admin.").json()["items"]]
    assert got == [(f"console:{ADMIN}", "admin.delete", "alice"), (f"console:{ADMIN}", "admin.password", ADMIN),
                   (f"console:{ADMIN}", "admin.password", "alice"), (f"console:{ADMIN}", "admin.add", "alice"),
                   ("cli", "admin.add", ADMIN)], got

    # Without the page's token nothing happens.
    r = web.post("/admins", form={"csrf": "forged", "name": "mallory", "password": "x" * 12, "repeat": "x" * 12},
                 follow=False)
    assert r.status == 403, r
    assert "mallory" not in (await pontoon.cli_async("admin", "list")).stdout


async def test_api_tokens_are_created_and_revoked_from_the_console(pontoon):
    web = await logged_in(pontoon)
    assert "No API tokens." in web.get("/admins").body

    made = post_form(web, "/tokens", name="ci")
    assert made.status == 200 and "<h1>New API token</h1>" in made.body, made.body[:2000]
    assert made.header("cache-control") == "no-store", made.headers
    m = re.search(r'<code id="new-token">(pnt_[A-Za-z0-9_-]+)</code>', made.body)
    assert m, made.body[:3000]
    token = m.group(1)
    assert f"Authorization: Bearer {token}" in made.body, "the page says how to use it"
    await pontoon.wait_log_async(r"operator created an API token.*actor=\W?console:root.*token_name=\W?ci", 10,
                                 what="the audit line of the creation")
    assert token not in pontoon.log_text(), "the token itself is never logged"

    api = Http(pontoon.admin_url, token=token)
    r = api.get("/api/v1/status")
    assert r.status == 200, r
    listed = web.get("/admins")
    assert re.search(r'data-token="ci">\s*<td class="name">ci</td>', listed.body), listed.body
    assert token not in listed.body, "a token is shown once only"

    # The same name again is refused.
    again = post_form(web, "/tokens", name="ci")
    assert again.url.endswith("/admins") and "already exists" in flash(again), again.body[:2000]

    # Revoking asks first; confirmed, the token stops working at once.
    ask = post_form(web, "/tokens/ci/revoke")
    assert ask.status == 200 and "Revoke the API token ci?" in ask.body, ask.body[:2000]
    assert api.get("/api/v1/status").status == 200, "nothing is revoked before the confirmation"
    done = web.post("/tokens/ci/revoke", form={"csrf": ask.csrf(), "confirm": "yes"})
    assert flash(done) == "The API token ci is revoked.", done.body[:2000]
    assert api.get("/api/v1/status").status == 401
    await pontoon.wait_log_async(r"operator revoked an API token.*actor=\W?console:root.*token_name=\W?ci", 10,
                                 what="the audit line of the revocation")
    assert "no API tokens" in (await pontoon.cli_async("admin", "token", "list")).stdout

    # The audit log names each action, its actor and the token's name, never the token.
    api = Http(pontoon.admin_url, token=pontoon.create_token("auditor"))
    log = api.get("/api/v1/audit?q=token.").json()
    got = [(e["actor"], e["action"], e["subject"]) for e in log["items"]]
    assert got == [("cli", "token.create", "auditor"), (f"console:{ADMIN}", "token.revoke", "ci"),
                   (f"console:{ADMIN}", "token.create", "ci")], got
    assert token not in api.get("/api/v1/audit").body


async def test_administrators_and_tokens_through_the_rest_api(pontoon):
    await pontoon.cli_async("admin", "add", ADMIN, "--password-stdin", input=PASSWORD + "\n")
    api = Http(pontoon.admin_url, token=pontoon.create_token("ops"))
    doc = Http(pontoon.admin_url).get("/api/v1/openapi.json").json()
    for path in ("/admins", "/admins/{name}", "/tokens", "/tokens/{name}"):
        assert path in doc["paths"], sorted(doc["paths"])

    assert [a["name"] for a in api.get("/api/v1/admins").json()] == [ADMIN]
    r = api.request("PUT", "/api/v1/admins/bob", json={"password": "short"})
    assert r.status == 422 and r.json()["error"]["code"] == "invalid", r
    assert api.request("PUT", "/api/v1/admins/bob", json={"password": "bob's password"}).status == 201
    assert Http(pontoon.admin_url).login("bob", "bob's password").status == 200
    assert api.request("PUT", "/api/v1/admins/bob", json={"password": "bob's new one"}).status == 204
    assert Http(pontoon.admin_url).login("bob", "bob's password").status == 401
    assert Http(pontoon.admin_url).login("bob", "bob's new one").status == 200
    assert api.delete("/api/v1/admins/bob").status == 204
    assert api.delete("/api/v1/admins/bob").status == 404
    r = api.delete(f"/api/v1/admins/{ADMIN}")
    assert r.status == 422 and "last administrator" in r.json()["error"]["message"], r
    await pontoon.wait_log_async(r"operator removed an administrator.*actor=\W?token:ops.*admin=\W?bob", 10,
                                 what="the audit line of the removal")

    r = api.post("/api/v1/tokens", json={"name": "ci"})
    assert r.status == 201, r
    token = r.json()["token"]
    assert token.startswith("pnt_") and r.json()["name"] == "ci"
    assert api.post("/api/v1/tokens", json={"name": "ci"}).status == 409
    ci = Http(pontoon.admin_url, token=token)
    assert ci.get("/api/v1/status").status == 200
    assert [t["name"] for t in api.get("/api/v1/tokens").json()] == ["ci", "ops"]
    assert api.delete("/api/v1/tokens/ci").status == 204
    assert ci.get("/api/v1/status").status == 401
    assert api.delete("/api/v1/tokens/ci").status == 404
