"""Matrix rooms as MUC rooms, against a real Synapse: the joined rooms and a homeserver's public
rooms in service discovery, power levels as roles and affiliations, kicks and bans, invitations
(XEP-0249), and contacts named as their profiles say."""

from __future__ import annotations

from urllib.parse import quote

from harness.client import NS_DISCO_ITEMS, dump, error_condition
from harness.muc import expect_occupant, item, joined, statuses
from test_matrix_basics import MATRIX, contact_jid, register_matrix, room_jid


def disco_items(reply) -> dict[str, str | None]:
    query = reply.find(f"{{{NS_DISCO_ITEMS}}}query")
    assert query is not None, dump(reply)
    return {i.get("jid"): i.get("name") for i in query.findall(f"{{{NS_DISCO_ITEMS}}}item")}


async def test_joined_and_public_rooms_are_listed(make_matrix_pontoon, connect, matrix_user):
    make_matrix_pontoon()
    alice = await matrix_user("alice")
    bob = await matrix_user("bob")
    local = f"lobby-{bob.user_id[1:].split(':')[0]}"
    room = await bob.create_room(name="The Lobby", alias=local, public=True)
    status, _ = await bob.api("PUT", f"/_matrix/client/v3/directory/list/room/{quote(room)}",
                              {"visibility": "public"})
    assert status == 200
    await alice.join(room)
    user = await connect("user1")
    await register_matrix(user, alice)
    alias = f"#{local}:localhost"

    joined_rooms = disco_items(await user.iq("get", MATRIX, f"<query xmlns='{NS_DISCO_ITEMS}'/>"))
    assert joined_rooms.get(room_jid(alias)) == "The Lobby", joined_rooms

    public = disco_items(await user.iq("get", f"localhost@{MATRIX}", f"<query xmlns='{NS_DISCO_ITEMS}'/>"))
    assert room_jid(alias) in public, public


async def test_power_levels_kicks_and_bans(make_matrix_pontoon, connect, matrix_user):
    make_matrix_pontoon()
    alice = await matrix_user("alice", displayname="Alice")
    bob = await matrix_user("bob", displayname="Bob")
    carol = await matrix_user("carol", displayname="Carol")
    local = f"mods-{bob.user_id[1:].split(':')[0]}"
    room = await bob.create_room(name="Mods", alias=local, public=True)
    alias = f"#{local}:localhost"
    await carol.join(room)
    user = await connect("user1")
    await register_matrix(user, alice)
    await joined(user, room_jid(alias), "alice", timeout=30)
    rj = room_jid(alias)

    # Bob created the room (power 100): owner and moderator; Carol is a member.
    bob_p = await expect_occupant(user, rj, "Bob", timeout=20)
    assert (item(bob_p)["affiliation"], item(bob_p)["role"]) == ("owner", "moderator"), item(bob_p)
    carol_p = await expect_occupant(user, rj, "Carol", timeout=20)
    assert (item(carol_p)["affiliation"], item(carol_p)["role"]) == ("member", "participant")

    # Carol raised to 50: admin.
    status, pl = await bob.api("GET", f"/_matrix/client/v3/rooms/{quote(room)}/state/m.room.power_levels/")
    assert status == 200, pl
    pl["users"][carol.user_id] = 50
    status, _ = await bob.api("PUT", f"/_matrix/client/v3/rooms/{quote(room)}/state/m.room.power_levels/", pl)
    assert status == 200
    await expect_occupant(user, rj, "Carol", timeout=20, pred=lambda s: item(s).get("affiliation") == "admin")
    pl["users"][carol.user_id] = 0
    await bob.api("PUT", f"/_matrix/client/v3/rooms/{quote(room)}/state/m.room.power_levels/", pl)
    await expect_occupant(user, rj, "Carol", timeout=20, pred=lambda s: item(s).get("affiliation") == "member")

    # Kicked: 307 with who and why; banned after joining again: 301, outcast.
    status, _ = await bob.api("POST", f"/_matrix/client/v3/rooms/{quote(room)}/kick",
                              {"user_id": carol.user_id, "reason": "cool down"})
    assert status == 200
    kicked = await expect_occupant(user, rj, "Carol", ptype="unavailable", timeout=20)
    assert "307" in statuses(kicked), kicked
    assert item(kicked).get("reason") == "Kicked by Bob: cool down", item(kicked)
    await carol.join(room)
    await expect_occupant(user, rj, "Carol", timeout=20)
    status, _ = await bob.api("POST", f"/_matrix/client/v3/rooms/{quote(room)}/ban",
                              {"user_id": carol.user_id, "reason": "enough"})
    assert status == 200
    banned = await expect_occupant(user, rj, "Carol", ptype="unavailable", timeout=20)
    assert "301" in statuses(banned), banned
    assert item(banned).get("affiliation") == "outcast", item(banned)


