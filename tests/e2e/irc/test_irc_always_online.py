"""Always online against Prosody and ngircd (issue 16): a user who chose it stays on IRC and
in their channel while their only client is offline; a channel line and a private message
said meanwhile reach them when they come back (the private one kept by Prosody's offline
storage, as operators have it by default; the channel's as the room's history)."""

from __future__ import annotations

import pytest

from harness.muc import NS_DELAY, NS_MUC
from ircxmpp import IRC, always_online, contact, expect_subject, in_room_with

ROOM = "#room"


async def away_keeping_messages(raw_irc, connect):
    """alice in ROOM with rawbob (the raw IRC client, returned), "keep them here" chosen, and
    her only client gone: she is away on IRC, and the gateway keeps her private messages."""
    raw = await raw_irc("rawbob")
    user, _ = await in_room_with(raw, connect, ROOM)
    note = await always_online(user, True, messages="keep")
    assert "You stay online while away" in note, note
    await user.disconnect()
    assert await raw.wait_away("alice", "Away (offline; messages are kept)", timeout=15)
    return raw


@pytest.mark.timeout(120)
async def test_away_on_irc_and_back_with_what_was_said(prosody, irc_pontoon, connect, raw_irc):
    prosody.modules_disabled.remove("offline")
    await irc_pontoon.link_back_after_restart(prosody, "the link after enabling offline storage")
    raw = await raw_irc("rawbob")
    user, rj = await in_room_with(raw, connect, ROOM)
    note = await always_online(user, True)
    assert "You stay online while away" in note, note

    # Her only client goes: she stays in the channel, away.
    await user.disconnect()
    away = await raw.wait_away("alice", "Away (offline; messages are kept)", timeout=15)
    assert away == "Away (offline; messages are kept)", away
    who = await raw.whois("alice")
    assert ROOM in who["319"].trailing, who
    raw.privmsg(ROOM, "said while alice was away")
    raw.privmsg("alice", "a private word")
    await raw.expect_none(lambda m: m.command in ("QUIT", "PART") and m.nick == "alice", 1.0,
                          what="alice leaving IRC")

    # She comes back: the private word from her server's offline storage, the channel line
    # as the room's history when her client joins again; IRC sees her back, not away.
    back = await connect("user1")
    private = await back.expect(lambda s: s.kind == "message" and s.from_bare == contact("rawbob")
                                and s.body == "a private word", 20, what="the private word")
    assert private.xml.find(f"{{{NS_DELAY}}}delay") is not None, private
    before = len(back.history)
    back.send_raw(f"<presence to='{rj}/alice'><x xmlns='{NS_MUC}'><history maxstanzas='5'/></x></presence>")
    await expect_subject(back, rj)
    history = [s.body for s in back.history[before:] if s.kind == "message" and s.from_bare == rj and s.body]
    assert history == ["said while alice was away"], history
    assert await raw.wait_away("alice", None, timeout=15) is None

    # Turned off: her client going logs her out of IRC, as before.
    note = await always_online(back, False)
    assert "logged out when your last client goes offline" in note, note
    await back.disconnect()
    await raw.expect(lambda m: m.command == "QUIT" and m.nick == "alice", 15, what="alice quits IRC")


@pytest.mark.timeout(120)
async def test_private_messages_kept_by_the_gateway_until_the_user_is_back(prosody, irc_pontoon, connect, raw_irc):
    """The user's choice "keep them here": Prosody keeps no offline messages in this test (its
    `offline` module is off, as in the other tests), so the private word can only reach her
    from Pontoon, when her client is back, with the time it was said."""
    raw = await away_keeping_messages(raw_irc, connect)
    offset = irc_pontoon.log_offset()
    raw.privmsg("alice", "kept at the gateway")
    # Kept before she comes back (the IRC server's read of the line is not the gateway's: a
    # client back first would get it live, without its time).
    await irc_pontoon.wait_log_async(r"a message kept while away", 10, since=offset, what="the private word kept")
    back = await connect("user1")
    private = await back.expect(lambda s: s.kind == "message" and s.from_bare == contact("rawbob")
                                and s.body == "kept at the gateway", 20, what="the private word")
    delay = private.xml.find(f"{{{NS_DELAY}}}delay")
    assert delay is not None and delay.get("from") == IRC, private
    await irc_pontoon.wait_log_async(r"messages kept while away handed over.*messages=1", 10, since=offset,
                                     what="the kept message handed over")


@pytest.mark.timeout(120)
async def test_a_kept_private_message_with_a_character_xml_cannot_carry(prosody, irc_pontoon, connect, raw_irc):
    """U+FFFE is valid UTF-8 in an IRC line and not a character of XML 1.0: a private message
    carrying it, said while the user is away, is kept as U+FFFD, and the one after it too.
    (Kept with minidom's serializer before, it panicked the user's session task.)"""
    raw = await away_keeping_messages(raw_irc, connect)
    offset = irc_pontoon.log_offset()
    raw.privmsg("alice", "odd \ufffe char")
    raw.privmsg("alice", "and the next one")
    await irc_pontoon.wait_log_async(r"a message kept while away[\s\S]*a message kept while away", 10,
                                     since=offset, what="both private words kept")
    back = await connect("user1")
    got = []
    for _ in range(2):
        m = await back.expect(lambda s: s.kind == "message" and s.from_bare == contact("rawbob") and s.body,
                              20, what="a kept private word")
        got.append(m.body)
    assert got == ["odd \ufffd char", "and the next one"], got
