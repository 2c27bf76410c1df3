"""Messages both ways between a slixmpp user and a raw IRC client (ngircd), in a channel and
privately: actions, long and multi-line bodies, formatting, encodings, notices, CTCP, and
bodies that try to smuggle IRC commands."""

from __future__ import annotations

import pytest

from harness.client import User
from ircxmpp import IRC, chat, contact, expect_groupchat, joined, register_irc, room, say
from rawirc import RawIrc

ROOM = "#room"


async def setup_pair(connect, raw_irc, nick: str = "alice") -> tuple[User, RawIrc, str]:
    raw = await raw_irc("rawbob")
    await raw.join(ROOM)
    user = await connect("user1")
    await register_irc(user, nick)
    rj = room(ROOM)
    await joined(user, rj, nick)
    await raw.expect_cmd("JOIN", frm=nick)
    return user, raw, rj


async def collect_privmsgs(raw: RawIrc, frm: str, target: str, until, timeout: float = 20.0) -> list:
    """PRIVMSGs from frm to target, in arrival order, until until(lines) is true."""
    got = []
    while not until(got):
        m = await raw.expect(lambda m: m.command == "PRIVMSG" and m.nick == frm and m.param(0).lower() == target.lower(),
                             timeout, what=f"more PRIVMSG {target} from {frm} (have {len(got)})")
        got.append(m)
    return got


async def test_me_actions_both_ways(irc_pontoon, connect, raw_irc):
    user, raw, rj = await setup_pair(connect, raw_irc)
    say(user, rj, "/me waves")
    await raw.expect_privmsg("alice", ROOM, "\x01ACTION waves\x01")
    raw.privmsg(ROOM, "\x01ACTION waves back\x01")
    await expect_groupchat(user, rj, "rawbob", "/me waves back")
    chat(user, contact("rawbob"), "/me nods")
    await raw.expect_privmsg("alice", "rawbob", "\x01ACTION nods\x01")
    raw.privmsg("alice", "\x01ACTION smiles\x01")
    await user.expect_message(contact("rawbob"), "/me smiles")


@pytest.mark.parametrize("where", ["room", "private"])
async def test_long_message_is_split_into_lines_that_fit(irc_pontoon, connect, raw_irc, where):
    user, raw, rj = await setup_pair(connect, raw_irc)
    words = [f"w{i:04d}" for i in range(400)]  # 400 x 6 - 1 = 2399 characters
    body = " ".join(words)
    assert len(body) >= 2000
    target = ROOM if where == "room" else "rawbob"
    if where == "room":
        say(user, rj, body, mid="long-1")
    else:
        chat(user, contact("rawbob"), body)
    got_words: list[str] = []

    def complete(lines) -> bool:
        got_words.clear()
        for m in lines:
            got_words.extend(m.trailing.split())
        return len(got_words) >= len(words)

    lines = await collect_privmsgs(raw, "alice", target, complete)
    assert len(lines) >= 5, f"{len(body)} characters in {len(lines)} lines"
    for m in lines:
        assert len(m.raw) <= 512, f"a line of {len(m.raw)} bytes reached the IRC client: {m.raw[:80]!r}..."
    assert got_words == words, "words lost, changed or out of order"
    if where == "room":
        own = await expect_groupchat(user, rj, "alice", body)
        assert own.xml.get("id") == "long-1"


async def test_multi_line_message_becomes_lines_in_order(irc_pontoon, connect, raw_irc):
    user, raw, rj = await setup_pair(connect, raw_irc)
    say(user, rj, "first line\nsecond line\r\nthird line\n\nfourth line")
    lines = await collect_privmsgs(raw, "alice", ROOM, lambda got: len(got) >= 4)
    assert [m.trailing for m in lines] == ["first line", "second line", "third line", "fourth line"]
    for m in lines:
        assert len(m.raw) <= 512
    chat(user, contact("rawbob"), "one\ntwo")
    lines = await collect_privmsgs(raw, "alice", "rawbob", lambda got: len(got) >= 2)
    assert [m.trailing for m in lines] == ["one", "two"]


