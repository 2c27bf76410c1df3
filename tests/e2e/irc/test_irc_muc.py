"""IRC channels as MUC rooms (XEP-0045) through the transport, against ngircd, with a raw IRC
client in the channel."""

from __future__ import annotations

import sqlite3

from harness.client import Stanza
from ircxmpp import (in_room_with, expect_groupchat, sid_ids, expect_occupant, expect_self_presence, expect_subject, item, join, joined,
                     leave, register_irc, room, say, statuses, subject_of)


def is_body_message(s: Stanza) -> bool:
    return s.kind == "message" and s.body is not None


def react(user, rj: str, mid: str, target: str, emoji: str) -> None:
    """`user` reacts with `emoji` to `target` in the room `rj` (XEP-0444, message id `mid`)."""
    user.send_raw(f"<message to='{rj}' type='groupchat' id='{mid}'>"
                  f"<reactions xmlns='urn:xmpp:reactions:0' id='{target}'><reaction>{emoji}</reaction></reactions>"
                  "</message>")


async def retract_refused(user, rj: str, mid: str, target: str, what: str) -> str:
    """`user` retracts `target` in the room `rj` (XEP-0424, message id `mid`); returns the
    condition of the error the retraction gets."""
    user.send_raw(f"<message to='{rj}' type='groupchat' id='{mid}'>"
                  f"<retract xmlns='urn:xmpp:message-retract:1' id='{target}'/></message>")
    err = await user.expect(lambda s: s.kind == "message" and s.type == "error" and s.xml.get("id") == mid,
                            what=what)
    return err.condition


async def test_join_shows_names_self_presence_and_topic_without_history(irc_pontoon, connect, raw_irc):
    raw = await raw_irc("rawbob")
    names = await raw.join("#room")
    assert "@rawbob" in names, names  # the first joiner is a channel operator on ngircd
    raw.send("TOPIC #room :the topic")
    await raw.expect_cmd("TOPIC", frm="rawbob")
    raw.privmsg("#room", "said before alice came")

    user = await connect("user1")
    await register_irc(user, "alice")
    rj = room("#room")
    join(user, rj, "alice")
    bob = await expect_occupant(user, rj, "rawbob")
    assert item(bob).get("role") == "moderator", bob
    me = await expect_self_presence(user, rj, "alice")
    assert "110" in statuses(me) and "210" not in statuses(me), me
    assert item(me).get("role") == "participant", me
    subj = await expect_subject(user, rj)
    assert subject_of(subj) == "the topic", subj
    # The self-presence comes after the other occupants (XEP-0045 7.2.3), the subject last.
    hist = [s for s in user.history if s.from_bare == rj]
    order = [s.frm.split("/", 1)[-1] if s.kind == "presence" else "subject" for s in hist]
    assert order.index("rawbob") < order.index("alice") < order.index("subject"), order
    await raw.expect_cmd("JOIN", frm="alice")
    # Nothing said before the join is replayed, and nothing is made up.
    await user.expect_none(lambda s: is_body_message(s) and s.from_bare == rj, 1.5, what="room history")

    raw.send("TOPIC #room :a new topic")
    changed = await expect_subject(user, rj, subject="a new topic")
    assert changed.frm == f"{rj}/rawbob", changed


