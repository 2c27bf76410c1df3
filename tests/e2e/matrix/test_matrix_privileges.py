"""The Matrix transport with a host server that grants it privileges (XEP-0356, Prosody's
mod_privilege): the rooms the user is in on Matrix are in their XMPP bookmarks (XEP-0402),
and what they write to a contact in Element reaches their XMPP clients as a carbon of a
message they sent (XEP-0280)."""

from __future__ import annotations

import asyncio

import pytest

from harness.matrix import login
from harness.muc import chat
from test_matrix_basics import MATRIX, contact_jid, register_matrix, room_jid

PUBSUB = "http://jabber.org/protocol/pubsub"
CARBONS = "urn:xmpp:carbons:2"
GRANTED = {MATRIX: {"roster": "both", "message": "outgoing", "iq": {PUBSUB: "both"}}}


@pytest.mark.parametrize("prosody", [GRANTED], indirect=True, ids=["privileged"])
async def test_rooms_are_bookmarked_and_element_messages_are_carbons(prosody, make_matrix_pontoon, connect,
                                                                    matrix_user, synapse):
    make_matrix_pontoon()
    alice = await matrix_user("alice", displayname="Alice")
    bob = await matrix_user("bob", displayname="Bob")
    # Alice is in a room before she registers (joined in Element).
    alias_local = f"b-{alice.user_id[1:].split(':')[0]}"
    await alice.create_room(name="Book club", alias=alias_local)
    alias = f"#{alias_local}:localhost"
    user = await connect("user1")
    enabled = await user.iq("set", None, f"<enable xmlns='{CARBONS}'/>")
    assert enabled.get("type") == "result", enabled
    await register_matrix(user, alice)

    for _ in range(200):
        conf = (await user.bookmarks()).get(room_jid(alias))
        if conf:
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError(f"{alias} not bookmarked: {await user.bookmarks()}")
    assert conf == {"autojoin": "false", "name": "Book club"}, conf

    # A direct chat with Bob; Alice writes in it from Element.
    room = await bob.create_dm(alice.user_id)
    await bob.send_text(room, "hello alice")
    await user.expect_message(contact_jid(bob.user_id), body="hello alice", timeout=20)
    element = await login(synapse, alice.user_id.split(":")[0].lstrip("@"), alice.password,
                          device_name="Element", sync=False)
    try:
        await element.send_text(room, "typed in Element")
    finally:
        await element.close()
    carbon = await user.expect(lambda s: s.kind == "message" and s.xml.find(f"{{{CARBONS}}}sent") is not None,
                               20, what="the carbon")
    inner = carbon.xml.find(f"{{{CARBONS}}}sent/{{urn:xmpp:forward:0}}forwarded/{{jabber:client}}message")
    assert inner is not None and inner.get("to") == contact_jid(bob.user_id), carbon
    assert inner.findtext("{jabber:client}body") == "typed in Element"
    # Bob got it once: the carbon did not go back to Matrix.
    chat(user, contact_jid(bob.user_id), "and from xmpp", mid="x2")
    await bob.wait_message(room, "and from xmpp", timeout=20)
    texts = [m.body for m in await bob.history(room)]
    assert texts.count("typed in Element") == 1, texts
