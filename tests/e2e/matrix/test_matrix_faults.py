"""The homeserver going away mid-conversation: Synapse killed and started again. The user is told;
messages sent meanwhile wait and go out in order once it is back, or are bounced with an error
after the configured deadline; nothing is lost or repeated."""

from __future__ import annotations

import pytest

from harness.muc import chat
from test_matrix_basics import MATRIX, contact_jid, register_matrix


@pytest.mark.timeout(120)
async def test_synapse_killed_and_restarted_mid_conversation(make_synapse, make_matrix_pontoon, connect,
                                                             matrix_user):
    hs = make_synapse()
    make_matrix_pontoon(synapse=hs, options={"send_deadline_secs": "60"})
    alice = await matrix_user("alice", synapse=hs)
    bob = await matrix_user("bob", synapse=hs)
    user = await connect("user1")
    await register_matrix(user, alice)
    room = await bob.create_dm(alice.user_id)
    await bob.send_text(room, "before")
    await user.expect_message(contact_jid(bob.user_id), body="before", timeout=20)

    hs.kill()
    await user.expect(lambda s: s.kind == "message" and s.from_bare == MATRIX and s.body
                      and "Pontoon keeps trying" in s.body, 60, what="the notice that the homeserver is away")
    for i in range(1, 4):
        chat(user, contact_jid(bob.user_id), f"during {i}", mid=f"d{i}")

    hs.start()
    await user.expect(lambda s: s.kind == "message" and s.from_bare == MATRIX and s.body
                      and "answers again" in s.body, 60, what="the notice that the homeserver is back")
    for i in range(1, 4):
        await bob.wait_message(room, f"during {i}", timeout=60)
    bodies = [s.event.body for s in bob.events if s.room_id == room and getattr(s.event, "body", "").startswith("during")]
    assert bodies == ["during 1", "during 2", "during 3"], f"in order and once each: {bodies}"

    await bob.send_text(room, "after")
    await user.expect_message(contact_jid(bob.user_id), body="after", timeout=30)
    await user.expect_none(lambda s: s.kind == "message" and s.body == "before", 1.0,
                           what="the message from before the outage, again")


@pytest.mark.timeout(120)
async def test_a_message_waiting_past_the_deadline_is_bounced(make_synapse, make_matrix_pontoon, connect,
                                                              matrix_user):
    hs = make_synapse()
    make_matrix_pontoon(synapse=hs, options={"send_deadline_secs": "5"})
    alice = await matrix_user("alice", synapse=hs)
    bob = await matrix_user("bob", synapse=hs)
    user = await connect("user1")
    await register_matrix(user, alice)
    room = await bob.create_dm(alice.user_id)
    await bob.send_text(room, "hi")
    await user.expect_message(contact_jid(bob.user_id), body="hi", timeout=20)

    hs.kill()
    chat(user, contact_jid(bob.user_id), "too late", mid="late1")
    err = await user.expect(lambda s: s.kind == "message" and s.type == "error" and s.xml.get("id") == "late1",
                            40, what="the bounce of the message that waited too long")
    assert err.condition == "recipient-unavailable", err
    hs.start()
    await bob.send_text(room, "back")
    await user.expect_message(contact_jid(bob.user_id), body="back", timeout=60)