async def test_messages_reflect_with_the_same_id(irc_pontoon, connect, raw_irc):
    """The reflection keeps the client's id and XEP-0359 origin-id (clients match their own
    messages by them), and every room message carries a stanza-id by the room."""
    raw = await raw_irc("rawbob")
    await raw.join("#room")
    user = await connect("user1")
    await register_irc(user, "alice")
    rj = room("#room")
    await joined(user, rj, "alice")
    say(user, rj, "hello irc", mid="msg-1", origin_id="origin-1")
    await raw.expect_privmsg("alice", "#room", "hello irc")
    own = await expect_groupchat(user, rj, "alice", "hello irc")
    assert own.xml.get("id") == "msg-1", own
    origin, stamps = sid_ids(own)
    assert origin == "origin-1", own
    assert len(stamps) == 1 and stamps[0][1] == rj and stamps[0][0], own
    await user.expect_none(lambda s: is_body_message(s) and s.body == "hello irc", 1.0, what="a second reflection")
    raw.privmsg("#room", "hello xmpp")
    got = await expect_groupchat(user, rj, "rawbob", "hello xmpp")
    assert got.type == "groupchat"
    origin, stamps = sid_ids(got)
    assert origin is None and len(stamps) == 1 and stamps[0][1] == rj, got
    assert stamps[0][0] != sid_ids(own)[1][0][0], "each message has its own stanza-id"


async def test_leaving_parts_the_channel(irc_pontoon, connect, raw_irc):
    raw = await raw_irc("rawbob")
    user, rj = await in_room_with(raw, connect, "#room", "alice")
    leave(user, rj, "alice")
    await expect_self_presence(user, rj, "alice", ptype="unavailable")
    await raw.expect_cmd("PART", frm="alice", param0="#room")


async def test_irc_side_join_part_quit_kick_nick_and_op(irc_pontoon, connect, raw_irc):
    op = await raw_irc("rawop")
    await op.join("#room")
    user = await connect("user1")
    await register_irc(user, "alice")
    rj = room("#room")
    await joined(user, rj, "alice")

    carol = await raw_irc("carol")
    await carol.join("#room")
    p = await expect_occupant(user, rj, "carol")
    assert item(p).get("role") == "participant", p

    carol.send("NICK carol2")
    gone = await expect_occupant(user, rj, "carol", "unavailable")
    assert "303" in statuses(gone), gone
    assert item(gone).get("nick") == "carol2", gone
    await expect_occupant(user, rj, "carol2")

    op.send("MODE #room +o carol2")
    await expect_occupant(user, rj, "carol2", pred=lambda s: item(s).get("role") == "moderator")

    op.send("KICK #room carol2 :behave")
    kicked = await expect_occupant(user, rj, "carol2", "unavailable")
    assert "307" in statuses(kicked), kicked
    assert "behave" in (item(kicked).get("reason", "") + repr(kicked)), kicked

    dave = await raw_irc("dave")
    await dave.join("#room")
    await expect_occupant(user, rj, "dave")
    dave.send("PART #room :see you")
    left = await expect_occupant(user, rj, "dave", "unavailable")
    assert not ({"303", "307", "110"} & statuses(left)), left

    erin = await raw_irc("erin")
    await erin.join("#room")
    await expect_occupant(user, rj, "erin")
    await erin.close("gone home")
    quit_ = await expect_occupant(user, rj, "erin", "unavailable")
    assert not ({"303", "307", "110"} & statuses(quit_)), quit_


async def test_kicked_user_gets_307_self_presence(irc_pontoon, connect, raw_irc):
    op = await raw_irc("rawop")
    user, rj = await in_room_with(op, connect, "#room", "alice")
    op.send("KICK #room alice :out")
    me = await expect_self_presence(user, rj, "alice", ptype="unavailable")
    assert {"110", "307"} <= statuses(me), me


async def test_nick_change_from_xmpp(irc_pontoon, connect, raw_irc):
    raw = await raw_irc("rawbob")
    await raw.join("#room")
    user = await connect("user1")
    await register_irc(user, "alice")
    rj = room("#room")
    await joined(user, rj, "alice")
    join(user, rj, "alicia")  # XEP-0045 7.6: presence to the new nick
    await raw.expect(lambda m: m.command == "NICK" and m.nick == "alice" and m.trailing == "alicia",
                     what="NICK alice -> alicia")
    old = await expect_occupant(user, rj, "alice", "unavailable")
    assert {"303", "110"} <= statuses(old) and item(old).get("nick") == "alicia", old
    await expect_self_presence(user, rj, "alicia")


