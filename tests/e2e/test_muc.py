"""Legacy rooms as MUC rooms (XEP-0045) on the transport domain: #room@test.localhost.

The test network: rooms are created on first join; #banned refuses everyone; a nick held by
another member is refused.
"""

from __future__ import annotations

from harness.client import Stanza, User
from harness.gateway import TRANSPORT, register_and_login

NS_MUC = "http://jabber.org/protocol/muc"
NS_MUC_USER = "http://jabber.org/protocol/muc#user"
ROOM = f"#lobby@{TRANSPORT}"


def join(user: User, room: str, nick: str) -> None:
    user.send_raw(
        f"<presence to='{room}/{nick}'><x xmlns='{NS_MUC}'><history maxstanzas='0'/></x></presence>"
    )


def statuses(s: Stanza) -> set[str]:
    x = s.xml.find(f"{{{NS_MUC_USER}}}x")
    if x is None:
        return set()
    return {st.get("code") for st in x.findall(f"{{{NS_MUC_USER}}}status")}


async def expect_self_presence(user: User, room: str, nick: str | None = None, ptype: str = "available",
                               timeout: float = 10.0) -> Stanza:
    def match(s: Stanza) -> bool:
        return (
            s.kind == "presence"
            and s.from_bare == room
            and s.type == ptype
            and "110" in statuses(s)
            and (nick is None or s.frm == f"{room}/{nick}")
        )
    return await user.expect(match, timeout, what=f"self-presence ({ptype}, 110) from {room}")


async def expect_subject(user: User, room: str, timeout: float = 10.0) -> Stanza:
    return await user.expect(
        lambda s: s.kind == "message" and s.from_bare == room and s.type == "groupchat"
        and s.xml.find("{jabber:client}subject") is not None,
        timeout, what=f"subject message from {room}",
    )


async def test_join_gets_self_presence_then_subject(pontoon, connect):
    user = await connect("user1")
    await register_and_login(user, "alice", "secret")
    join(user, ROOM, "alice")
    me = await expect_self_presence(user, ROOM, "alice")
    item = me.xml.find(f"{{{NS_MUC_USER}}}x/{{{NS_MUC_USER}}}item")
    assert item is not None and item.get("role"), me
    await expect_subject(user, ROOM)


async def test_room_messages_reach_everyone_and_reflect(pontoon, connect):
    u1 = await connect("user1")
    u2 = await connect("user2")
    await register_and_login(u1, "alice", "secret")
    await register_and_login(u2, "bob", "secret")
    join(u1, ROOM, "alice")
    await expect_self_presence(u1, ROOM, "alice")
    join(u2, ROOM, "bob")
    await expect_self_presence(u2, ROOM, "bob")
    # alice sees bob arrive
    await u1.expect_presence(f"{ROOM}/bob", "available", timeout=10)
    u1.send_raw(f"<message to='{ROOM}' type='groupchat' id='m-1'><body>hello room</body></message>")
    got = await u2.expect(lambda s: s.kind == "message" and s.frm == f"{ROOM}/alice" and s.body == "hello room",
                          10, what="alice's room message at bob")
    assert got.type == "groupchat", got
    # XEP-0045 §7.2.2 (reflection): the sender gets its own message back, with its id
    own = await u1.expect(lambda s: s.kind == "message" and s.frm == f"{ROOM}/alice" and s.body == "hello room",
                          10, what="the reflection of alice's room message")
    assert own.xml.get("id") == "m-1", own


async def test_nick_in_use_is_conflict(pontoon, connect):
    u1 = await connect("user1")
    u2 = await connect("user2")
    await register_and_login(u1, "alice", "secret")
    await register_and_login(u2, "bob", "secret")
    join(u1, ROOM, "same")
    await expect_self_presence(u1, ROOM, "same")
    join(u2, ROOM, "same")
    err = await u2.expect(lambda s: s.kind == "presence" and s.from_bare == ROOM and s.type == "error", 10,
                          what="error presence for a nick in use")
    assert err.condition == "conflict", err


async def test_banned_room_is_forbidden(pontoon, connect):
    user = await connect("user1")
    await register_and_login(user, "alice", "secret")
    room = f"#banned@{TRANSPORT}"
    join(user, room, "alice")
    err = await user.expect(lambda s: s.kind == "presence" and s.from_bare == room and s.type == "error", 10,
                            what="error presence from #banned")
    assert err.condition == "forbidden", err


async def test_leave_room(pontoon, connect):
    u1 = await connect("user1")
    u2 = await connect("user2")
    await register_and_login(u1, "alice", "secret")
    await register_and_login(u2, "bob", "secret")
    join(u1, ROOM, "alice")
    await expect_self_presence(u1, ROOM, "alice")
    join(u2, ROOM, "bob")
    await expect_self_presence(u2, ROOM, "bob")
    u2.send_raw(f"<presence to='{ROOM}/bob' type='unavailable'/>")
    await expect_self_presence(u2, ROOM, "bob", ptype="unavailable")
    await u1.expect_presence(f"{ROOM}/bob", "unavailable", timeout=10)
