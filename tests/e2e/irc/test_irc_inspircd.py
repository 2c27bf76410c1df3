"""The transport against InspIRCd 3 + Atheme (IRCv3): SASL PLAIN with the registration's
password, echo-message keeping the XMPP id, and server-time not marking live messages as
delayed. The Atheme account `seeded` / `plainpass1` is seeded in services.db (see
docs/testing-peers.md)."""

from __future__ import annotations

import pytest

from ircd import SEEDED_ACCOUNT, SEEDED_PASSWORD
from ircxmpp import (NS_DELAY, NS_MUC, always_online, expect_subject, in_room_with, IRC, contact, expect_groupchat, has_delay, joined, register, register_irc, room, say,
                     sid_ids, wait_on_irc)


@pytest.fixture
def insp_pontoon(make_irc_pontoon, inspircd):
    return make_irc_pontoon({"connect_host": "127.0.0.1", "connect_port": inspircd.port, "connect_timeout": 5})


async def test_sasl_login_with_the_right_password(insp_pontoon, inspircd, connect, raw_irc_any):
    user = await connect("user1")
    await register_irc(user, SEEDED_ACCOUNT, SEEDED_PASSWORD)
    raw = await raw_irc_any(inspircd.port, "watcher")
    who = await wait_on_irc(raw, SEEDED_ACCOUNT)
    assert "330" in who, f"{SEEDED_ACCOUNT} is not logged in to an account: {who}"
    assert who["330"].param(2) == SEEDED_ACCOUNT, who["330"]
    errors = [s for s in user.history if s.frm == IRC and s.type == "error"]
    assert not errors, errors


async def test_sasl_login_with_a_wrong_password_fails_readably(insp_pontoon, inspircd, connect, raw_irc_any):
    user = await connect("user1")
    await register(user, SEEDED_ACCOUNT, "not-the-password", to=IRC)
    err = await user.expect(lambda s: s.kind == "presence" and s.frm == IRC and s.type == "error", 30,
                            what="an error presence from the transport")
    assert err.condition is not None, err
    note = await user.expect(lambda s: s.kind == "message" and s.frm == IRC and s.body is not None
                             and "SASL" in s.body, 10, what="a message saying why the login failed")
    assert "password" in note.body.lower(), note.body
    raw = await raw_irc_any(inspircd.port, "watcher")
    assert "401" in await raw.whois(SEEDED_ACCOUNT), "the gateway stayed on IRC after a failed SASL login"


async def test_echo_message_keeps_the_xmpp_id_and_live_messages_have_no_delay(insp_pontoon, inspircd, connect,
                                                                             raw_irc_any):
    raw = await raw_irc_any(inspircd.port, "rawbob")
    user, rj = await in_room_with(raw, connect, "#echo", SEEDED_ACCOUNT, SEEDED_PASSWORD)

    say(user, rj, "echo me", mid="echo-1", origin_id="echo-origin-1")
    await raw.expect_privmsg(SEEDED_ACCOUNT, "#echo", "echo me")
    own = await expect_groupchat(user, rj, SEEDED_ACCOUNT, "echo me")
    assert own.xml.get("id") == "echo-1", own
    assert sid_ids(own)[0] == "echo-origin-1", own
    # The stanza-id is the network's msgid (InspIRCd's look like 001~<time>~<n>), so a
    # client's reference to the message names the IRC message itself.
    assert "~" in sid_ids(own)[1][0][0], own
    await user.expect_none(lambda s: s.kind == "message" and s.body == "echo me", 1.0, what="a second reflection")
    # A split message is reflected once, whole, when the server has echoed every piece.
    long_body = " ".join(f"x{i:03d}" for i in range(250))
    say(user, rj, long_body, mid="echo-2")
    own = await expect_groupchat(user, rj, SEEDED_ACCOUNT, long_body, timeout=15)
    assert own.xml.get("id") == "echo-2", own

    # Live traffic is not history: a user expects no <delay/> on what is said right now
    # (server-time stamps belong on replayed content only).
    assert not has_delay(own), f"the live reflection is marked as delayed: {own!r}"
    raw.privmsg("#echo", "live from irc")
    live = await expect_groupchat(user, rj, "rawbob", "live from irc")
    assert not has_delay(live), f"a live room message is marked as delayed: {live!r}"
    assert "~" in sid_ids(live)[1][0][0], live
    raw.privmsg(SEEDED_ACCOUNT, "live private")
    priv = await user.expect_message(contact("rawbob"), "live private")
    assert not has_delay(priv), f"a live private message is marked as delayed: {priv!r}"