async def error_joining(user, chan: str, nick: str, password: str | None = None) -> Stanza:
    rj = room(chan)
    join(user, rj, nick, password)
    return await user.expect(lambda s: s.kind == "presence" and s.from_bare == rj, 10,
                             what=f"presence from {rj}")


async def test_join_errors_are_muc_errors(irc_pontoon, connect, raw_irc):
    op = await raw_irc("rawop")
    for chan in ("#banned", "#full", "#invite", "#keyed"):
        await op.join(chan)
    op.send("MODE #banned +b alice!*@*")
    op.send("MODE #full +l 1")
    op.send("MODE #invite +i")
    op.send("MODE #keyed +k sesame")
    for chan in ("#banned", "#full", "#invite", "#keyed"):
        await op.expect_cmd("MODE", frm="rawop", param0=chan)
    user = await connect("user1")
    await register_irc(user, "alice")

    cases = [("#banned", "forbidden"), ("#full", "service-unavailable"),
             ("#invite", "registration-required"), ("#keyed", "not-authorized")]
    for chan, condition in cases:
        p = await error_joining(user, chan, "alice")
        assert p.type == "error" and p.condition == condition, f"{chan}: expected {condition}, got {p!r}"
    # The right key lets her in.
    join(user, room("#keyed"), "alice", password="sesame")
    await expect_self_presence(user, room("#keyed"), "alice")
    await op.expect_cmd("JOIN", frm="alice", param0="#keyed")


async def test_two_resources_share_one_irc_connection(irc_pontoon, connect, raw_irc):
    raw = await raw_irc("rawbob")
    await raw.join("#room")
    a = await connect("user1", resource="laptop")
    await register_irc(a, "alice")
    b = await connect("user1", resource="phone")
    rj = room("#room")
    await joined(a, rj, "alice")
    await joined(b, rj, "alice")
    await raw.expect_cmd("JOIN", frm="alice")
    await raw.expect_none(lambda m: m.command in ("JOIN", "NICK") and m.nick.startswith("alice"),
                          1.0, what="a second JOIN of the gateway user")
    names = await raw.names("#room")
    assert sorted(names) == ["alice", "rawbob"], names
    who = await raw.whois("alice_")
    assert "401" in who, "a second IRC connection (alice_) exists"
    raw.privmsg("#room", "to both")
    await expect_groupchat(a, rj, "rawbob", "to both")
    await expect_groupchat(b, rj, "rawbob", "to both")
    say(b, rj, "from the phone", mid="p-1")
    await raw.expect_privmsg("alice", "#room", "from the phone")
    mine = await expect_groupchat(b, rj, "alice", "from the phone")
    assert mine.xml.get("id") == "p-1", mine
    await expect_groupchat(a, rj, "alice", "from the phone")
    # One resource leaving keeps the other in the channel.
    leave(a, rj, "alice")
    await expect_self_presence(a, rj, "alice", ptype="unavailable")
    await raw.expect_none(lambda m: m.command in ("PART", "QUIT") and m.nick == "alice", 1.0,
                          what="alice leaving while the phone is still in the room")
    raw.privmsg("#room", "still there?")
    await expect_groupchat(b, rj, "rawbob", "still there?")


