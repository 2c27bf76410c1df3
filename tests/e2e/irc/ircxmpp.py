"""The XMPP side of the IRC tests: what a user's client does with irc.localhost (register,
join rooms, read MUC presences), on top of the parent harness (harness.client, harness.gateway)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.adhoc import command_of, command_xml  # noqa: E402
from harness.client import User  # noqa: E402
from harness.gateway import register  # noqa: E402

from harness.muc import (  # noqa: E402,F401  (the IRC tests import them from here)
    NS_DELAY, NS_MUC, NS_MUC_USER, NS_SID, chat, expect_groupchat, expect_occupant, expect_self_presence,
    expect_subject, has_delay, item, join, joined, leave, say, sid_ids, statuses, subject_of)

IRC = "irc.localhost"
NS_COMMANDS = "http://jabber.org/protocol/commands"


def room(chan: str) -> str:
    """The MUC JID of a channel on the fixed network."""
    return f"{chan}@{IRC}"


def contact(nick: str) -> str:
    return f"{nick.lower()}@{IRC}"


async def register_irc(user: User, nick: str, password: str = "", wait_online: bool = True) -> None:
    """XEP-0077 with the transport's form (nickname, optional SASL password), accepting its
    subscription; then waits for the transport to say the user is online (IRC registered)."""
    await register(user, nick, password, to=IRC)
    if wait_online:
        await user.expect_presence(IRC, "available", timeout=20)


async def in_room_with(raw, connect, chan: str, nick: str = "alice", password: str = "") -> tuple[User, str]:
    """`raw` (an IRC user) joins `chan`; user1 registers as `nick` and joins it too, seen
    joining on IRC. Returns (user1, the room's JID)."""
    await raw.join(chan)
    user = await connect("user1")
    await register_irc(user, nick, password)
    rj = room(chan)
    await joined(user, rj, nick)
    await raw.expect_cmd("JOIN", frm=nick)
    return user, rj


async def wait_on_irc(raw, nick: str, timeout: float = 15.0) -> dict:
    """Polls WHOIS from a raw IRC client until `nick` is on IRC; returns the WHOIS reply.

    (The transport's available presence can come before the IRC login is complete: it answers
    presence probes with 'available' as soon as a session exists.)"""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        who = await raw.whois(nick)
        if "311" in who:
            return who
        if loop.time() >= deadline:
            raise AssertionError(f"{nick} did not appear on IRC within {timeout} s")
        await asyncio.sleep(0.2)


async def said(user, frm: str, words: str, timeout: float = 10):
    """The next chat message from `frm` containing `words`."""
    return await user.expect(lambda s: s.kind == "message" and s.from_bare == frm and s.body is not None
                             and words in s.body, timeout, what=f"{words!r} from {frm}")


async def relogin(user, raw, nick: str, timeout: float = 15.0) -> None:
    """Offline until `nick` has left IRC (as `raw` sees by WHOIS), then online again: a new
    connection, which reads the settings."""
    user.send_presence(ptype="unavailable")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while "401" not in await raw.whois(nick):
        assert loop.time() < deadline, f"{nick} is still on IRC {timeout} s after going offline"
        await asyncio.sleep(0.2)
    user.send_presence()


async def always_online(user, on: bool, messages: str | None = None) -> str:
    """Runs the ad-hoc command 'Stay online while away' (`messages`: "keep" or "send", where
    direct messages go while away) and returns its note."""
    first = command_of(await user.iq("set", IRC, command_xml("always-online", "execute")))
    sid = first.get("sessionid")
    values = {"always_online": "1" if on else "0"}
    if messages is not None:
        values["away_messages"] = messages
    done = command_of(await user.iq("set", IRC, command_xml(
        "always-online", "complete", sid, values)))
    return "".join(n.text or "" for n in done.iter(f"{{{NS_COMMANDS}}}note"))