async def test_reactions_replies_and_typing_from_ircv3_users(insp_pontoon, inspircd, connect, raw_irc_any):
    """What an IRCv3 client (message-tags) sends reaches the XMPP user as the XEPs say
    (issue 14): +draft/react as an XEP-0444 reaction to the message it names, +draft/reply
    as an XEP-0461 reply to it, +typing as XEP-0085 chat states, in a room and in private."""
    raw = await raw_irc_any(inspircd.port, "rawbob")
    raw.send("CAP REQ :message-tags")
    await raw.expect(lambda m: m.command == "CAP" and m.param(1) == "ACK", what="CAP ACK message-tags")
    user, rj = await in_room_with(raw, connect, "#tags", SEEDED_ACCOUNT, SEEDED_PASSWORD)
    say(user, rj, "pizza?", mid="t-1", origin_id="t-origin-1")
    line = await raw.expect_privmsg(SEEDED_ACCOUNT, "#tags", "pizza?")
    msgid = line.tags.get("msgid")
    assert msgid, line
    own = await expect_groupchat(user, rj, SEEDED_ACCOUNT, "pizza?")
    assert sid_ids(own)[1][0][0] == msgid, own

    raw.send(f"@+draft/react=🍕;+draft/reply={msgid} TAGMSG #tags")
    reaction = await user.expect(
        lambda s: s.kind == "message" and s.frm == f"{rj}/rawbob"
        and s.xml.find("{urn:xmpp:reactions:0}reactions") is not None, what="rawbob's reaction")
    reactions = reaction.xml.find("{urn:xmpp:reactions:0}reactions")
    assert reactions.get("id") == msgid and [r.text for r in reactions] == ["🍕"], reaction
    # A second one adds to the set (XEP-0444 sends the whole set).
    raw.send(f"@+draft/react=👍;+draft/reply={msgid} TAGMSG #tags")
    reaction = await user.expect(
        lambda s: s.kind == "message" and s.frm == f"{rj}/rawbob"
        and len(s.xml.findall("{urn:xmpp:reactions:0}reactions/{urn:xmpp:reactions:0}reaction")) == 2,
        what="rawbob's two reactions")

    raw.send(f"@+draft/reply={msgid} PRIVMSG #tags :yes please")
    answer = await expect_groupchat(user, rj, "rawbob", "yes please")
    reply = answer.xml.find("{urn:xmpp:reply:0}reply")
    assert reply is not None and reply.get("id") == msgid, answer
    assert reply.get("to") == f"{rj}/{SEEDED_ACCOUNT}", answer

    raw.send("@+typing=active TAGMSG #tags")
    await user.expect(
        lambda s: s.kind == "message" and s.frm == f"{rj}/rawbob" and s.type == "groupchat"
        and s.xml.find("{http://jabber.org/protocol/chatstates}composing") is not None,
        what="rawbob composing in the room")
    raw.send(f"@+typing=active TAGMSG {SEEDED_ACCOUNT}")
    await user.expect(
        lambda s: s.kind == "message" and s.frm == contact("rawbob")
        and s.xml.find("{http://jabber.org/protocol/chatstates}composing") is not None,
        what="rawbob composing in private")
    # A reaction to the user's private message names it by the id its client gave it (the
    # server's msgid for it was learnt from the echo).
    user.send_raw(f"<message to='{contact('rawbob')}' type='chat' id='pm-1'><body>psst</body></message>")
    pm = await raw.expect_privmsg(SEEDED_ACCOUNT, "rawbob", "psst")
    raw.send(f"@+draft/react=🤫;+draft/reply={pm.tags['msgid']} TAGMSG {SEEDED_ACCOUNT}")
    reaction = await user.expect(
        lambda s: s.kind == "message" and s.frm == contact("rawbob")
        and s.xml.find("{urn:xmpp:reactions:0}reactions") is not None, what="the reaction in private")
    assert reaction.xml.find("{urn:xmpp:reactions:0}reactions").get("id") == "pm-1", reaction


