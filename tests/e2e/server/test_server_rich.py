"""Server mode on the rich test network (`rich = "true"`: every verb native, a contact
list, person ids), as Matrix will be: what a user's client sees when the network carries
the verbs instead of the gateway writing them out. Two users of the network, each logged in
through Pontoon, and a contact list that is the roster."""

from __future__ import annotations

import asyncio

TEST = "test.localhost"
RICH = {"rich": "true"}
RECEIPTS = "urn:xmpp:receipts"
MARKERS = "urn:xmpp:chat-markers:0"
CORRECT = "urn:xmpp:message-correct:0"
RETRACT = "urn:xmpp:message-retract:1"


def _child(stanza, name: str, ns: str):
    return stanza.xml.find(f"{{{ns}}}{name}")


async def _until(pred, timeout: float = 10.0, what: str = "condition") -> None:
    for _ in range(int(timeout * 10)):
        if await pred():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{what}: not met in {timeout} s")


async def test_the_network_contact_list_is_the_roster(make_server, sconnect):
    server = make_server(test_options=RICH)
    alice = await sconnect(server, f"alice@{TEST}", "pw")

    async def roster_has(jid: str, name: str | None):
        roster = await alice.roster()
        return jid in roster and roster[jid].get("name") == name

    # The network lists echo, named Echo: it is in the roster without a request to accept.
    await _until(lambda: roster_has(f"echo@{TEST}", "Echo"), what="echo in the roster")
    alice.send_message(TEST, "friend bob Bobby")
    await _until(lambda: roster_has(f"bob@{TEST}", "Bobby"), what="bob added as Bobby")
    alice.send_message(TEST, "unfriend bob")

    async def bob_gone():
        return f"bob@{TEST}" not in await alice.roster()

    await _until(bob_gone, what="bob removed from the roster")


async def test_receipts_markers_corrections_and_retractions_are_native(make_server, sconnect):
    server = make_server(test_options=RICH)
    alice = await sconnect(server, f"alice@{TEST}", "pw", resource="phone")
    bob = await sconnect(server, f"bob@{TEST}", "pw", resource="laptop")
    # What bob's chat with alice takes: the network's verbs, exactly.
    info = await alice.iq("get", f"bob@{TEST}", "<query xmlns='http://jabber.org/protocol/disco#info'/>")
    feats = {f.get("var") for f in info.iter("{http://jabber.org/protocol/disco#info}feature")}
    for f in (RECEIPTS, MARKERS, RETRACT, CORRECT):
        assert f in feats, (f, feats)

    alice.send_raw(
        f"<message to='bob@{TEST}' type='chat' id='m1'><body>hi bob</body>"
        f"<request xmlns='{RECEIPTS}'/><markable xmlns='{MARKERS}'/>"
        "<origin-id xmlns='urn:xmpp:sid:0' id='m1'/></message>"
    )
    got = await bob.expect_message(f"alice@{TEST}", "hi bob")
    bob_id = got.xml.get("id")
    assert bob_id, "bob's copy has an id to name it by"
    assert _child(got, "markable", MARKERS) is not None, "a network with read markers: markable"
    # The network delivered it: alice's client gets a receipt for her own id.
    receipt = await alice.expect(lambda s: _child(s, "received", RECEIPTS) is not None, what="receipt")
    assert receipt.from_bare == f"bob@{TEST}"
    assert _child(receipt, "received", RECEIPTS).get("id") == "m1"
    # Bob's client shows it: alice's client learns it was read.
    bob.send_raw(f"<message to='alice@{TEST}' type='chat'><displayed xmlns='{MARKERS}' id='{bob_id}'/></message>")
    shown = await alice.expect(lambda s: _child(s, "displayed", MARKERS) is not None, what="displayed marker")
    assert _child(shown, "displayed", MARKERS).get("id") == "m1"
    # Alice corrects it: bob's client replaces the message it has, not a new line.
    alice.send_raw(
        f"<message to='bob@{TEST}' type='chat' id='m2'><body>hi Bob</body>"
        f"<replace xmlns='{CORRECT}' id='m1'/></message>"
    )
    fixed = await bob.expect_message(f"alice@{TEST}", "hi Bob")
    assert _child(fixed, "replace", CORRECT).get("id") == bob_id
    # A client whose origin-id differs from its id: deleted by the origin-id, as XEP-0424
    # says for direct chats; bob's client is told which message it had.
    alice.send_raw(
        f"<message to='bob@{TEST}' type='chat' id='m4'><body>second</body>"
        "<origin-id xmlns='urn:xmpp:sid:0' id='o4'/></message>"
    )
    second = await bob.expect_message(f"alice@{TEST}", "second")
    await alice.expect(lambda s: _child(s, "received", RECEIPTS) is not None
                       and _child(s, "received", RECEIPTS).get("id") == "m4", what="receipt for m4")
    alice.send_raw(f"<message to='bob@{TEST}' type='chat' id='m5'><retract xmlns='{RETRACT}' id='o4'/>"
                   "<body>retracted</body></message>")
    gone = await bob.expect(lambda s: _child(s, "retract", RETRACT) is not None, what="retraction of o4")
    assert _child(gone, "retract", RETRACT).get("id") == second.xml.get("id")
    # Alice deletes the first: bob's client is told which message.
    alice.send_raw(f"<message to='bob@{TEST}' type='chat' id='m3'><retract xmlns='{RETRACT}' id='m1'/>"
                   "<body>retracted</body></message>")
    gone = await bob.expect(lambda s: _child(s, "retract", RETRACT) is not None, what="retraction")
    assert _child(gone, "retract", RETRACT).get("id") == bob_id


async def test_a_message_sent_from_another_client_is_a_carbon(make_server, sconnect):
    """Server mode is the user's server: what they wrote to a contact from another client of
    the network reaches their carbons-enabled clients as a `<sent>` carbon (XEP-0280)."""
    server = make_server(test_options=RICH)
    alice = await sconnect(server, f"alice@{TEST}", "pw", resource="phone")
    enabled = await alice.iq("set", None, "<enable xmlns='urn:xmpp:carbons:2'/>")
    assert enabled.get("type") == "result", enabled
    alice.send_message(TEST, "elsewhere bob typed in another app")
    carbon = await alice.expect(lambda s: s.kind == "message"
                                and s.xml.find("{urn:xmpp:carbons:2}sent") is not None, what="the carbon")
    assert carbon.from_bare == f"alice@{TEST}", carbon
    inner = carbon.xml.find("{urn:xmpp:carbons:2}sent/{urn:xmpp:forward:0}forwarded/{jabber:client}message")
    assert inner is not None, carbon
    assert (inner.get("from"), inner.get("to")) == (f"alice@{TEST}", f"bob@{TEST}"), inner.attrib
    assert inner.findtext("{jabber:client}body") == "typed in another app"
