"""A person in an IRC channel with a real terminal client (profanity, poezio; in tmux),
through Prosody and the IRC transport in component mode, against ngircd (issue 13): what the
screen shows, step by step (terminal_flows.py)."""

from __future__ import annotations

from ircxmpp import room
from terminal_flows import poezio_in_a_room, profanity_in_a_room


async def test_profanity_talks_in_an_irc_channel(irc_pontoon, prosody, raw_irc, profanity):
    bob = await raw_irc("rawbob")
    await bob.join("#room")
    prof = await profanity()
    await prof.connect("user1@localhost", prosody.accounts["user1"], prosody.c2s_port)
    await profanity_in_a_room(prof, bob, "#room", room("#room"), "alice")


async def test_poezio_talks_in_an_irc_channel(irc_pontoon, prosody, raw_irc, poezio):
    bob = await raw_irc("rawbob")
    await bob.join("#room")
    client = await poezio("user2@localhost", prosody.accounts["user2"], prosody.c2s_port)
    await poezio_in_a_room(client, bob, "#room", room("#room"), "carl")