async def test_reactions_replies_and_typing_go_natively_to_ircv3_servers(insp_pontoon, inspircd, connect,
                                                                         raw_irc_any):
    """Where the server has message-tags, the XMPP user's reaction, reply and typing go as
    IRCv3 client tags (+draft/react, +draft/reply, +typing), not as text lines (issue 14)."""
    raw = await raw_irc_any(inspircd.port, "rawbob")
    raw.send("CAP REQ :message-tags")
    await raw.expect(lambda m: m.command == "CAP" and m.param(1) == "ACK", what="CAP ACK message-tags")
    user, rj = await in_room_with(raw, connect, "#native", SEEDED_ACCOUNT, SEEDED_PASSWORD)
    raw.privmsg("#native", "tea?")
    theirs = await expect_groupchat(user, rj, "rawbob", "tea?")
    msgid = sid_ids(theirs)[1][0][0]

    user.send_raw(f"<message to='{rj}' type='groupchat' id='n-1'>"
                  f"<reactions xmlns='urn:xmpp:reactions:0' id='{msgid}'><reaction>🍵</reaction></reactions></message>")
    tag = await raw.expect(lambda m: m.command == "TAGMSG" and m.nick == SEEDED_ACCOUNT, what="the reaction TAGMSG")
    assert tag.tags.get("+draft/react") == "🍵" and tag.tags.get("+draft/reply") == msgid, tag
    shown = await user.expect(
        lambda s: s.kind == "message" and s.frm == f"{rj}/{SEEDED_ACCOUNT}"
        and s.xml.find("{urn:xmpp:reactions:0}reactions") is not None, what="the user's reaction, reflected")
    assert shown.xml.find("{urn:xmpp:reactions:0}reactions").get("id") == msgid, shown
    # Taking it back is possible here: +draft/unreact.
    user.send_raw(f"<message to='{rj}' type='groupchat' id='n-2'>"
                  f"<reactions xmlns='urn:xmpp:reactions:0' id='{msgid}'/></message>")
    tag = await raw.expect(lambda m: m.command == "TAGMSG" and "+draft/unreact" in m.tags, what="the unreact")
    assert tag.tags["+draft/unreact"] == "🍵", tag

    quote = "> rawbob:\n> tea?\n"
    user.send_raw(f"<message to='{rj}' type='groupchat' id='n-3'><body>{quote}green, please</body>"
                  f"<reply xmlns='urn:xmpp:reply:0' to='{rj}/rawbob' id='{msgid}'/>"
                  "<fallback xmlns='urn:xmpp:fallback:0' for='urn:xmpp:reply:0'>"
                  f"<body start='0' end='{len(quote)}'/></fallback></message>")
    line = await raw.expect_privmsg(SEEDED_ACCOUNT, "#native", "rawbob: green, please")
    assert line.tags.get("+draft/reply") == msgid, line

    user.send_raw(f"<message to='{rj}' type='groupchat'>"
                  "<composing xmlns='http://jabber.org/protocol/chatstates'/></message>")
    tag = await raw.expect(lambda m: m.command == "TAGMSG" and "+typing" in m.tags, what="typing")
    assert tag.tags["+typing"] == "active", tag


@pytest.mark.timeout(120)
async def test_always_online_keeps_the_atheme_account_in_its_channel_while_away(
        insp_pontoon, inspircd, connect, raw_irc_any):
    """Always online against InspIRCd + Atheme (issue 16): the SASL-identified user stays on
    IRC, identified and in her channel, while her only client is offline; a channel line and
    a private message said meanwhile reach her when she comes back (the private one kept by
    the gateway, with its time; the channel's as the room's history)."""
    raw = await raw_irc_any(inspircd.port, "rawbob")
    user, rj = await in_room_with(raw, connect, "#away", nick=SEEDED_ACCOUNT, password=SEEDED_PASSWORD)
    note = await always_online(user, True, messages="keep")
    assert "You stay online while away" in note, note
    await user.disconnect()
    assert await raw.wait_away(SEEDED_ACCOUNT, "Away (offline; messages are kept)", timeout=15)
    who = await raw.whois(SEEDED_ACCOUNT)
    assert "#away" in who["319"].trailing, who
    assert who["330"].param(2) == SEEDED_ACCOUNT, who
    offset = insp_pontoon.log_offset()
    raw.privmsg("#away", "said while away")
    raw.privmsg(SEEDED_ACCOUNT, "a private word")
    # Kept before she comes back (the IRC server's read of the line is not the gateway's: a
    # client back first got it live, without its time, on a loaded machine).
    await insp_pontoon.wait_log_async(r"a message kept while away", 15, since=offset, what="the private word kept")

    back = await connect("user1")
    private = await back.expect(lambda s: s.kind == "message" and s.from_bare == contact("rawbob")
                                and s.body == "a private word", 20, what="the private word")
    delay = private.xml.find(f"{{{NS_DELAY}}}delay")
    assert delay is not None and delay.get("from") == IRC, private
    before = len(back.history)
    back.send_raw(f"<presence to='{rj}/{SEEDED_ACCOUNT}'><x xmlns='{NS_MUC}'><history maxstanzas='5'/></x></presence>")
    await expect_subject(back, rj)
    history = [s.body for s in back.history[before:] if s.kind == "message" and s.from_bare == rj and s.body]
    assert history == ["said while away"], history
    assert await raw.wait_away(SEEDED_ACCOUNT, None, timeout=15) is None