async def test_irc_formatting_is_styled_and_latin1_decoded(irc_pontoon, connect, raw_irc):
    """Bold, italics, strikethrough and monospace read as XEP-0393 styling; colours,
    underline and reverse (which XMPP cannot say) are removed."""
    user, raw, rj = await setup_pair(connect, raw_irc)
    raw.privmsg(ROOM, "\x02bold\x02 \x0304,01red\x03 \x1ditalic\x1d \x1funder\x1f \x16rev\x16 \x11mono\x11 "
                "\x1estruck\x1e plain\x0f")
    await expect_groupchat(user, rj, "rawbob", "*bold* red _italic_ under rev `mono` ~struck~ plain")
    raw.send_bytes(b"PRIVMSG " + ROOM.encode() + b" :caf\xe9 na\xefve \xc0 bient\xf4t")
    await expect_groupchat(user, rj, "rawbob", "café naïve À bientôt")
    raw.send_bytes(b"PRIVMSG alice :\xfcber")
    await user.expect_message(contact("rawbob"), "über")
    raw.privmsg("alice", "utf-8 still works: żółw")
    await user.expect_message(contact("rawbob"), "utf-8 still works: żółw")


async def test_notices_are_shown(irc_pontoon, connect, raw_irc):
    user, raw, rj = await setup_pair(connect, raw_irc)
    raw.notice(ROOM, "channel notice")
    await user.expect(lambda s: s.kind == "message" and s.from_bare == rj and s.body is not None
                      and "channel notice" in s.body, 10, what="the channel NOTICE in the room")
    raw.notice("alice", "private notice")
    await user.expect(lambda s: s.kind == "message" and s.from_bare in (contact("rawbob"), IRC)
                      and s.body is not None and "private notice" in s.body, 10, what="the private NOTICE")


async def test_ctcp_version_is_answered_and_not_shown(irc_pontoon, connect, raw_irc):
    user, raw, rj = await setup_pair(connect, raw_irc)
    raw.privmsg("alice", "\x01VERSION\x01")
    reply = await raw.expect(lambda m: m.command == "NOTICE" and m.nick == "alice" and m.param(0) == "rawbob"
                             and m.trailing.startswith("\x01VERSION "), what="the CTCP VERSION reply")
    assert reply.trailing.endswith("\x01") and len(reply.trailing) > len("\x01VERSION \x01"), reply
    await user.expect_none(lambda s: s.kind == "message" and s.body is not None and "VERSION" in s.body, 1.0,
                           what="the CTCP request shown to the user")


@pytest.mark.parametrize("body", ["hello\r\nQUIT :x", "hello\nJOIN #evil", "hi\rPART #room :bye"])
async def test_bodies_cannot_inject_irc_commands(irc_pontoon, connect, raw_irc, body):
    user, raw, rj = await setup_pair(connect, raw_irc)
    evil = await raw_irc("evilwatch")
    await evil.join("#evil")
    say(user, rj, body, mid="inj")
    chat(user, contact("rawbob"), body)
    # Every piece arrives as text (PRIVMSGs), never as a command of its own.
    room_lines = await collect_privmsgs(raw, "alice", ROOM, lambda got: len(got) >= 2)
    priv_lines = await collect_privmsgs(raw, "alice", "rawbob", lambda got: len(got) >= 2)
    parts = [p for p in body.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    assert [m.trailing for m in room_lines] == parts
    assert [m.trailing for m in priv_lines] == parts
    await raw.expect_none(lambda m: m.nick == "alice" and m.command in ("QUIT", "PART", "JOIN"), 1.0,
                          what="a command injected by the message body")
    assert "alice" in await raw.names(ROOM)
    assert "alice" not in await evil.names("#evil")
    assert not any(m.nick == "alice" for m in evil.history), evil.history
    # Still connected and working.
    say(user, rj, "still here")
    await raw.expect_privmsg("alice", ROOM, "still here")


@pytest.mark.parametrize("local", [r"\20lead", r"lead\20", r"\5cx", r"rawbob%127.0.0.1"])
async def test_a_jid_that_does_not_round_trip_is_refused(irc_pontoon, connect, raw_irc, local):
    """One legacy id, one JID: a localpart the transport would have to change to read (an
    escaped space stripped, `\\5c` where no escape is needed, a server part this fixed
    transport drops) is `jid-malformed`, and nothing reaches IRC; the canonical JID works,
    in any case."""
    user, raw, rj = await setup_pair(connect, raw_irc)
    bad = f"{local}@{IRC}"
    user.send_message(bad, "who gets this?")
    err = await user.expect_message_error(bad, timeout=10)
    assert err.condition == "jid-malformed", err
    await raw.expect_none(lambda m: m.command == "PRIVMSG" and m.trailing == "who gets this?", 1.0,
                          what="the message on IRC")
    chat(user, f"RawBob@{IRC}", "the canonical JID, any case")
    await raw.expect_privmsg("alice", "rawbob", "the canonical JID, any case")
