"""A hostile client that has logged in (server mode, against ngircd), issue 21: XEP-0198
abuse, malformed and oversized addresses, and CR/LF/NUL in every field that reaches IRC.
Each case checks the exact answer, that nothing was injected into IRC, and that another
user's messages keep flowing.
"""

from __future__ import annotations

import asyncio

from flows import ROOM, SERVER, assert_flows, irc_options, victim_in_room
from harness.rawxmpp import RawXmpp
from server_fixtures import IRC

SM = "urn:xmpp:sm:3"
STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"


def sm_failures(c: RawXmpp) -> list[str]:
    """The conditions of the XEP-0198 <failed/> answers received, in order."""
    out = []
    for s in c.stanzas:
        if s.tag == f"{{{SM}}}failed":
            out += [ch.tag.split("}", 1)[1] for ch in s if ch.tag.startswith(f"{{{STANZAS}}}")]
    return out


def error_of(c: RawXmpp, sid: str) -> str | None:
    for s in c.stanzas:
        if s.get("id") == sid and s.get("type") == "error":
            err = s.find("{jabber:client}error")
            if err is not None:
                for ch in err:
                    if ch.tag.startswith(f"{{{STANZAS}}}") and not ch.tag.endswith("}text"):
                        return ch.tag.split("}", 1)[1]
    return None


async def test_stream_management_abuse(make_server, sconnect, ngircd, raw_irc):
    server = make_server(irc_options=irc_options(ngircd), server=SERVER)
    bob, carol = await victim_in_room(server, sconnect, raw_irc)
    c = await RawXmpp.login(server.c2s_port, "rep", IRC, "pw")
    # Enabled twice: the second is refused, the stream goes on.
    c.write(f"<enable xmlns='{SM}' resume='true'/><enable xmlns='{SM}'/>")
    await c.wait_for(lambda c: sm_failures(c), 10, "the second <enable/> refused")
    assert sm_failures(c) == ["unexpected-request"], sm_failures(c)
    enabled = [s for s in c.stanzas if s.tag == f"{{{SM}}}enabled"]
    assert len(enabled) == 1 and enabled[0].get("id"), enabled
    c.write("<iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>")
    await c.wait_for(lambda c: c.replies("p1"), 10, "the ping answered")
    # An acknowledgement that goes backwards ends the stream, and says so.
    c.write(f"<a xmlns='{SM}' h='1'/><a xmlns='{SM}' h='0'/>")
    await c.wait_for(lambda c: c.closed.is_set(), 10, "the stream closed")
    assert c.stream_error == "undefined-condition", c.stream_error
    assert "backwards" in c.stream_error_text, c.stream_error_text
    # Resuming that session with a forged id fails with item-not-found, on a fresh stream.
    forged = await RawXmpp.login(server.c2s_port, "rep", IRC, "pw", bind=False)
    forged.write(f"<resume xmlns='{SM}' previd='{enabled[0].get('id')}x' h='0'/>")
    await forged.wait_for(lambda c: sm_failures(c), 10, "the forged resumption refused")
    assert sm_failures(forged) == ["item-not-found"], sm_failures(forged)
    await forged.close()
    await assert_flows(server, bob, carol, "after")


async def test_request_flood_is_answered_at_the_rate(make_server, sconnect, ngircd, raw_irc):
    """5,000 <r/> in one write: answered at the stanza rate (the burst at once, then 50 a
    second), never all at once, and the other user is not held up meanwhile."""
    server = make_server(irc_options=irc_options(ngircd), server=SERVER)
    bob, carol = await victim_in_room(server, sconnect, raw_irc)
    c = await RawXmpp.login(server.c2s_port, "rep", IRC, "pw")
    c.write(f"<enable xmlns='{SM}'/>" + f"<r xmlns='{SM}'/>" * 5000)
    await assert_flows(server, bob, carol, "r flood")
    await c.wait_for(lambda c: c.counts.get("a", 0) >= 200, 10, "the burst of <r/> answered")
    await asyncio.sleep(1)
    assert c.counts.get("a", 0) < 1000, f"{c.counts.get('a')} answers: the flood was not slowed"
    assert not c.closed.is_set(), c.stream_error
    await c.close()
    await assert_flows(server, bob, carol, "after")


