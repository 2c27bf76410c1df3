"""A channel operator's kicks and bans from an XMPP client (XEP-0045 admin requests) on
ngircd: a kick is IRC's KICK with the reason, seen in the room as status 307; a ban is
`MODE +b nick!*@*` then KICK, seen as 301, and the banned user cannot come back; someone
who is not a channel operator gets `forbidden` and nothing is sent; the ban list is the
outcast list, and a ban is lifted by the JID it shows."""

from __future__ import annotations

from harness.client import dump, error_condition
from harness.muc import expect_occupant, item, joined, say, statuses
from ircxmpp import register_irc, room, wait_on_irc

ADMIN = "http://jabber.org/protocol/muc#admin"


async def admin(user, rj: str, item_xml: str):
    return await user.iq("set", rj, f"<query xmlns='{ADMIN}'>{item_xml}</query>")


async def operator_with_bob(connect, raw_irc, chan: str):
    """user1 registers as alice and joins `chan` first, so ngircd makes her its operator (a
    moderator in the room); rawbob joins after her. Returns (user1, rawbob, the room's JID)."""
    user = await connect("user1")
    await register_irc(user, "alice")
    rj = room(chan)
    await joined(user, rj, "alice")
    bob = await raw_irc("rawbob")
    await bob.join(chan)
    await expect_occupant(user, rj, "rawbob", timeout=15)
    return user, bob, rj


async def test_an_operator_kicks_and_bans_from_xmpp(irc_pontoon, connect, raw_irc):
    user, bob, rj = await operator_with_bob(connect, raw_irc, "#mods")

    reply = await admin(user, rj, "<item nick='rawbob' role='none'><reason>a break</reason></item>")
    assert reply.get("type") == "result", dump(reply)
    kick = await bob.expect_cmd("KICK", frm="alice", param0="#mods")
    assert (kick.param(1), kick.param(2)) == ("rawbob", "a break"), kick.text
    kicked = await expect_occupant(user, rj, "rawbob", ptype="unavailable", timeout=15)
    assert "307" in statuses(kicked), kicked

    await bob.join("#mods")
    await expect_occupant(user, rj, "rawbob", timeout=15)
    reply = await admin(user, rj, "<item nick='rawbob' affiliation='outcast'/>")
    assert reply.get("type") == "result", dump(reply)
    mode = await bob.expect_cmd("MODE", frm="alice", param0="#mods")
    assert (mode.param(1), mode.param(2)) == ("+b", "rawbob!*@*"), mode.text
    await bob.expect_cmd("KICK", frm="alice", param0="#mods")
    banned = await expect_occupant(user, rj, "rawbob", ptype="unavailable", timeout=15)
    assert "301" in statuses(banned) and item(banned).get("affiliation") == "outcast", banned
    # Banned: the server keeps rawbob out.
    bob.send("JOIN #mods")
    refused = await bob.expect(lambda m: m.command == "474", what="474 banned from the channel")
    assert refused.param(1) == "#mods", refused.text

    # The ban list is the outcast list: each mask an item, its JID the escaped mask.
    listed = await user.iq("get", rj, f"<query xmlns='{ADMIN}'><item affiliation='outcast'/></query>")
    assert listed.get("type") == "result", dump(listed)
    outcasts = [i.get("jid") for i in listed.iter(f"{{{ADMIN}}}item") if i.get("affiliation") == "outcast"]
    assert outcasts == ["rawbob!*\\40*@irc.localhost"], (outcasts, dump(listed))
    members = await user.iq("get", rj, f"<query xmlns='{ADMIN}'><item affiliation='member'/></query>")
    assert error_condition(members) == "feature-not-implemented", dump(members)

    # Lifting it by that JID (MODE -b): rawbob, refused before, comes back.
    reply = await admin(user, rj, f"<item jid='{outcasts[0]}' affiliation='none'/>")
    assert reply.get("type") == "result", dump(reply)
    listed = await user.iq("get", rj, f"<query xmlns='{ADMIN}'><item affiliation='outcast'/></query>")
    assert not list(listed.iter(f"{{{ADMIN}}}item")), dump(listed)
    await bob.join("#mods")
    await expect_occupant(user, rj, "rawbob", timeout=15)