async def test_a_correction_is_a_marked_line_on_irc_and_a_correction_in_the_client(irc_pontoon, connect, raw_irc):
    """XEP-0308 on a network without edits (issue 14): the IRC channel reads a marked new line,
    the user's client gets the reflection as a correction of the original (<replace/>), and
    a correction of a message that is not known is refused with item-not-found."""
    raw = await raw_irc("rawbob")
    user, rj = await in_room_with(raw, connect, "#room", "alice")
    say(user, rj, "helo", mid="c-1", origin_id="c-origin-1")
    await raw.expect_privmsg("alice", "#room", "helo")
    await expect_groupchat(user, rj, "alice", "helo")
    user.send_raw(f"<message to='{rj}' type='groupchat' id='c-2'><body>hello</body>"
                  "<replace xmlns='urn:xmpp:message-correct:0' id='c-1'/>"
                  "<origin-id xmlns='urn:xmpp:sid:0' id='c-origin-2'/></message>")
    await raw.expect_privmsg("alice", "#room", "(correction) hello")
    fixed = await expect_groupchat(user, rj, "alice", "hello")
    replace = fixed.xml.find("{urn:xmpp:message-correct:0}replace")
    assert replace is not None and replace.get("id") == "c-1", fixed
    user.send_raw(f"<message to='{rj}' type='groupchat' id='c-3'><body>nope</body>"
                  "<replace xmlns='urn:xmpp:message-correct:0' id='never-sent'/></message>")
    err = await user.expect(lambda s: s.kind == "message" and s.type == "error" and s.xml.get("id") == "c-3",
                            what="the refused correction")
    assert err.condition == "item-not-found", err
    await raw.expect_none(lambda m: m.command == "PRIVMSG" and "nope" in m.trailing, 1.0, what="the refused line")


async def test_reactions_replies_and_retractions_on_a_network_without_them(irc_pontoon, connect, raw_irc):
    """XEP-0444, XEP-0461 and XEP-0424 on plain IRC (ngircd, issue 14): the channel reads a
    reaction as an action and a reply addressed to its author; the user's client gets its
    reaction back as a reaction; a retraction is refused (feature-not-implemented) and
    nothing reaches IRC; someone else's message cannot be retracted (forbidden)."""
    raw = await raw_irc("rawbob")
    user, rj = await in_room_with(raw, connect, "#room", "alice")
    raw.privmsg("#room", "lunch?")
    theirs = await expect_groupchat(user, rj, "rawbob", "lunch?")
    _, stamps = sid_ids(theirs)
    sid = stamps[0][0]
    assert sid, theirs
    # XEP-0421: who said it, as an opaque id the client can attribute reactions by.
    occupant = theirs.xml.find("{urn:xmpp:occupant-id:0}occupant-id")
    assert occupant is not None and occupant.get("id") and "rawbob" not in occupant.get("id"), theirs

    react(user, rj, "r-1", sid, "👍")
    await raw.expect_privmsg("alice", "#room", "\x01ACTION reacted 👍 to rawbob's message\x01")
    shown = await user.expect(
        lambda s: s.kind == "message" and s.frm == f"{rj}/alice"
        and s.xml.find("{urn:xmpp:reactions:0}reactions") is not None,
        what="the user's reaction, reflected as a reaction")
    reactions = shown.xml.find("{urn:xmpp:reactions:0}reactions")
    assert reactions.get("id") == sid and [r.text for r in reactions] == ["👍"], shown
    assert shown.body is None, shown

    quote = "> rawbob:\n> lunch?\n"
    user.send_raw(f"<message to='{rj}' type='groupchat' id='p-1'><body>{quote}yes!</body>"
                  f"<reply xmlns='urn:xmpp:reply:0' to='{rj}/rawbob' id='{sid}'/>"
                  "<fallback xmlns='urn:xmpp:fallback:0' for='urn:xmpp:reply:0'>"
                  f"<body start='0' end='{len(quote)}'/></fallback>"
                  "<origin-id xmlns='urn:xmpp:sid:0' id='p-origin-1'/></message>")
    await raw.expect_privmsg("alice", "#room", "rawbob: yes!")

    user.send_raw(f"<message to='{rj}' type='groupchat' id='x-1'>"
                  "<retract xmlns='urn:xmpp:message-retract:1' id='p-origin-1'/>"
                  "<fallback xmlns='urn:xmpp:fallback:0' for='urn:xmpp:message-retract:1'/>"
                  "<body>This person attempted to retract a previous message.</body></message>")
    err = await user.expect(lambda s: s.kind == "message" and s.type == "error" and s.xml.get("id") == "x-1",
                            what="the refused retraction")
    assert err.condition == "feature-not-implemented", err
    assert await retract_refused(user, rj, "x-2", sid, "the forbidden retraction") == "forbidden"
    await raw.expect_none(lambda m: m.command == "PRIVMSG" and "retract" in m.trailing, 1.0,
                          what="a retraction on IRC")