async def test_more_acknowledged_than_sent_ends_the_stream(make_server, sconnect, ngircd, raw_irc):
    server = make_server(irc_options=irc_options(ngircd), server=SERVER)
    c = await RawXmpp.login(server.c2s_port, "rep", IRC, "pw")
    c.write(f"<enable xmlns='{SM}'/><a xmlns='{SM}' h='4000000000'/>")
    await c.wait_for(lambda c: c.closed.is_set(), 10, "the stream closed")
    assert c.stream_error == "undefined-condition", c.stream_error
    assert "4000000000" in c.stream_error_text, c.stream_error_text


async def test_malformed_and_oversized_addresses(make_server, sconnect, ngircd, raw_irc):
    server = make_server(irc_options=irc_options(ngircd), server=SERVER)
    bob, carol = await victim_in_room(server, sconnect, raw_irc)
    c = await RawXmpp.login(server.c2s_port, "rep", IRC, "pw")
    cases = {
        # Two @: not a JID at all.
        "two-at": ("a@b@" + IRC, "jid-malformed"),
        # A localpart of 3,000 bytes: over RFC 7622's 1,023.
        "long": ("x" * 3000 + "@" + IRC, "jid-malformed"),
        # An escaped backslash where none is needed: not how the transport writes the nick.
        "needless-escape": ("\\5c\\5c@" + IRC, "jid-malformed"),
        # An escaped space leading a nick: the transport would have to strip it.
        "leading-space": ("\\20lead@" + IRC, "jid-malformed"),
        # A room that is no IRC channel name.
        "room-with-space": ("#a\\20b@" + IRC, "jid-malformed"),
    }
    for sid, (to, _) in cases.items():
        c.write(f"<message type='chat' id='{sid}' to='{to}'><body>who gets this {sid}?</body></message>")
    await c.wait_for(lambda c: all(error_of(c, sid) for sid in cases), 15, "an error for each address")
    got = {sid: error_of(c, sid) for sid in cases}
    assert got == {sid: want for sid, (_, want) in cases.items()}, got
    # Nothing reached IRC.
    await carol.expect_none(lambda m: m.command == "PRIVMSG" and "who gets this" in m.trailing, 1.0,
                            what="a message to a malformed address on IRC")
    await assert_flows(server, bob, carol, "after")


