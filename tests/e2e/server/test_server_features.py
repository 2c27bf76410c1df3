"""Server mode, what an account offers beyond the roster: XEP-0280 carbons (slixmpp's
xep_0280 plugin on two resources of one account), bookmarks (XEP-0049 private storage,
XEP-0402 PEP), vCards of contacts (XEP-0054)."""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET

from harness.client import error_condition

TEST = "test.localhost"
NS_DISCO_INFO = "{http://jabber.org/protocol/disco#info}"


def _carbons(user) -> dict[str, list]:
    """Registers slixmpp's carbons plugin on a connected User; returns the lists its
    carbon_sent / carbon_received events fill (the forwarded inner messages)."""
    x = user.xmpp
    x.register_plugin("xep_0297")
    x.register_plugin("xep_0280")
    seen: dict[str, list] = {"sent": [], "received": []}
    x.add_event_handler("carbon_sent", lambda m: seen["sent"].append(m["carbon_sent"]))
    x.add_event_handler("carbon_received", lambda m: seen["received"].append(m["carbon_received"]))
    return seen


async def _until(pred, timeout: float = 10.0) -> None:
    for _ in range(int(timeout * 10)):
        if pred():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("condition not met in time")


async def test_carbons_copy_to_the_other_resource(make_server, sconnect):
    server = make_server()
    one = await sconnect(server, f"alice@{TEST}", "secret", resource="one")
    # `two` stays unavailable: messages to the bare JID reach only `one`, so `two` gets
    # them as <received> carbons.
    two = await sconnect(server, f"alice@{TEST}", "secret", resource="two", presence=False)
    for target in (TEST, None):
        reply = await one.iq("get", target, "<query xmlns='http://jabber.org/protocol/disco#info'/>")
        feats = {f.get("var") for f in reply.iter(NS_DISCO_INFO + "feature")}
        assert "urn:xmpp:carbons:2" in feats, (target, feats)
    seen = _carbons(two)
    await two.xmpp.plugin["xep_0280"].enable(timeout=10)
    # A private message is not copied.
    one.send_raw(f"<message to='echo@{TEST}' type='chat'><body>secret one</body>"
                 "<private xmlns='urn:xmpp:carbons:2'/><no-copy xmlns='urn:xmpp:hints'/></message>")
    await one.expect_message(f"echo@{TEST}", "echo: secret one")
    one.send_message(f"echo@{TEST}", "hello")
    await one.expect_message(f"echo@{TEST}", "echo: hello")
    await _until(lambda: seen["sent"] and seen["received"])
    await asyncio.sleep(0.5)
    sent_bodies = [m["body"] for m in seen["sent"]]
    received = [(m["from"].bare, m["body"]) for m in seen["received"]]
    assert sent_bodies == ["hello"], sent_bodies
    assert seen["sent"][0]["to"].bare == f"echo@{TEST}"
    # The answer to the private message is an ordinary one: copied too.
    assert received == [(f"echo@{TEST}", "echo: secret one"), (f"echo@{TEST}", "echo: hello")], received
    # Disabled: nothing more.
    await two.xmpp.plugin["xep_0280"].disable(timeout=10)
    one.send_message(f"echo@{TEST}", "after")
    await one.expect_message(f"echo@{TEST}", "echo: after")
    await asyncio.sleep(0.5)
    assert len(seen["sent"]) == 1 and len(seen["received"]) == 2, seen


NS_PUBSUB = "http://jabber.org/protocol/pubsub"
BOOKMARKS2 = "urn:xmpp:bookmarks:1"


