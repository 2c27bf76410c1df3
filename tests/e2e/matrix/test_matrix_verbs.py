"""Rich messaging both ways between an XMPP client and a Matrix user, on a real Synapse: reactions
(XEP-0444 <-> m.annotation), corrections (XEP-0308 <-> m.replace), retractions (XEP-0424 <->
redactions), replies (XEP-0461 <-> m.in_reply_to), typing (XEP-0085 <-> m.typing) and read
markers (XEP-0333 <-> m.read receipts)."""

from __future__ import annotations


from harness.muc import chat
from test_matrix_basics import contact_jid, register_matrix

NS_REACT = "urn:xmpp:reactions:0"
NS_CORRECT = "urn:xmpp:message-correct:0"
NS_RETRACT = "urn:xmpp:message-retract:1"
NS_REPLY = "urn:xmpp:reply:0"
NS_STATES = "http://jabber.org/protocol/chatstates"
NS_MARKERS = "urn:xmpp:chat-markers:0"


def src(seen) -> dict:
    return getattr(seen.event, "source", {}) or {}


def relates(seen) -> dict:
    return src(seen).get("content", {}).get("m.relates_to", {}) or {}


async def dm_pair(make_matrix_pontoon, connect, matrix_user):
    """Alice (through Pontoon, XMPP user1) and Bob (Matrix) in a direct chat, with one message
    each way already across; returns (user, bob, room, bob_jid)."""
    make_matrix_pontoon()
    alice = await matrix_user("alice")
    bob = await matrix_user("bob", displayname="Bob")
    user = await connect("user1")
    await register_matrix(user, alice)
    room = await bob.create_dm(alice.user_id)
    await bob.send_text(room, "ready?")
    await user.expect_message(contact_jid(bob.user_id), body="ready?", timeout=20)
    return user, bob, room, contact_jid(bob.user_id), alice


async def test_verbs_from_xmpp_reach_matrix(make_matrix_pontoon, connect, matrix_user):
    user, bob, room, bob_jid, alice = await dm_pair(make_matrix_pontoon, connect, matrix_user)
    first = await bob.send_text(room, "react to me")
    msg = await user.expect_message(bob_jid, body="react to me", timeout=20)

    # A reaction (XEP-0444) to Bob's message becomes an m.annotation on its event.
    user.send_raw(f"<message to='{bob_jid}' type='chat' id='r1'>"
                  f"<reactions xmlns='{NS_REACT}' id='{msg.xml.get('id')}'><reaction>👍</reaction></reactions></message>")
    await bob.wait_event(lambda s: s.room_id == room and relates(s).get("rel_type") == "m.annotation"
                         and relates(s).get("event_id") == first and relates(s).get("key") == "👍",
                         timeout=20, what="Alice's reaction")

    # A message, then its correction (XEP-0308): an m.replace with the new text.
    chat(user, bob_jid, "helo", mid="x1")
    sent = await bob.wait_message(room, "helo", timeout=20)
    user.send_raw(f"<message to='{bob_jid}' type='chat' id='x2'><body>hello</body>"
                  f"<replace xmlns='{NS_CORRECT}' id='x1'/></message>")
    await bob.wait_event(lambda s: relates(s).get("rel_type") == "m.replace"
                         and relates(s).get("event_id") == sent.event_id
                         and src(s)["content"].get("m.new_content", {}).get("body") == "hello",
                         timeout=20, what="the correction as m.replace")

    # A reply (XEP-0461) names Bob's message in m.in_reply_to.
    user.send_raw(f"<message to='{bob_jid}' type='chat' id='x3'><body>yes</body>"
                  f"<reply xmlns='{NS_REPLY}' to='{bob_jid}' id='{msg.xml.get('id')}'/></message>")
    got = await bob.wait_message(room, "yes", timeout=20)
    assert got.source["content"]["m.relates_to"]["m.in_reply_to"]["event_id"] == first, got.source

    # A retraction (XEP-0424) of Alice's own message redacts it.
    user.send_raw(f"<message to='{bob_jid}' type='chat' id='x4'>"
                  f"<retract xmlns='{NS_RETRACT}' id='x1'/><body>retracted</body></message>")
    await bob.wait_event(lambda s: src(s).get("type") == "m.room.redaction"
                         and (src(s).get("redacts") or src(s)["content"].get("redacts")) == sent.event_id,
                         timeout=20, what="the redaction of Alice's message")

    # Reading Bob's message (XEP-0333 displayed) is a read receipt on it.
    user.send_raw(f"<message to='{bob_jid}' type='chat' id='x5'><displayed xmlns='{NS_MARKERS}' id='{msg.xml.get('id')}'/></message>")

    def read_by_alice():
        return any(r.event_id == first and r.user_id == alice.user_id and r.receipt_type == "m.read"
                   for seen in bob.ephemeral if seen.room_id == room
                   for r in getattr(seen.event, "receipts", []))

    await bob.wait_for(read_by_alice, timeout=20, what="Alice's read receipt on Bob's message")