async def test_users_of_the_gateway_in_one_channel_share_its_messages_ids(irc_pontoon, connect, raw_irc):
    """Someone else's line in a channel reaches the gateway once per user in it; its ids are
    recorded once for the room (not once per user), and every user's verbs find it there. The
    author's own record still says it is theirs: the author may retract their message (here:
    feature-not-implemented, IRC has no retraction), another user may not (forbidden)."""
    raw = await raw_irc("rawcarol")
    alice, rj = await in_room_with(raw, connect, "#shared", "alice")
    bob = await connect("user2")
    await register_irc(bob, "bob")
    await joined(bob, rj, "bob")
    await raw.expect_cmd("JOIN", frm="bob")

    raw.privmsg("#shared", "lunch?")
    seen = [await expect_groupchat(u, rj, "rawcarol", "lunch?") for u in (alice, bob)]
    sids = [sid_ids(m)[1][0][0] for m in seen]
    assert sids[0] and sids[0] == sids[1], sids
    for u, nick, mid in ((alice, "alice", "ra-1"), (bob, "bob", "rb-1")):
        react(u, rj, mid, sids[0], "👍")
        await raw.expect_privmsg(nick, "#shared", "\x01ACTION reacted 👍 to rawcarol's message\x01")

    # alice's own line: bob's copy comes through his own IRC connection.
    say(alice, rj, "hi all", mid="a-1", origin_id="a-origin-1")
    await raw.expect_privmsg("alice", "#shared", "hi all")
    mine = await expect_groupchat(alice, rj, "alice", "hi all")
    theirs = await expect_groupchat(bob, rj, "alice", "hi all")
    sid = sid_ids(theirs)[1][0][0]
    assert sid == sid_ids(mine)[1][0][0], (mine, theirs)
    react(bob, rj, "rb-2", sid, "🎉")
    await raw.expect_privmsg("bob", "#shared", "\x01ACTION reacted 🎉 to alice's message\x01")
    assert await retract_refused(bob, rj, "xb-1", sid, "bob's retraction of alice's message") == "forbidden"
    assert await retract_refused(alice, rj, "xa-1", sid, "alice's own retraction") == "feature-not-implemented"

    # The store holds the room's record of rawcarol's line, and no user's.
    db = sqlite3.connect(irc_pontoon.data_dir / "pontoon.db", timeout=10)
    try:
        rows = db.execute("SELECT account, own FROM message_ids WHERE xmpp_id = ?", (sids[0],)).fetchall()
    finally:
        db.close()
    assert rows == [("", 0)], rows


async def test_a_message_the_channel_refuses_fails_where_it_was_written(irc_pontoon, connect, raw_irc):
    """A moderated channel refuses alice's line (ERR_CANNOTSENDTOCHAN): her client gets an
    error for that very message (its id), `forbidden`, from the room, not a loose notice."""
    raw = await raw_irc("rawbob")
    await raw.join("#quiet")
    raw.send("MODE #quiet +m")
    await raw.expect_cmd("MODE", frm="rawbob")
    user = await connect("user1")
    await register_irc(user, "alice")
    rj = room("#quiet")
    await joined(user, rj, "alice")
    await raw.expect_cmd("JOIN", frm="alice")
    say(user, rj, "can you hear me?", mid="q-1", origin_id="q-origin-1")
    err = await user.expect(lambda s: s.kind == "message" and s.type == "error" and s.xml.get("id") == "q-1",
                            what="the error for the refused message")
    assert err.frm == rj and err.condition == "forbidden", err
    await raw.expect_none(lambda m: m.command == "PRIVMSG" and "hear me" in m.trailing, 1.0,
                          what="the refused line on IRC")


