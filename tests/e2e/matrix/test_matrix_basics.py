"""The Matrix transport against a real Synapse, in component mode: registering with a Matrix
account (Pontoon keeps a device, not the password), direct chats both ways, a room both ways,
and a session that comes back without losing or repeating what was said meanwhile."""

from __future__ import annotations

import asyncio

from harness.gateway import form_fields, get_registration_form, register
from harness.matrix import login
from harness.muc import chat, expect_groupchat, joined, say

MATRIX = "matrix.localhost"


def escaped(user_id: str) -> str:
    """The JID localpart of a Matrix user: the id without '@', ':' escaped per XEP-0106."""
    return user_id.lstrip("@").replace(":", "\\3a")


def contact_jid(user_id: str) -> str:
    return f"{escaped(user_id)}@{MATRIX}"


def room_jid(alias: str) -> str:
    return f"{alias.replace(':', chr(92) + '3a')}@{MATRIX}"


async def register_matrix(user, matrix_user) -> None:
    """XEP-0077 with the Matrix user's id and password; waits until the transport says the
    user is online (logged in, first sync done)."""
    await register(user, matrix_user.user_id, matrix_user.password, to=MATRIX)
    await user.expect_presence(MATRIX, "available", timeout=30)


async def test_registration_keeps_a_device_and_forgets_the_password(make_matrix_pontoon, connect, matrix_user,
                                                                    synapse):
    pontoon = make_matrix_pontoon()
    alice = await matrix_user("alice")
    user = await connect("user1")
    form = await get_registration_form(user, MATRIX)
    fields = form_fields(form)
    assert {"username", "password"} <= set(fields), list(fields)
    await register_matrix(user, alice)

    # Pontoon is a device of the account, under its own name.
    status, devices = await alice.api("GET", "/_matrix/client/v3/devices")
    assert status == 200, devices
    names = [d.get("display_name") for d in devices["devices"]]
    assert "Pontoon XMPP gateway" in names, names

    # The password is gone from the registration: the operator's list says no password.
    pontoon.wait_log(r"registration's password is deleted", 15, what="the password to be deleted")
    out = pontoon.cli("registrations", "list", "--transport", "matrix").stdout
    row = next(line for line in out.splitlines() if line.startswith("user1@"))
    assert row.split()[-1] == "-", f"the password column should say '-': {row!r}"

    # Offline and online again: the stored device logs in, no new device appears.
    user.send_presence(ptype="unavailable")
    await user.expect_presence(MATRIX, "unavailable", timeout=15)
    user.send_presence()
    await user.expect_presence(MATRIX, "available", timeout=30)
    status, devices = await alice.api("GET", "/_matrix/client/v3/devices")
    assert [d.get("display_name") for d in devices["devices"]].count("Pontoon XMPP gateway") == 1, devices


async def test_a_wrong_password_is_refused_in_words(make_matrix_pontoon, connect, matrix_user):
    make_matrix_pontoon()
    alice = await matrix_user("alice")
    user = await connect("user1")
    await register(user, alice.user_id, "not-the-password", to=MATRIX)
    msg = await user.expect(lambda s: s.kind == "message" and s.from_bare == MATRIX and s.body
                            and "wrong Matrix id or password" in s.body, 30,
                            what="the transport saying the login was refused")
    assert msg.body


async def test_direct_chat_both_ways(make_matrix_pontoon, connect, matrix_user, synapse):
    make_matrix_pontoon()
    alice = await matrix_user("alice")
    bob = await matrix_user("bob", displayname="Bob")
    user = await connect("user1")
    await register_matrix(user, alice)

    # Bob opens a direct chat the way Element does; Pontoon accepts it for Alice.
    room = await bob.create_dm(alice.user_id)
    await bob.wait_event(lambda seen: seen.room_id == room and getattr(seen.event, "membership", None) == "join"
                         and getattr(seen.event, "state_key", None) == alice.user_id, timeout=20,
                         what="Alice (Pontoon) accepting the direct chat")
    await bob.send_text(room, "hello from matrix")
    msg = await user.expect_message(contact_jid(bob.user_id), body="hello from matrix", timeout=20)
    assert msg.type == "chat", msg

    chat(user, contact_jid(bob.user_id), "hello from xmpp", mid="x1")
    got = await bob.wait_message(room, "hello from xmpp", timeout=20)
    assert got.sender == alice.user_id

    # Alice writes to Bob from Element (another device of hers): her XMPP client shows it as
    # hers (this server grants no XEP-0356 message permission, so from Bob, said to be hers),
    # and Bob gets it once.
    element = await login(synapse, alice.user_id.split(":")[0].lstrip("@"), alice.password,
                          device_name="Element", sync=False)
    try:
        await element.send_text(room, "typed in Element")
        await user.expect_message(contact_jid(bob.user_id), body="[you, from another client] typed in Element",
                                  timeout=20)
    finally:
        await element.close()
    await bob.wait_message(room, "typed in Element", timeout=20)
    assert not [s for s in user.inbox if s.body and "hello from xmpp" in s.body], "the gateway's own echo shown"


