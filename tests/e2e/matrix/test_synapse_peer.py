"""The Matrix peer itself, without Pontoon: Synapse and the nio users behave as the Matrix
tests expect (a message crosses a room, a DM is what Element makes, a killed and restarted
homeserver keeps users, rooms and history, and the syncs resume)."""

from __future__ import annotations

import asyncio

import pytest
from harness.matrix import login


async def test_room_message_crosses(matrix_user):
    alice = await matrix_user("alice")
    bob = await matrix_user("bob")
    room = await alice.create_room(name="peer test", invite=[bob.user_id])
    assert await bob.wait_invite(room) == room
    assert await bob.join(room) == room
    # Bob's sync sees his own join before anything is said.
    await bob.wait_event(lambda s: s.room_id == room and getattr(s.event, "membership", None) == "join"
                         and s.event.state_key == bob.user_id, what="bob's join")

    event_id = await alice.send_text(room, "hello from alice")
    seen = await bob.wait_message(room, "hello from alice", sender=alice.user_id)
    assert seen.event_id == event_id

    await bob.send_text(room, "hello back")
    await alice.wait_message(room, "hello back", sender=bob.user_id)


async def test_dm_as_element_makes_it(matrix_user):
    alice = await matrix_user("alice")
    bob = await matrix_user("bob")
    room = await alice.create_dm(bob.user_id)
    assert await alice.account_data("m.direct") == {bob.user_id: [room]}

    await bob.wait_invite(room)
    # The invite says it is direct, as Element reads it.
    member = [e for e in bob.invites[room] if getattr(e, "state_key", None) == bob.user_id]
    assert member and member[0].content.get("is_direct") is True, bob.invites[room]
    await bob.join(room)
    await bob.mark_direct(room, alice.user_id)
    assert await bob.account_data("m.direct") == {alice.user_id: [room]}

    await bob.send_text(room, "dm text")
    await alice.wait_message(room, "dm text", sender=bob.user_id)


async def test_upload_over_the_limit_is_refused(matrix_user):
    """max_upload_size (10 MiB) holds: the limit the transport's media tests run into."""
    alice = await matrix_user("alice")
    status, body = await alice.api("GET", "/_matrix/client/v1/media/config")
    assert status == 200 and body["m.upload.size"] == 10 * 1024 * 1024, body

    status, body = await alice.upload(b"x" * (10 * 1024 * 1024 + 1), "big.bin")
    assert (status, body.get("errcode")) == (413, "M_TOO_LARGE"), body
    status, body = await alice.upload(b"small file", "small.txt", "text/plain")
    assert status == 200 and body["content_uri"].startswith("mxc://localhost/"), body
    assert await alice.download(body["content_uri"]) == (200, b"small file")
    # Only through the authenticated path: what the transport must use for Matrix media.
    media = body["content_uri"].removeprefix("mxc://")
    status, body = await alice.api("GET", f"/_matrix/media/v3/download/{media}")
    assert (status, body.get("errcode")) == (404, "M_NOT_FOUND"), body


@pytest.mark.timeout(90)
async def test_killed_and_restarted_keeps_users_rooms_and_history(make_synapse, matrix_user):
    synapse = make_synapse()
    alice = await matrix_user("alice", synapse=synapse)
    bob = await matrix_user("bob", synapse=synapse)
    room = await alice.create_room(invite=[bob.user_id])
    await bob.wait_invite(room)
    await bob.join(room)
    await alice.send_text(room, "before the crash")
    await bob.wait_message(room, "before the crash")

    assert synapse.kill() == -9
    await synapse_start(synapse)

    # The syncs of both running clients resume on their own (nio retries the refused
    # connections), and the room still works both ways.
    await alice.send_text(room, "after the restart")
    await bob.wait_message(room, "after the restart", sender=alice.user_id)
    await bob.send_text(room, "bob after the restart")
    await alice.wait_message(room, "bob after the restart", sender=bob.user_id)

    # A new login of the same user (password kept in the database) is in the room and reads
    # its whole history, from before the crash on.
    localpart = bob.user_id[1:].split(":")[0]
    again = await login(synapse, localpart, bob.password)
    try:
        assert room in again.client.rooms
        assert [m.body for m in await again.history(room)] == [
            "before the crash", "after the restart", "bob after the restart"]
    finally:
        await again.close()

    # A graceful stop and start as well.
    assert synapse.stop() == 0
    await synapse_start(synapse)
    await alice.send_text(room, "after the second restart")
    await bob.wait_message(room, "after the second restart")


async def synapse_start(synapse) -> float:
    """Starts it from a thread (start() blocks until the client API answers)."""
    return await asyncio.to_thread(synapse.start)


async def test_a_private_synapse_takes_overrides(make_synapse, matrix_user):
    """make_synapse(overrides=...) changes the config, e.g. low message limits for 429 tests."""
    synapse = make_synapse(overrides={"rc_message": {"per_second": 0.01, "burst_count": 3}})
    alice = await matrix_user("alice", synapse=synapse)
    room = await alice.create_room()
    # Room creation itself counts against rc_message, so the burst of 3 runs out within a few
    # sends: the first goes through, and the limit answers 429 within five.
    statuses = []
    for i in range(5):
        status, body = await alice.api("PUT", f"/_matrix/client/v3/rooms/{room}/send/m.room.message/t{i}",
                                       {"msgtype": "m.text", "body": f"message {i}"})
        statuses.append(status)
        if status == 429:
            break
    assert statuses[0] == 200 and statuses[-1] == 429, statuses
    assert body["errcode"] == "M_LIMIT_EXCEEDED" and body["retry_after_ms"] > 0, body