async def test_files_cross_as_links_and_come_back_as_files(irc_pontoon, connect, raw_irc):
    """XEP-0066 / XEP-0447 on IRC (issue 14): a file the XMPP user shares reaches IRC as its
    link (also when the client sent no body); a lone link to a file from IRC reaches the XMPP
    client as a file (an out-of-band URL with the body the URL, so it shows inline); a URL
    that is not http(s) is refused with not-acceptable."""
    raw = await raw_irc("rawbob")
    user, rj = await in_room_with(raw, connect, "#room", "alice")
    url = "https://files.example.org/up/cat.png"
    user.send_raw(f"<message to='{rj}' type='groupchat' id='f-1'><body>{url}</body>"
                  f"<x xmlns='jabber:x:oob'><url>{url}</url></x></message>")
    await raw.expect_privmsg("alice", "#room", url)
    user.send_raw(f"<message to='{rj}' type='groupchat' id='f-2'>"
                  "<file-sharing xmlns='urn:xmpp:sfs:0'><file xmlns='urn:xmpp:file:metadata:0'>"
                  "<name>notes.pdf</name><media-type>application/pdf</media-type><size>2048</size></file>"
                  "<sources><url-data xmlns='http://jabber.org/protocol/url-data' "
                  "target='https://files.example.org/up/notes.pdf'/></sources></file-sharing></message>")
    await raw.expect_privmsg("alice", "#room", "https://files.example.org/up/notes.pdf")

    raw.privmsg("#room", "https://img.example.net/dog.jpg")
    got = await expect_groupchat(user, rj, "rawbob", "https://img.example.net/dog.jpg")
    oob = got.xml.find("{jabber:x:oob}x/{jabber:x:oob}url")
    assert oob is not None and oob.text == "https://img.example.net/dog.jpg", got

    user.send_raw(f"<message to='{rj}' type='groupchat' id='f-3'><body>x</body>"
                  "<x xmlns='jabber:x:oob'><url>file:///etc/passwd</url></x></message>")
    err = await user.expect(lambda s: s.kind == "message" and s.type == "error" and s.xml.get("id") == "f-3",
                            what="the refused file")
    assert err.condition == "not-acceptable", err


async def test_invitations_both_ways(irc_pontoon, connect, raw_irc):
    """The user invites an IRC user into the channel (XEP-0045 mediated invitation to the
    room): they get an IRC INVITE. An IRC user invites the user: a XEP-0249 invitation
    from their contact JID, naming the room."""
    raw = await raw_irc("rawbob")
    await raw.join("#room")
    carol = await raw_irc("carol")
    user = await connect("user1")
    await register_irc(user, "alice")
    rj = room("#room")
    await joined(user, rj, "alice")
    await raw.expect_cmd("JOIN", frm="alice")

    user.send_raw(f"<message to='{rj}'><x xmlns='http://jabber.org/protocol/muc#user'>"
                  f"<invite to='carol@irc.localhost'><reason>come</reason></invite></x></message>")
    got = await carol.expect_cmd("INVITE", frm="alice", param0="carol")
    assert got.param(1) == "#room", got

    await carol.join("#den")
    carol.send("INVITE alice #den")

    def invitation(s: Stanza) -> bool:
        return (s.kind == "message" and s.from_bare == "carol@irc.localhost"
                and s.xml.find("{jabber:x:conference}x") is not None)
    inv = await user.expect(invitation, 15, what="carol's invitation")
    x = inv.xml.find("{jabber:x:conference}x")
    assert x.get("jid") == room("#den"), inv
    assert inv.body and "invites you" in inv.body, inv