async def test_verbs_from_matrix_reach_xmpp(make_matrix_pontoon, connect, matrix_user):
    user, bob, room, bob_jid, alice = await dm_pair(make_matrix_pontoon, connect, matrix_user)

    # Bob reacts to Alice's message: the XMPP client sees a reaction to its own id.
    chat(user, bob_jid, "do you like it?", mid="mine-1")
    mine = await bob.wait_message(room, "do you like it?", timeout=20)
    status, _ = await bob.api("PUT", f"/_matrix/client/v3/rooms/{room}/send/m.reaction/t1",
                              {"m.relates_to": {"rel_type": "m.annotation", "event_id": mine.event_id, "key": "❤"}})
    assert status == 200
    r = await user.expect(lambda s: s.kind == "message" and s.from_bare == bob_jid
                          and s.xml.find(f"{{{NS_REACT}}}reactions") is not None, 20, what="Bob's reaction")
    reactions = r.xml.find(f"{{{NS_REACT}}}reactions")
    assert reactions.get("id") == "mine-1", reactions.attrib
    assert [e.text for e in reactions] == ["❤"]

    # Bob edits his message: a correction of the message the client has.
    orig = await bob.send_text(room, "teh plan")
    shown = await user.expect_message(bob_jid, body="teh plan", timeout=20)
    await bob.send_text(room, "* the plan", **{"m.new_content": {"msgtype": "m.text", "body": "the plan"},
                                                "m.relates_to": {"rel_type": "m.replace", "event_id": orig}})
    fixed = await user.expect(lambda s: s.kind == "message" and s.from_bare == bob_jid
                              and s.xml.find(f"{{{NS_CORRECT}}}replace") is not None, 20, what="Bob's correction")
    assert fixed.body == "the plan", fixed.body
    assert fixed.xml.find(f"{{{NS_CORRECT}}}replace").get("id") == shown.xml.get("id")

    # Bob replies to Alice's message: XEP-0461 names the client's own id.
    await bob.send_text(room, "sure", **{"m.relates_to": {"m.in_reply_to": {"event_id": mine.event_id}}})
    reply = await user.expect_message(bob_jid, body="sure", timeout=20)
    assert reply.xml.find(f"{{{NS_REPLY}}}reply").get("id") == "mine-1", reply

    # Bob types: composing, then active when he stops.
    await bob.client.room_typing(room, True, timeout=10000)
    await user.expect(lambda s: s.kind == "message" and s.from_bare == bob_jid
                      and s.xml.find(f"{{{NS_STATES}}}composing") is not None, 20, what="Bob typing")
    await bob.client.room_typing(room, False)
    await user.expect(lambda s: s.kind == "message" and s.from_bare == bob_jid
                      and s.xml.find(f"{{{NS_STATES}}}active") is not None, 20, what="Bob stopped typing")

    # Bob reads Alice's message: a displayed marker for its id.
    await bob.client.room_read_markers(room, mine.event_id, mine.event_id)
    marker = await user.expect(lambda s: s.kind == "message" and s.from_bare == bob_jid
                               and s.xml.find(f"{{{NS_MARKERS}}}displayed") is not None, 20, what="Bob's read marker")
    assert marker.xml.find(f"{{{NS_MARKERS}}}displayed").get("id") == "mine-1", marker

    # Bob deletes his message: a retraction of the message the client has.
    await bob.client.room_redact(room, orig, reason="oops")
    gone = await user.expect(lambda s: s.kind == "message" and s.from_bare == bob_jid
                             and s.xml.find(f"{{{NS_RETRACT}}}retract") is not None, 20, what="Bob's deletion")
    assert gone.xml.find(f"{{{NS_RETRACT}}}retract").get("id") == shown.xml.get("id"), gone