async def test_no_line_injection_into_irc(make_server, sconnect, ngircd, raw_irc):
    """CR, LF and NUL in a body, a subject, a nick, a room name and a leave reason never
    start a line of their own on IRC; a control character XML forbids is a stream error."""
    server = make_server(irc_options=irc_options(ngircd), server=SERVER)
    bob, carol = await victim_in_room(server, sconnect, raw_irc)
    c = await RawXmpp.login(server.c2s_port, "rep", IRC, "pw")
    # Available first, as a real client is (see the note of issue 21 on clients without).
    c.write("<presence/>")
    c.write(f"<presence to='{ROOM}@{IRC}/rep'><x xmlns='http://jabber.org/protocol/muc'/></presence>")
    await carol.expect_cmd("JOIN", frm="rep")
    # In the room once its own presence came back, as a client waits for it.
    await c.wait_for(lambda c: any(s.tag == "{jabber:client}presence" and s.get("from") == f"{ROOM}@{IRC}/rep"
                                   for s in c.stanzas), 10, "the room's own presence")
    # A body with CR/LF: each line its own PRIVMSG, none a command.
    c.write(f"<message type='groupchat' to='{ROOM}@{IRC}' id='b1'><body>one&#13;&#10;QUIT :injected&#10;"
            "two</body></message>")
    await carol.expect_privmsg("rep", ROOM, "QUIT :injected")
    await carol.expect_privmsg("rep", ROOM, "two")
    # A subject with CR/LF: one TOPIC, flattened.
    c.write(f"<message type='groupchat' to='{ROOM}@{IRC}' id='s1'><subject>new&#13;&#10;KICK {ROOM} "
            "rawcarol</subject></message>")
    topic = await carol.expect_cmd("TOPIC", frm="rep")
    assert "\n" not in topic.trailing and "\r" not in topic.trailing, topic
    assert topic.trailing.startswith("new") and "KICK" in topic.trailing, topic
    # A nick with CR/LF or NUL (a MUC nick change) is refused as an address.
    c.write(f"<presence to='{ROOM}@{IRC}/bad&#10;NICK x' id='n1'/>")
    # A room name with a newline in its JID.
    c.write(f"<presence to='#a&#10;JOIN #b@{IRC}/rep' id='j1'><x xmlns='http://jabber.org/protocol/muc'/></presence>")
    await c.wait_for(lambda c: error_of(c, "n1") and error_of(c, "j1"), 15, "the bad nick and room refused")
    assert error_of(c, "n1") in ("jid-malformed", "not-acceptable"), error_of(c, "n1")
    assert error_of(c, "j1") == "jid-malformed", error_of(c, "j1")
    # Leaving with a reason over two lines: one PART, the reason flattened.
    c.write(f"<presence type='unavailable' to='{ROOM}@{IRC}/rep'><status>bye&#13;&#10;PRIVMSG {ROOM} "
            ":spoofed</status></presence>")
    part = await carol.expect_cmd("PART", frm="rep")
    assert "\n" not in part.trailing, part
    # Nothing of it started a line of its own: no QUIT, KICK, NICK, second JOIN or spoofed text.
    await carol.expect_none(lambda m: m.command in ("QUIT", "KICK", "NICK") or
                            (m.command == "PRIVMSG" and m.trailing == "spoofed"), 1.0,
                            what="an injected command")
    await assert_flows(server, bob, carol, "after")
    # A character XML 1.0 forbids (\x01, CTCP's marker) cannot even be sent: the stream ends.
    c.write(f"<message type='groupchat' to='{ROOM}@{IRC}'><body>&#1;VERSION&#1;</body></message>")
    await c.wait_for(lambda c: c.closed.is_set(), 10, "the stream closed")
    assert c.stream_error == "not-well-formed", c.stream_error


async def test_a_client_without_presence_stays_logged_in(make_server, sconnect, ngircd, raw_irc):
    """Server mode: the legacy session lasts as long as the login. A client that never sends
    presence (a bot), joins a room and leaves it, or goes unavailable, keeps its stream and
    its IRC connection; only closing its last stream logs it out of IRC."""
    server = make_server(irc_options=irc_options(ngircd), server=SERVER)
    bob, carol = await victim_in_room(server, sconnect, raw_irc)
    c = await RawXmpp.login(server.c2s_port, "rep", IRC, "pw")
    c.write(f"<presence to='{ROOM}@{IRC}/rep'><x xmlns='http://jabber.org/protocol/muc'/></presence>")
    await carol.expect_cmd("JOIN", frm="rep")
    c.write(f"<presence type='unavailable' to='{ROOM}@{IRC}/rep'/>")
    await carol.expect_cmd("PART", frm="rep")
    c.write("<presence/><presence type='unavailable'/>")
    c.write("<iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>")
    await c.wait_for(lambda c: c.replies("p1") or c.closed.is_set(), 10, "the ping answered")
    assert not c.closed.is_set(), (c.stream_error, c.stream_error_text)
    who = await carol.whois("rep")
    assert "311" in who, "rep is no longer on IRC"
    await c.close()
    await server.wait_log_async(r"logging out of the legacy network", 10)