async def bystander_with_bob(connect, raw_irc, chan: str):
    """rawbob joins `chan` first, so ngircd makes him its operator; user1 registers as alice
    and joins after him, without op. Returns (user1, rawbob, the room's JID)."""
    bob = await raw_irc("rawbob")
    await bob.join(chan)
    user = await connect("user1")
    await register_irc(user, "alice")
    await wait_on_irc(bob, "alice")
    rj = room(chan)
    await joined(user, rj, "alice")
    await expect_occupant(user, rj, "rawbob", timeout=15)
    return user, bob, rj


async def test_who_is_no_operator_may_not_kick(irc_pontoon, connect, raw_irc):
    user, bob, rj = await bystander_with_bob(connect, raw_irc, "#theirs")
    reply = await admin(user, rj, "<item nick='rawbob' role='none'/>")
    assert error_condition(reply) == "forbidden", dump(reply)
    await bob.expect_none(lambda m: m.command in ("KICK", "MODE") and m.nick == "alice", 1.0)


async def test_an_operator_gives_op_and_voice_as_roles(irc_pontoon, connect, raw_irc):
    user, bob, rj = await operator_with_bob(connect, raw_irc, "#roles")

    async def role_change(role: str, modes: str, shown: str) -> None:
        reply = await admin(user, rj, f"<item nick='rawbob' role='{role}'/>")
        assert reply.get("type") == "result", dump(reply)
        mode = await bob.expect(lambda m: m.command == "MODE" and m.nick == "alice" and m.param(0) == "#roles",
                                what=f"MODE for {role}")
        assert mode.param(1) == modes and mode.params[2:] == ["rawbob"] * (len(modes) // 2), mode.text
        got = await expect_occupant(user, rj, "rawbob", timeout=15)
        while item(got).get("role") != shown:
            got = await expect_occupant(user, rj, "rawbob", timeout=15)

    # Moderator is op; participant takes op away and gives voice; visitor takes voice.
    await role_change("moderator", "+o", "moderator")
    await role_change("participant", "-o+v", "participant")
    await role_change("visitor", "-v", "participant")


OWNER = "http://jabber.org/protocol/muc#owner"
NS_DATA = "jabber:x:data"


def form_values(reply) -> dict[str, list[str]]:
    assert reply.get("type") == "result", dump(reply)
    x = reply.find(f"{{{OWNER}}}query/{{{NS_DATA}}}x")
    assert x is not None, dump(reply)
    return {f.get("var"): [v.text or "" for v in f.findall(f"{{{NS_DATA}}}value")]
            for f in x.findall(f"{{{NS_DATA}}}field")}


async def test_an_operator_configures_the_room_as_channel_modes(irc_pontoon, connect, raw_irc):
    user, bob, rj = await operator_with_bob(connect, raw_irc, "#conf")

    shown = form_values(await user.iq("get", rj, f"<query xmlns='{OWNER}'/>"))
    assert shown["muc#roomconfig_moderatedroom"] == ["0"], shown
    assert shown["muc#roomconfig_passwordprotectedroom"] == ["0"], shown

    submit = (f"<query xmlns='{OWNER}'><x xmlns='{NS_DATA}' type='submit'>"
              "<field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#roomconfig</value></field>"
              "<field var='muc#roomconfig_moderatedroom'><value>1</value></field>"
              "<field var='muc#roomconfig_passwordprotectedroom'><value>1</value></field>"
              "<field var='muc#roomconfig_roomsecret'><value>sesame</value></field>"
              "</x></query>")
    reply = await user.iq("set", rj, submit)
    assert reply.get("type") == "result", dump(reply)
    mode = await bob.expect(lambda m: m.command == "MODE" and m.nick == "alice" and m.param(0) == "#conf",
                            what="the MODE of the new settings")
    assert mode.params[1:] == ["+mk", "sesame"] or mode.params[1:] == ["+m+k", "sesame"], mode.text

    shown = form_values(await user.iq("get", rj, f"<query xmlns='{OWNER}'/>"))
    assert shown["muc#roomconfig_moderatedroom"] == ["1"], shown
    assert shown["muc#roomconfig_roomsecret"] == ["sesame"], shown

    # Back: -m-k with the key, and the form says so.
    submit_off = submit.replace("<value>1</value>", "<value>0</value>").replace("<value>sesame</value>", "")
    reply = await user.iq("set", rj, submit_off)
    assert reply.get("type") == "result", dump(reply)
    mode = await bob.expect(lambda m: m.command == "MODE" and m.nick == "alice" and m.param(1).startswith("-"),
                            what="the MODE taking them back")
    assert "m" in mode.param(1) and "k" in mode.param(1), mode.text
    shown = form_values(await user.iq("get", rj, f"<query xmlns='{OWNER}'/>"))
    assert shown["muc#roomconfig_moderatedroom"] == ["0"] and shown["muc#roomconfig_passwordprotectedroom"] == ["0"]


async def test_who_is_no_operator_reads_the_room_settings_but_may_not_change_them(irc_pontoon, connect, raw_irc):
    user, bob, rj = await bystander_with_bob(connect, raw_irc, "#notmine")
    shown = form_values(await user.iq("get", rj, f"<query xmlns='{OWNER}'/>"))
    assert "muc#roomconfig_moderatedroom" in shown, shown
    reply = await user.iq("set", rj, f"<query xmlns='{OWNER}'><x xmlns='{NS_DATA}' type='submit'>"
                                     "<field var='muc#roomconfig_moderatedroom'><value>1</value></field></x></query>")
    assert error_condition(reply) == "forbidden", dump(reply)
    await bob.expect_none(lambda m: m.command == "MODE" and m.nick == "alice", 1.0)


async def room_says(user, rj: str, words: str, timeout: float = 10):
    """The room's own next message (no occupant's nick) containing `words`."""
    return await user.expect(lambda s: s.kind == "message" and s.frm == rj and s.type == "groupchat"
                             and s.body is not None and words in s.body, timeout, what=f"{words!r} from {rj}")


async def test_whois_and_mode_typed_in_the_room(irc_pontoon, connect, raw_irc):
    """/whois and /mode as an IRC user types them (issue 19, point 3), answered in the
    room; a mask that would ban everyone and a malformed change are refused in words, and
    nothing of them reaches IRC."""
    user, bob, rj = await operator_with_bob(connect, raw_irc, "#slash")
    say(user, rj, "/whois rawbob")
    who = await room_says(user, rj, "rawbob is ")
    for part in ("rawbob@127.0.0.1", "real name raw e2e client", "on irc.test", "idle "):
        assert part in who.body, (part, who.body)
    say(user, rj, "/whois nobodyhere")
    await room_says(user, rj, "No such nick: nobodyhere.")

    say(user, rj, "/mode +mt")
    mode = await bob.expect(lambda m: m.command == "MODE" and m.nick == "alice" and m.param(0) == "#slash",
                            what="alice's MODE")
    assert mode.param(1) in ("+mt", "+tm", "+m"), mode.text
    say(user, rj, "/mode")
    shown = await room_says(user, rj, "Modes of #slash: +")
    assert "m" in shown.body.split(": +", 1)[1], shown.body

    say(user, rj, "/mode +b spam!*@*")
    await bob.expect(lambda m: m.command == "MODE" and m.param(1) == "+b" and m.param(2) == "spam!*@*",
                     what="the ban")
    say(user, rj, "/mode b")
    await room_says(user, rj, "Bans in #slash: spam!*@*")

    for typed, says in [("/mode +b *!*@*", "would match everyone"), ("/mode m", "not a mode change"),
                        ("/whois", "one nick")]:
        say(user, rj, typed)
        await room_says(user, rj, says)
    await bob.expect_none(lambda m: m.command == "MODE" and "*!*@*" in m.text, 1.0)
    # Other text starting with / is said as typed.
    say(user, rj, "/shrug is just text")
    await bob.expect_privmsg("alice", "#slash", "/shrug is just text")
