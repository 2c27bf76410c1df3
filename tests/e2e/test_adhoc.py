"""XEP-0050 ad-hoc commands on the transport domain for the admin JIDs of the config: what an
operator does from an XMPP client (Gajim, Psi, Conversations' "execute command")."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from harness.adhoc import NS_COMMANDS, command_of, command_xml, field_vars
from harness.client import dump, error_condition
from harness.gateway import TRANSPORT, register_and_login
from harness.web import Http

NS_ITEMS = "http://jabber.org/protocol/disco#items"
ADMIN_CONFIG = {"jids": ["user1@localhost"]}


def text_of(cmd: ET.Element) -> str:
    """Everything readable in a command result: notes and form values."""
    return " ".join(t for t in cmd.itertext() if t)


async def run(user, node: str, fields: dict) -> ET.Element:
    """Executes a command, checks the form asks for the given fields, submits them."""
    first = command_of(await user.iq("set", TRANSPORT, command_xml(node, "execute")))
    assert first.get("status") == "executing", dump(first)
    missing = set(fields) - set(field_vars(first))
    assert not missing, f"form of {node} has no fields {missing}: {dump(first)}"
    done = command_of(await user.iq("set", TRANSPORT, command_xml(node, None, first.get("sessionid"), fields)))
    assert done.get("status") == "completed", dump(done)
    return done


@pytest.mark.pontoon_config(admin=ADMIN_CONFIG)
async def test_admin_sees_the_command_list_and_others_do_not(pontoon, connect):
    admin = await connect("user1")
    other = await connect("user2")
    reply = await admin.iq("get", TRANSPORT, f"<query xmlns='{NS_ITEMS}' node='{NS_COMMANDS}'/>")
    nodes = {i.get("node") for i in reply.iter(f"{{{NS_ITEMS}}}item")}
    for node in ("list-sessions", "add-registration", "remove-registration", "enable-transport",
                 "disable-transport", "announce"):
        assert node in nodes, f"{node} not listed: {dump(reply)}"
    reply = await other.iq("get", TRANSPORT, f"<query xmlns='{NS_ITEMS}' node='{NS_COMMANDS}'/>")
    # Others see only every user's own commands.
    assert {i.get("node") for i in reply.iter(f"{{{NS_ITEMS}}}item")} == {"sync-contacts", "always-online"}, dump(reply)
    reply = await other.iq("set", TRANSPORT, command_xml("disable-transport", "execute"))
    assert reply.get("type") == "error" and error_condition(reply) == "forbidden", dump(reply)
    reply = await admin.iq("set", TRANSPORT, command_xml("no-such-command", "execute"))
    assert reply.get("type") == "error" and error_condition(reply) == "item-not-found", dump(reply)


@pytest.mark.pontoon_config(admin=ADMIN_CONFIG)
async def test_admin_registers_a_user_lists_sessions_and_removes_them(pontoon, connect):
    admin = await connect("user1")
    await run(admin, "add-registration", {"jid": "user2@localhost", "username": "bob", "password": "secret"})
    api = Http(pontoon.admin_url, token=pontoon.create_token("e2e"))
    reg = api.get("/api/v1/registrations/test/user2@localhost")
    assert reg.status == 200 and reg.json()["legacy_id"] == "bob", reg
    # The registered user comes online towards the transport and is logged in.
    user = await connect("user2")
    user.send_presence(to=TRANSPORT)
    await user.expect_presence(TRANSPORT, "available", timeout=15)
    listing = await admin.iq("set", TRANSPORT, command_xml("list-sessions", "execute"))
    cmd = command_of(listing)
    assert cmd.get("status") == "completed" and "user2@localhost" in text_of(cmd), dump(listing)
    await run(admin, "remove-registration", {"jid": "user2@localhost"})
    await user.expect_presence(TRANSPORT, "unavailable", timeout=10)
    assert api.get("/api/v1/registrations/test/user2@localhost").status == 404


@pytest.mark.pontoon_config(admin=ADMIN_CONFIG)
async def test_admin_disables_and_enables_the_transport(pontoon, connect):
    admin = await connect("user1")
    user = await connect("user2")
    await register_and_login(user, "bob", "secret")
    user.clear_inbox()
    first = command_of(await admin.iq("set", TRANSPORT, command_xml("disable-transport", "execute")))
    if first.get("status") == "executing":  # a confirmation form
        first = command_of(await admin.iq("set", TRANSPORT, command_xml("disable-transport", "complete", first.get("sessionid"))))
    assert first.get("status") == "completed", dump(first)
    await user.expect_presence(TRANSPORT, "unavailable", timeout=10)
    api = Http(pontoon.admin_url, token=pontoon.create_token("e2e"))
    assert api.get("/api/v1/transports/test").json()["enabled"] is False
    # The admin can still reach the (disabled) transport's commands to turn it back on.
    first = command_of(await admin.iq("set", TRANSPORT, command_xml("enable-transport", "execute")))
    if first.get("status") == "executing":
        first = command_of(await admin.iq("set", TRANSPORT, command_xml("enable-transport", "complete", first.get("sessionid"))))
    assert first.get("status") == "completed", dump(first)
    assert api.get("/api/v1/transports/test").json()["enabled"] is True
    user.send_presence(to=TRANSPORT)
    await user.expect_presence(TRANSPORT, "available", timeout=15)


@pytest.mark.pontoon_config(admin=ADMIN_CONFIG)
async def test_admin_announces_and_can_cancel(pontoon, connect):
    admin = await connect("user1")
    user = await connect("user2")
    await register_and_login(user, "bob", "secret")
    await run(admin, "announce", {"body": "Gateway restarts in 5 minutes"})
    await user.expect_message(TRANSPORT, body="Gateway restarts in 5 minutes", timeout=10)
    first = command_of(await admin.iq("set", TRANSPORT, command_xml("announce", "execute")))
    done = command_of(await admin.iq("set", TRANSPORT, command_xml("announce", "cancel", first.get("sessionid"))))
    assert done.get("status") == "canceled", dump(done)
    # A submission missing the text is a clear error, not silence.
    first = command_of(await admin.iq("set", TRANSPORT, command_xml("announce", "execute")))
    reply = await admin.iq("set", TRANSPORT, command_xml("announce", None, first.get("sessionid"), {"body": ""}))
    assert reply.get("type") == "error" and error_condition(reply) == "bad-request", dump(reply)