async def test_invitations_and_contact_names(make_matrix_pontoon, connect, matrix_user):
    make_matrix_pontoon()
    alice = await matrix_user("alice")
    bob = await matrix_user("bob", displayname="Bobby Tables")
    user = await connect("user1")
    await register_matrix(user, alice)

    # A direct chat: the new contact asks to be in the roster under the name of its profile.
    await bob.create_dm(alice.user_id)
    sub = await user.expect(lambda s: s.kind == "presence" and s.type == "subscribe"
                            and s.from_bare == contact_jid(bob.user_id), 20, what="Bob's subscription request")
    nick = sub.xml.find("{http://jabber.org/protocol/nick}nick")
    assert nick is not None and nick.text == "Bobby Tables", sub

    # A room invitation is a XEP-0249 invitation to the room's JID, from Bob.
    room = await bob.create_room(name="Party", invite=[alice.user_id])
    inv = await user.expect(lambda s: s.kind == "message"
                            and s.xml.find("{jabber:x:conference}x") is not None, 20, what="the invitation")
    x = inv.xml.find("{jabber:x:conference}x")
    assert x.get("jid") == room_jid(escape_case(room)), (x.attrib, room)


def escape_case(text: str) -> str:
    """Pontoon's escape for mixed-case ids (docs/matrix.md): an uppercase letter is '^' and
    the letter in lowercase."""
    return "".join(f"^{c.lower()}" if c.isupper() else ("^^" if c == "^" else c) for c in text)


async def test_a_moderator_kicks_and_bans_from_xmpp(make_matrix_pontoon, connect, matrix_user):
    make_matrix_pontoon()
    alice = await matrix_user("alice", displayname="Alice")
    carol = await matrix_user("carol", displayname="Carol")
    local = f"own-{alice.user_id[1:].split(':')[0]}"
    room = await alice.create_room(name="Alice's", alias=local, public=True)
    await carol.join(room)
    user = await connect("user1")
    await register_matrix(user, alice)
    rj = room_jid(f"#{local}:localhost")
    await joined(user, rj, "alice", timeout=30)
    await expect_occupant(user, rj, "Carol", timeout=20)

    admin = "http://jabber.org/protocol/muc#admin"
    reply = await user.iq("set", rj, f"<query xmlns='{admin}'><item nick='Carol' role='none'>"
                                     "<reason>a break</reason></item></query>")
    assert reply.get("type") == "result", dump(reply)
    kicked = await expect_occupant(user, rj, "Carol", ptype="unavailable", timeout=20)
    assert "307" in statuses(kicked), kicked
    status, member = await alice.api(
        "GET", f"/_matrix/client/v3/rooms/{quote(room)}/state/m.room.member/{quote(carol.user_id)}")
    assert (status, member.get("membership"), member.get("reason")) == (200, "leave", "a break"), member

    await carol.join(room)
    await expect_occupant(user, rj, "Carol", timeout=20)
    reply = await user.iq("set", rj, f"<query xmlns='{admin}'><item nick='Carol' affiliation='outcast'/></query>")
    assert reply.get("type") == "result", dump(reply)
    banned = await expect_occupant(user, rj, "Carol", ptype="unavailable", timeout=20)
    assert "301" in statuses(banned), banned

    # Nobody by that nick: item-not-found; another kind of admin request: not implemented.
    reply = await user.iq("set", rj, f"<query xmlns='{admin}'><item nick='Nobody' role='none'/></query>")
    assert error_condition(reply) == "item-not-found", dump(reply)
    reply = await user.iq("set", rj, f"<query xmlns='{admin}'><item nick='Carol' role='participant'/></query>")
    assert error_condition(reply) == "feature-not-implemented", dump(reply)


async def test_public_rooms_are_searchable(make_matrix_pontoon, connect, matrix_user):
    """XEP-0055 on the transport: the homeserver's public rooms whose name or topic holds the
    term, as a search result with one item per room."""
    make_matrix_pontoon()
    alice = await matrix_user("alice")
    bob = await matrix_user("bob")
    tag = bob.user_id[1:].split(":")[0]
    for local, name in [(f"rust-{tag}", f"Rustaceans {tag}"), (f"garden-{tag}", f"Gardeners {tag}")]:
        room = await bob.create_room(name=name, alias=local, public=True)
        status, _ = await bob.api("PUT", f"/_matrix/client/v3/directory/list/room/{quote(room)}",
                                  {"visibility": "public"})
        assert status == 200
    user = await connect("user1")
    await register_matrix(user, alice)
    ns, data = "jabber:iq:search", "jabber:x:data"
    form = await user.iq("get", MATRIX, f"<query xmlns='{ns}'/>")
    assert form.find(f"{{{ns}}}query/{{{data}}}x/{{{data}}}field[@var='q']") is not None, dump(form)
    reply = await user.iq("set", MATRIX, f"<query xmlns='{ns}'><x xmlns='{data}' type='submit'>"
                                         f"<field var='q'><value>rustaceans {tag}</value></field></x></query>",
                          timeout=30)
    items = reply.findall(f"{{{ns}}}query/{{{data}}}x/{{{data}}}item")
    jids = [i.findtext(f"{{{data}}}field[@var='jid']/{{{data}}}value") for i in items]
    assert jids == [room_jid(f"#rust-{tag}:localhost")], dump(reply)
    # An empty term is refused, with the reason.
    reply = await user.iq("set", MATRIX, f"<query xmlns='{ns}'><x xmlns='{data}' type='submit'/></query>")
    assert error_condition(reply) == "bad-request", dump(reply)