async def test_bookmarks_survive_a_reconnect(make_server, sconnect):
    """XEP-0049 private storage (XEP-0048 bookmarks, through slixmpp's xep_0049 plugin) and
    XEP-0402 bookmarks in PEP (raw IQs), stored by Pontoon and found again after logging in
    again."""
    server = make_server()
    alice = await sconnect(server, f"alice@{TEST}", "secret", resource="one")
    reply = await alice.iq("get", None, "<query xmlns='http://jabber.org/protocol/disco#info'/>")
    feats = {f.get("var") for f in reply.iter(NS_DISCO_INFO + "feature")}
    assert {"jabber:iq:private", NS_PUBSUB + "#publish-options"} <= feats, feats
    assert BOOKMARKS2 + "#compat" not in feats
    # Private storage: nothing yet (the empty element comes back), then stored.
    reply = await alice.iq("get", None, "<query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'/></query>")
    assert reply.get("type") == "result", reply
    assert "conference" not in ET.tostring(reply, encoding="unicode")
    reply = await alice.iq(
        "set", None,
        "<query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'>"
        f"<conference jid='#old%net@{TEST}' autojoin='true' name='Old'><nick>alice</nick></conference>"
        "</storage></query>")
    assert reply.get("type") == "result", reply
    # PEP: publish two, retract one.
    for room, name in (("#a", "A"), ("#b", "B")):
        reply = await alice.iq(
            "set", None,
            f"<pubsub xmlns='{NS_PUBSUB}'><publish node='{BOOKMARKS2}'><item id='{room}%net@{TEST}'>"
            f"<conference xmlns='{BOOKMARKS2}' name='{name}' autojoin='true'><nick>alice</nick></conference>"
            "</item></publish><publish-options><x xmlns='jabber:x:data' type='submit'>"
            "<field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#publish-options</value></field>"
            "<field var='pubsub#persist_items'><value>true</value></field></x></publish-options></pubsub>")
        assert reply.get("type") == "result", reply
    reply = await alice.iq(
        "set", None,
        f"<pubsub xmlns='{NS_PUBSUB}'><retract node='{BOOKMARKS2}' notify='true'><item id='#b%net@{TEST}'/></retract></pubsub>")
    assert reply.get("type") == "result", reply
    # Other nodes are not stored.
    reply = await alice.iq("get", None, f"<pubsub xmlns='{NS_PUBSUB}'><items node='urn:xmpp:avatar:data'/></pubsub>")
    assert error_condition(reply) == "item-not-found", reply
    await alice.disconnect()
    await asyncio.sleep(0.5)

    alice = await sconnect(server, f"alice@{TEST}", "secret", resource="two")
    alice.xmpp.register_plugin("xep_0048")
    stored = await alice.xmpp.plugin["xep_0048"].get_bookmarks(method="xep_0049", timeout=10)
    confs = stored["private"]["bookmarks"]["conferences"]
    assert [(str(c["jid"]), c["nick"], c["autojoin"]) for c in confs] == [(f"#old%net@{TEST}", "alice", True)], stored
    reply = await alice.iq("get", None, f"<pubsub xmlns='{NS_PUBSUB}'><items node='{BOOKMARKS2}'/></pubsub>")
    assert reply.get("type") == "result", reply
    items = list(reply.iter(f"{{{NS_PUBSUB}}}item"))
    assert [i.get("id") for i in items] == [f"#a%net@{TEST}"], ET.tostring(reply, encoding="unicode")
    conf = items[0].find(f"{{{BOOKMARKS2}}}conference")
    assert conf is not None and conf.get("name") == "A"


async def test_vcards_of_contacts_and_of_the_account(make_server, sconnect):
    """XEP-0054: a contact's vCard carries the name the network knows it by; the account's
    own is empty until the client sets one, then that one comes back."""
    server = make_server()
    alice = await sconnect(server, f"alice@{TEST}", "secret")
    ns = "{vcard-temp}"
    reply = await alice.iq("get", f"echo@{TEST}", "<vCard xmlns='vcard-temp'/>")
    assert reply.get("type") == "result", reply
    card = reply.find(ns + "vCard")
    assert card is not None and card.findtext(ns + "FN") == "echo" and card.findtext(ns + "NICKNAME") == "echo", \
        ET.tostring(reply, encoding="unicode")
    reply = await alice.iq("get", None, "<vCard xmlns='vcard-temp'/>")
    card = reply.find(ns + "vCard")
    assert reply.get("type") == "result" and card is not None and len(card) == 0, ET.tostring(reply, encoding="unicode")
    reply = await alice.iq("set", None, "<vCard xmlns='vcard-temp'><FN>Alice</FN></vCard>")
    assert reply.get("type") == "result", reply
    reply = await alice.iq("get", f"alice@{TEST}", "<vCard xmlns='vcard-temp'/>")
    assert reply.find(ns + "vCard").findtext(ns + "FN") == "Alice", ET.tostring(reply, encoding="unicode")