async def test_a_first_message_opens_a_direct_chat(make_matrix_pontoon, connect, matrix_user):
    make_matrix_pontoon()
    alice = await matrix_user("alice")
    carol = await matrix_user("carol")
    user = await connect("user1")
    await register_matrix(user, alice)
    chat(user, contact_jid(carol.user_id), "are you there?", mid="c1")
    room = await carol.wait_invite(timeout=20)
    await carol.join(room)
    got = await carol.wait_message(room, "are you there?", timeout=20)
    assert got.sender == alice.user_id
    # Element's way: the room is in Alice's m.direct, for Carol.
    direct = await alice.account_data("m.direct")
    assert room in direct.get(carol.user_id, []), direct
    await carol.send_text(room, "yes")
    await user.expect_message(contact_jid(carol.user_id), body="yes", timeout=20)


async def test_a_room_both_ways(make_matrix_pontoon, connect, matrix_user):
    make_matrix_pontoon()
    alice = await matrix_user("alice", displayname="Alice")
    bob = await matrix_user("bob", displayname="Bob")
    alias_local = f"r-{bob.user_id[1:].split(':')[0]}"
    await bob.create_room(name="Test room", alias=alias_local, public=True, topic="about tests")
    alias = f"#{alias_local}:localhost"
    user = await connect("user1")
    await register_matrix(user, alice)

    me = await joined(user, room_jid(alias), "alice", timeout=30)
    assert me.frm == f"{room_jid(alias)}/Alice", me.frm
    await bob.send_text(await bob.join(alias), "hi room")
    await expect_groupchat(user, room_jid(alias), "Bob", "hi room", timeout=20)

    say(user, room_jid(alias), "hi from xmpp", mid="m1", origin_id="o1")
    # The reflection of the user's own message carries its origin-id back.
    echo = await expect_groupchat(user, room_jid(alias), "Alice", "hi from xmpp", timeout=20)
    origin = echo.xml.find("{urn:xmpp:sid:0}origin-id")
    assert origin is not None and origin.get("id") == "o1", echo
    room_id = await bob.join(alias)
    got = await bob.wait_message(room_id, "hi from xmpp", timeout=20)
    assert got.sender == alice.user_id


async def test_coming_back_catches_up_without_repeats(make_matrix_pontoon, connect, matrix_user):
    make_matrix_pontoon()
    alice = await matrix_user("alice")
    bob = await matrix_user("bob")
    user = await connect("user1")
    await register_matrix(user, alice)
    room = await bob.create_dm(alice.user_id)
    await bob.send_text(room, "first")
    await user.expect_message(contact_jid(bob.user_id), body="first", timeout=20)

    user.send_presence(ptype="unavailable")
    await user.expect_presence(MATRIX, "unavailable", timeout=15)
    await bob.send_text(room, "while you were away")
    user.send_presence()
    got = await user.expect_message(contact_jid(bob.user_id), body="while you were away", timeout=30)
    assert got.xml.find("{urn:xmpp:delay}delay") is not None, "a caught-up message carries its time"
    await bob.send_text(room, "live again")
    await user.expect_message(contact_jid(bob.user_id), body="live again", timeout=20)
    await user.expect_none(lambda s: s.kind == "message" and s.body == "first", 1.0,
                           what="the message from before going offline, again")
    await asyncio.sleep(0)


async def pontoon_devices(matrix_user) -> list:
    status, devices = await matrix_user.api("GET", "/_matrix/client/v3/devices")
    assert status == 200, devices
    return [d for d in devices["devices"] if d.get("display_name") == "Pontoon XMPP gateway"]


async def test_unregistering_logs_the_device_out(make_matrix_pontoon, connect, matrix_user):
    make_matrix_pontoon()
    alice = await matrix_user("alice")
    user = await connect("user1")
    await register_matrix(user, alice)
    assert len(await pontoon_devices(alice)) == 1
    reply = await user.iq("set", MATRIX, "<query xmlns='jabber:iq:register'><remove/></query>")
    assert reply.get("type") == "result", reply
    for _ in range(50):
        if not await pontoon_devices(alice):
            break
        await asyncio.sleep(0.2)
    assert await pontoon_devices(alice) == [], "Pontoon's device is still on the account"


async def test_an_operator_deleting_the_registration_logs_the_device_out(make_matrix_pontoon, connect,
                                                                         matrix_user):
    import urllib.request

    pontoon = make_matrix_pontoon()
    alice = await matrix_user("alice")
    user = await connect("user1")
    await register_matrix(user, alice)
    assert len(await pontoon_devices(alice)) == 1
    token = pontoon.create_token("ops")
    req = urllib.request.Request(f"{pontoon.admin_url}/api/v1/registrations/matrix/user1@localhost",
                                 method="DELETE", headers={"Authorization": f"Bearer {token}"})
    status = await asyncio.to_thread(lambda: urllib.request.urlopen(req, timeout=30).status)
    assert status in (200, 204), status
    await user.expect_presence(MATRIX, "unavailable", timeout=15)
    for _ in range(50):
        if not await pontoon_devices(alice):
            break
        await asyncio.sleep(0.2)
    assert await pontoon_devices(alice) == [], "Pontoon's device is still on the account"
    assert "user1@" not in pontoon.cli("registrations", "list", "--transport", "matrix").stdout
